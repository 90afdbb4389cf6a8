"""HTTP: an aiohttp server on loopback driven by wrk from a second process.

A batch starts an aiohttp application on 127.0.0.1 and runs
`wrk -t1 -cCONNECTIONS -dDURATION` against it as a child process (one
thread, so the two take a core each).  One operation = one request, timed
from wrk's Requests/sec.  Before wrk starts, WARMUP requests made here with
aiohttp's client warm the server up (instead of a discarded wrk run) and
check the body they get; afterwards, the batch checks wrk saw no errors or
non-2xx replies and the server answered at least as many requests as wrk
counted.  --quick uses a shorter DURATION.
"""
import benchlib
import asyncio
import re
import shutil

aiohttp = benchlib.import_optional("aiohttp")
from aiohttp import web

CONNECTIONS = 32
WARMUP = 200
DURATION, QUICK_DURATION = "3s", "1s"
BODY = "Hello from asyncio\n" * 4


async def start_server(served):
    async def hello(request):
        served[0] += 1
        return web.Response(text=BODY)

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def run_wrk(url, duration):
    wrk = shutil.which("wrk")
    benchlib.check(wrk is not None, "wrk is not installed")
    proc = await asyncio.create_subprocess_exec(
        wrk, "-t1", f"-c{CONNECTIONS}", f"-d{duration}", url,
        stdout=asyncio.subprocess.PIPE)
    out = (await proc.communicate())[0].decode()
    benchlib.check(proc.returncode == 0, f"wrk exited {proc.returncode}")
    benchlib.check("Non-2xx" not in out and "Socket errors" not in out,
                   "wrk saw errors: " + out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    per_second = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    return requests, per_second


def make_coro(args):
    duration = QUICK_DURATION if args.quick else DURATION

    async def batch():
        served = [0]
        runner, port = await start_server(served)
        url = f"http://127.0.0.1:{port}/"
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(WARMUP):
                    async with session.get(url) as response:
                        benchlib.check(await response.text() == BODY, "body")
            requests, per_second = await run_wrk(url, duration)
        finally:
            await runner.cleanup()
        benchlib.check(requests > 0 and served[0] >= requests,
                       f"server answered {served[0]}, wrk counted {requests}")
        return requests, round(requests * 1e9 / per_second)
    return batch


if __name__ == "__main__":
    benchlib.run_async("http_aiohttp", make_coro, clock="wall", warmup=0)
