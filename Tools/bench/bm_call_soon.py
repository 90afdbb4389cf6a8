"""call_soon storm: schedule many callbacks, then drain the ready queue.

A batch calls loop.call_soon(callback, i) N times and loop.call_soon(loop.stop),
then loop.run_forever() runs them all.  One operation = one callback,
scheduled and run.  Checks the callbacks ran once each, in order.
"""
import benchlib

N = 20000


def make_batch(loop, args):
    seen = []

    def batch():
        seen.clear()
        append = seen.append
        for i in range(N):
            loop.call_soon(append, i)
        loop.call_soon(loop.stop)
        loop.run_forever()
        benchlib.check(seen == list(range(N)), "callbacks out of order")
        return N
    return batch


if __name__ == "__main__":
    benchlib.run("call_soon_storm", make_batch)
