"""Connection churn over loopback: connect, one request and its reply, close.

Server and clients run in the measured process, in one loop, as in the echo
workloads: the figure is everything the loop does for a connection on both
ends (listening socket ready, accept, server transport and protocol;
connect, client transport and protocol; both closes), in process CPU time,
the kernel's share included.  A batch starts a Protocol server on 127.0.0.1
and has CLIENTS clients each open CONNECTIONS connections one after the
other (so up to CLIENTS are in flight).  On each connection the client
sends a REQUEST-byte request; the server answers with a REPLY-byte reply
made from it and closes its end, as an HTTP/1.0 server would (its socket,
not the client's, is left in TIME_WAIT, so a long run does not use up the
client's ephemeral ports); the client checks the reply when the connection
is lost.  One operation = one connection.  The batch also checks the server
accepted, answered and lost exactly as many connections as the clients
completed.
"""
import benchlib
import asyncio

CLIENTS = 10
CONNECTIONS = 20
REQUEST = 100
REPLY = 200


def request(n, i):
    return (b"GET %d:%d;" % (n, i)).ljust(REQUEST, b".")


def reply(req):
    return (b"OK " + req[4:]).ljust(REPLY, b"!")


class Server(asyncio.Protocol):
    def __init__(self, stats):
        self.stats, self.buffer = stats, b""

    def connection_made(self, transport):
        self.transport = transport
        self.stats["accepted"] += 1

    def data_received(self, data):
        self.buffer += data
        if len(self.buffer) >= REQUEST:
            self.transport.write(reply(self.buffer))
            self.transport.close()
            self.stats["answered"] += 1

    def connection_lost(self, exc):
        self.stats["lost"] += 1


class Client(asyncio.Protocol):
    def __init__(self, req, done):
        self.req, self.done, self.buffer = req, done, b""

    def connection_made(self, transport):
        transport.write(self.req)

    def data_received(self, data):
        self.buffer += data

    def connection_lost(self, exc):
        if self.done.done():
            return
        if exc is not None:
            self.done.set_exception(benchlib.CheckFailed(f"connection lost: {exc}"))
        elif self.buffer != reply(self.req):
            self.done.set_exception(benchlib.CheckFailed(f"reply {self.buffer[:40]!r}"))
        else:
            self.done.set_result(None)


async def client(port, n):
    loop = asyncio.get_running_loop()
    for i in range(CONNECTIONS):
        done = loop.create_future()
        await loop.create_connection(lambda: Client(request(n, i), done),
                                     "127.0.0.1", port)
        await done
    return CONNECTIONS


def make_coro(args):
    async def batch():
        stats = {"accepted": 0, "answered": 0, "lost": 0}
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Server(stats), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            done = await asyncio.gather(*[client(port, n) for n in range(CLIENTS)])
        finally:
            server.close()
            await server.wait_closed()
        total = CLIENTS * CONNECTIONS
        benchlib.check(sum(done) == total, "connections completed")
        # The server's connection_lost may come a loop turn after the
        # client's; the listening socket is closed, so nothing else comes.
        for _ in range(10):
            if stats["lost"] == total:
                break
            await asyncio.sleep(0)
        benchlib.check(stats == {"accepted": total, "answered": total, "lost": total},
                       f"server saw {stats}, clients completed {total}")
        return total
    return batch


if __name__ == "__main__":
    benchlib.run_async("tcp_churn", make_coro)
