"""TLS echo over loopback with protocols (create_server/create_connection ssl=).

The shape and sizes of bm_tcp_protocols.py: CLIENTS clients each do ROUNDS
round trips of a SIZE-byte message with an echo server in the same loop,
here over TLS (the loop's SSL protocol on top of its socket transport, or
uvloop's own).  The server's certificate is self-signed (EC P-256, made once
by the `openssl` command, Debian package openssl, and cached in CERT_DIR,
build/bench/tls/);
the clients verify it and the host name.

The connections and their handshakes are made once, before the warm-up
batch, and kept: a handshake costs as much CPU as a few hundred round trips
and is OpenSSL's work, the same for every alternative.  A batch is ROUNDS
round trips on each of the CLIENTS connections; one operation = one round
trip.  Checks every echoed message byte for byte, and that the transports
really speak TLS.
"""
import benchlib
import asyncio
import os
import shutil
import ssl
import subprocess
import tempfile
from bm_tcp_protocols import Client, Echo
from bm_tcp_streams import CLIENTS, ROUNDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# BENCH_CERT_DIR is for tests (run.py passes no BENCH_* variable of its own).
CERT_DIR = (os.environ.get("BENCH_CERT_DIR")
            or os.path.join(ROOT, "build", "bench", "tls"))
HOST = "localhost"
OPENSSL_REQ = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
               "-nodes", "-days", "3650", "-subj", f"/CN={HOST}",
               "-addext", f"subjectAltName=DNS:{HOST},IP:127.0.0.1",
               "-keyout", "key.pem", "-out", "cert.pem"]


def certificate():
    """(cert.pem, key.pem) in CERT_DIR, made by openssl if not there yet."""
    cert, key = (os.path.join(CERT_DIR, name) for name in ("cert.pem", "key.pem"))
    if os.path.exists(cert) and os.path.exists(key):
        return cert, key
    openssl = shutil.which("openssl")
    benchlib.check(openssl is not None,
                   "no openssl command to make a certificate (Debian package openssl)")
    parent = os.path.dirname(CERT_DIR)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="tls.", dir=parent)
    try:
        proc = subprocess.run([openssl, *OPENSSL_REQ], cwd=tmp,
                              capture_output=True, text=True)
        benchlib.check(proc.returncode == 0,
                       f"openssl req failed: {proc.stderr.strip()[-200:]}")
        try:
            os.rename(tmp, CERT_DIR)  # atomic: another run may have made it
        except OSError:
            if not os.path.exists(cert):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cert, key


def contexts():
    cert, key = certificate()
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=cert)
    return server, client


class KeptClient(Client):
    """A Client whose connection outlives a batch: begin() starts the next."""

    def __init__(self, n, connected):
        super().__init__(n, None)
        self.connected = connected
        self.closed = connected.get_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.connected.set_result(self)

    def finish(self):
        self.done.set_result(self.round)

    def connection_lost(self, exc):
        self.closed.set_result(exc)
        if self.done is not None:
            super().connection_lost(exc)


def make_coro(args):
    server_context, client_context = contexts()
    state = {}

    async def connect():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_context)
        port = server.sockets[0].getsockname()[1]
        clients = []
        for n in range(CLIENTS):
            connected = loop.create_future()
            await loop.create_connection(lambda: KeptClient(n, connected),
                                         "127.0.0.1", port, ssl=client_context,
                                         server_hostname=HOST)
            clients.append(await connected)
        for c in clients:
            benchlib.check(c.transport.get_extra_info("ssl_object") is not None,
                           "the client transport has no TLS")
        state.update(server=server, clients=clients)

    async def batch():
        if not state:
            await connect()
        loop = asyncio.get_running_loop()
        dones = []
        for c in state["clients"]:
            benchlib.check(not c.closed.done(), "a kept connection was lost")
            c.begin(loop.create_future())
            c.send()
            dones.append(c.done)
        done = await asyncio.gather(*dones)
        benchlib.check(sum(done) == CLIENTS * ROUNDS, "round trips")
        return CLIENTS * ROUNDS

    async def close():
        if not state:
            return
        for c in state["clients"]:
            c.done = None  # its connection_lost is expected now
            c.transport.close()
        state["server"].close()
        await state["server"].wait_closed()
        # Let the TLS shutdowns finish before the loop is closed.
        await asyncio.wait([c.closed for c in state["clients"]], timeout=10)

    return benchlib.Batch(batch, close=close)


if __name__ == "__main__":
    benchlib.run_async("tls_echo", make_coro)
