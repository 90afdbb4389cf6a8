"""Bulk transfer over loopback: 1 MiB writes to a slow reader.

A batch starts a Protocol server (the reader) on 127.0.0.1 and connects a
client (the writer) in the same loop.  The writer calls transport.write()
with a 1 MiB bytes object MIB_PER_BATCH times, and after each write that
pauses it (pause_writing) waits for resume_writing, as StreamWriter.drain()
does.  The reader is slow because its socket's receive buffer is small
(SO_RCVBUF = RCVBUF on the listening socket, inherited by the accepted one;
the writer's SO_SNDBUF is as small): a write can hand the kernel only a
fraction of a MiB, the transport buffers the rest, and flow control engages
on every write.  One operation = one MiB written and received, so ns/op is
ns per MiB; the figure is process CPU time (both ends and the kernel's
copies), not wall time.

The reader compares every chunk it gets with the payload at that position
of the stream (the payload repeats 0..250, a prime period, so a shift shows
too; about 7 µs per 128 KiB chunk, the same for every alternative) and,
when the writer has closed, the total; the writer checks it was paused at
least once per MiB.

Peak memory: before the warm-up the process's peak-RSS mark is reset
(benchlib.reset_peak_rss); after the last batch the JSON line's "metrics"
give peak_rss_growth_kib, the peak RSS over all batches minus the RSS at
the reset (the writer's buffering of a MiB it could not send at once shows
there), and peak_rss_kib, the peak itself.
"""
import benchlib
import asyncio
import socket

MIB = 1024 * 1024
MIB_PER_BATCH = 16
RCVBUF = SNDBUF = 64 * 1024
PERIOD = 251
PAYLOAD = bytes(range(PERIOD)) * (MIB // PERIOD) + bytes(range(MIB % PERIOD))
TWICE = PAYLOAD * 2


def expected(offset, size):
    """The bytes of the stream at [offset, offset + size)."""
    start = offset % MIB
    if start + size <= len(TWICE):
        return TWICE[start:start + size]
    return b"".join(expected(offset + done, min(MIB, size - done))
                    for done in range(0, size, MIB))


class Reader(asyncio.Protocol):
    def __init__(self, total, done):
        self.total, self.done, self.received = total, done, 0

    def data_received(self, data):
        end = self.received + len(data)
        if end > self.total or data != expected(self.received, len(data)):
            self.fail(f"bad chunk at {self.received} (+{len(data)})")
            return
        self.received = end

    def eof_received(self):
        if self.received == self.total and not self.done.done():
            self.done.set_result(self.received)

    def connection_lost(self, exc):
        self.fail(f"the reader got {self.received} bytes of {self.total}: {exc}")

    def fail(self, why):
        if not self.done.done():
            self.done.set_exception(benchlib.CheckFailed(why))


class Writer(asyncio.Protocol):
    def __init__(self):
        self.pauses, self.resumed, self.lost = 0, None, None

    def connection_made(self, transport):
        self.transport = transport
        self.lost = asyncio.get_running_loop().create_future()

    def pause_writing(self):
        self.pauses += 1
        self.resumed = asyncio.get_running_loop().create_future()

    def resume_writing(self):
        self.resumed.set_result(None)
        self.resumed = None

    def connection_lost(self, exc):
        self.lost.set_result(exc)
        if self.resumed is not None:
            self.resumed.set_exception(
                benchlib.CheckFailed(f"writer lost the connection: {exc}"))

    async def write(self, data):
        self.transport.write(data)
        if self.resumed is not None:
            await self.resumed


def listening_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.bind(("127.0.0.1", 0))
    return sock


def make_coro(args):
    total = MIB_PER_BATCH * MIB

    async def batch():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        server = await loop.create_server(lambda: Reader(total, done),
                                          sock=listening_socket())
        port = server.sockets[0].getsockname()[1]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        transport, writer = await loop.create_connection(Writer, sock=sock)
        try:
            for _ in range(MIB_PER_BATCH):
                await writer.write(PAYLOAD)
        finally:
            transport.close()  # after what is buffered: the reader's EOF
        try:
            received = await done
        finally:
            server.close()
            await server.wait_closed()
        await writer.lost
        benchlib.check(received == total, f"received {received} of {total}")
        benchlib.check(writer.pauses >= MIB_PER_BATCH,
                       f"flow control engaged {writer.pauses} times for "
                       f"{MIB_PER_BATCH} writes")
        return MIB_PER_BATCH

    base = benchlib.reset_peak_rss()

    def metrics():
        peak = benchlib.peak_rss()
        out = {"peak_rss_kib": peak}
        if base is not None:
            out["peak_rss_growth_kib"] = peak - base
        return out
    return benchlib.Batch(batch, metrics=metrics)


if __name__ == "__main__":
    benchlib.run_async("tcp_bulk", make_coro)
