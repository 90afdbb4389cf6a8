"""TCP echo over loopback with protocols (loop.create_server/create_connection).

Same shape and sizes as bm_tcp_streams.py: a batch starts an echo server
protocol on 127.0.0.1 and connects CLIENTS client protocols, each doing
ROUNDS round trips of a SIZE-byte message; a client sends the next message
once the whole previous one came back.  One operation = one round trip.
Checks every echoed message byte for byte.
"""
import benchlib
import asyncio
from bm_tcp_streams import ROUNDS, SIZE, echo_batch, message


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class Client(asyncio.Protocol):
    """Sends ROUNDS messages, each once the previous one came back whole."""

    def __init__(self, n, done):
        self.n, self.buffer = n, b""
        self.begin(done)

    def begin(self, done):
        self.done, self.round = done, 0

    def connection_made(self, transport):
        self.transport = transport
        self.send()

    def send(self):
        self.transport.write(message(self.n, self.round))

    def data_received(self, data):
        self.buffer += data
        if len(self.buffer) < SIZE:
            return
        if self.buffer != message(self.n, self.round):
            self.done.set_exception(benchlib.CheckFailed("echo"))
            self.transport.close()
            return
        self.buffer = b""
        self.round += 1
        if self.round < ROUNDS:
            self.send()
        else:
            self.finish()

    def finish(self):
        self.transport.close()
        self.done.set_result(self.round)

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_exception(benchlib.CheckFailed(f"connection lost: {exc}"))


async def client(port, n):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    await loop.create_connection(lambda: Client(n, done), "127.0.0.1", port)
    return await done


def start_server():
    return asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)


if __name__ == "__main__":
    benchlib.run_async("tcp_echo_protocols", echo_batch(start_server, client))
