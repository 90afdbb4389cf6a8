"""TCP echo over loopback with BufferedProtocol on both ends.

The shape and sizes of bm_tcp_protocols.py (CLIENTS clients, ROUNDS round
trips of a SIZE-byte message each, server and clients in one loop), but the
transports read into the protocols' own buffers: get_buffer() hands out a
slice of a preallocated bytearray, buffer_updated(n) says how much arrived.
The server writes back a copy of what it got (a bytearray slice: a transport
may keep what it is given, and the buffer is reused); a client sends its
next message once its SIZE-byte buffer is full.  One operation = one round
trip.  Checks every echoed message byte for byte.
"""
import benchlib
import asyncio
from bm_tcp_streams import ROUNDS, SIZE, echo_batch, message

SERVER_BUFFER = 64 * 1024


class BufferedEcho(asyncio.BufferedProtocol):
    def __init__(self):
        self.buffer = bytearray(SERVER_BUFFER)

    def connection_made(self, transport):
        self.transport = transport

    def get_buffer(self, sizehint):
        return self.buffer

    def buffer_updated(self, nbytes):
        self.transport.write(self.buffer[:nbytes])


class BufferedClient(asyncio.BufferedProtocol):
    def __init__(self, n, done):
        self.n, self.done, self.round = n, done, 0
        self.buffer = bytearray(SIZE)
        self.view = memoryview(self.buffer)
        self.filled = 0

    def connection_made(self, transport):
        self.transport = transport
        transport.write(message(self.n, 0))

    def get_buffer(self, sizehint):
        # Never more than the rest of one message: the next one is only
        # sent once this one is checked.
        return self.view[self.filled:]

    def buffer_updated(self, nbytes):
        self.filled += nbytes
        if self.filled < SIZE:
            return
        if self.buffer != message(self.n, self.round):
            self.done.set_exception(benchlib.CheckFailed("echo"))
            self.transport.close()
            return
        self.filled = 0
        self.round += 1
        if self.round < ROUNDS:
            self.transport.write(message(self.n, self.round))
        else:
            self.transport.close()
            self.done.set_result(self.round)

    def eof_received(self):
        if not self.done.done():
            self.done.set_exception(benchlib.CheckFailed("server closed early"))

    def connection_lost(self, exc):
        self.view.release()
        if not self.done.done():
            self.done.set_exception(benchlib.CheckFailed(f"connection lost: {exc}"))


async def client(port, n):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    await loop.create_connection(lambda: BufferedClient(n, done), "127.0.0.1", port)
    return await done


def start_server():
    return asyncio.get_running_loop().create_server(BufferedEcho, "127.0.0.1", 0)


if __name__ == "__main__":
    benchlib.run_async("tcp_echo_buffered", echo_batch(start_server, client))
