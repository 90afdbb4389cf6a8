"""TCP echo over loopback with streams (asyncio.start_server/open_connection).

A batch starts an echo server on 127.0.0.1, opens CLIENTS connections and
has each do ROUNDS round trips of a SIZE-byte message (write, drain,
readexactly), then closes everything.  One operation = one round trip.
Checks every echoed message byte for byte.  bm_tcp_protocols.py shares the
batch and the sizes.
"""
import benchlib
import asyncio

CLIENTS = 10
ROUNDS = 200
SIZE = 100


def message(n, i):
    return (b"%d:%d;" % (n, i)).ljust(SIZE, b".")


def echo_batch(start_server, client):
    """make_coro for an echo workload: server up, clients run, server down."""
    def make_coro(args):
        async def batch():
            server = await start_server()
            port = server.sockets[0].getsockname()[1]
            done = await asyncio.gather(*[client(port, n) for n in range(CLIENTS)])
            server.close()
            await server.wait_closed()
            benchlib.check(sum(done) == CLIENTS * ROUNDS, "round trips")
            return CLIENTS * ROUNDS
        return batch
    return make_coro


async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def client(port, n):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(ROUNDS):
        writer.write(message(n, i))
        await writer.drain()
        benchlib.check(await reader.readexactly(SIZE) == message(n, i), "echo")
    writer.close()
    await writer.wait_closed()
    return ROUNDS


def start_server():
    return asyncio.start_server(echo, "127.0.0.1", 0)


if __name__ == "__main__":
    benchlib.run_async("tcp_echo_streams", echo_batch(start_server, client))
