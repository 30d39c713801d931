"""The local servers the benchmarks fetch from, started and stopped by them.

* nginx, with a config generated in a temp dir (one worker, keep-alive, no
  access log), serving ``/small.json`` (200 bytes) and ``/large.bin``
  (64 KiB), when the binary exists; with trustme installed, also over HTTPS
  (TLS 1.3, a certificate from a CA made for the run): on one port with
  keep-alive, on another closing every connection after one response and
  resuming no TLS session, so each request costs a full handshake;
* a built-in asyncio server in a child process (``python servers.py PORT``)
  serving the same two files and ``/delay/<ms>``: the small body after ms.

``with servers() as urls:`` gives ``urls["static"]``, ``urls["delay"]`` and
``urls["static_kind"]`` (the nginx version or "built-in"), and with nginx and
trustme ``urls["https"]``, ``urls["https_cold"]`` and ``urls["ca"]`` (the CA's
PEM file, for the clients to verify the server with).
"""

from __future__ import annotations

# Discussion: compare.py imports this module into worker children before
# grequests runs gevent's patch_all(), so nothing here imports asyncio (which
# imports ssl) at the top level.
import contextlib
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

SMALL_BODY = (
    b'{"id": 12345, "name": "gfetch benchmark", "ok": true, "tags": ["a", "b", "c"], "pad": "' + b"x" * 200
)[:198] + b'"}'
LARGE_BODY = b"x" * 65536


def raise_fd_limit() -> None:
    """Lift the soft open-files limit to the hard one: 5,000 sockets need it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve_builtin(port: int) -> None:
    """``python servers.py PORT``: the built-in server, until stdin closes.

    HTTP/1.1 keep-alive, GET only, no pipelining guarantees: ``/small.json``,
    ``/large.bin``, and ``/delay/<ms>`` (the small body after ms). Timers, not
    tasks, hold delayed answers, so 5,000 waiting requests cost little.
    """
    import asyncio
    import threading

    raise_fd_limit()

    def response(body: bytes, kind: str) -> bytes:
        head = (
            f"HTTP/1.1 200 OK\r\nServer: gfetch-bench\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    small, large = response(SMALL_BODY, "application/json"), response(LARGE_BODY, "application/octet-stream")
    missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport, self.buffer = transport, b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
                close = b"connection: close" in head.lower()
                path = head.split(b" ", 2)[1].split(b"?")[0]
                if path.startswith(b"/delay/"):
                    loop.call_later(int(path[7:]) / 1000, self.reply, small, close)
                else:
                    self.reply({b"/small.json": small, b"/large.bin": large}.get(path, missing), close)

        def reply(self, payload: bytes, close: bool) -> None:
            if not self.transport.is_closing():
                self.transport.write(payload)
                if close:
                    self.transport.close()

    async def main() -> None:
        stop = asyncio.Event()
        threading.Thread(
            target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
        ).start()
        server = await loop.create_server(Protocol, "127.0.0.1", port, backlog=8192)
        async with server:
            await stop.wait()

    loop = asyncio.new_event_loop()
    loop.run_until_complete(main())


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # type: ignore[no-any-return]


@contextlib.contextmanager
def _server_process(cmd: list[str], port: int, name: str) -> Iterator[str]:
    """Start ``cmd``, wait until ``port`` accepts, yield its base URL; stop it after."""
    import socket

    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited at start: {proc.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within 10 s")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stdin.close()  # type: ignore[union-attr]  # the built-in server exits on EOF
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def builtin_server() -> contextlib.AbstractContextManager[str]:
    """The built-in static + delay server, in a child process."""
    port = _free_port()
    cmd = [sys.executable, os.path.abspath(__file__), str(port)]
    return _server_process(cmd, port, "built-in server")


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    types {{ application/json json; application/octet-stream bin; }}
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
    }}
{tls}}}
"""
# Discussion: the cold server makes every client pay a full handshake per request
# the same way: nginx answers "Connection: close" and closes (keepalive_timeout 0),
# so no client can reuse a connection, however its requests interleave. With no
# session cache and no tickets, no client resumes a TLS session on either server
# (libcurl would: it caches sessions by default), so each connection costs every
# client the same handshake. The backlog takes 1,000 connects at once.
NGINX_TLS = """\
    ssl_certificate {root}/server.pem;
    ssl_certificate_key {root}/server.pem;
    ssl_protocols TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    server {{
        listen 127.0.0.1:{https_port} ssl backlog=4096;
        root {root}/www;
    }}
    server {{
        listen 127.0.0.1:{cold_port} ssl backlog=4096;
        root {root}/www;
        keepalive_timeout 0;
    }}
"""


@contextlib.contextmanager
def nginx_server(binary: str) -> Iterator[dict[str, str]]:
    """nginx with a generated config in a temp dir, serving the two static files.

    Yields ``{"static": url}``, plus ``https``, ``https_cold`` and ``ca`` when
    trustme is installed (see the module docstring).
    """
    import importlib.util
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gfetch-bench-nginx-") as root:
        os.makedirs(f"{root}/www")
        for name, body in [("small.json", SMALL_BODY), ("large.bin", LARGE_BODY)]:
            with open(f"{root}/www/{name}", "wb") as f:
                f.write(body)
        for path in (root, f"{root}/www"):
            os.chmod(path, 0o755)  # nginx's workers run as nobody when started as root
        port, https_port, cold_port = _free_port(), _free_port(), _free_port()
        urls = {}
        tls = ""
        if importlib.util.find_spec("trustme") is not None:
            urls = {
                "https": f"https://127.0.0.1:{https_port}",
                "https_cold": f"https://127.0.0.1:{cold_port}",
                "ca": _throwaway_ca(root),
            }
            tls = NGINX_TLS.format(root=root, https_port=https_port, cold_port=cold_port)
        with open(f"{root}/nginx.conf", "w") as f:
            f.write(NGINX_CONF.format(root=root, port=port, tls=tls))
        with _server_process([binary, "-p", root, "-c", f"{root}/nginx.conf"], port, "nginx") as url:
            yield {"static": url, **urls}


def _throwaway_ca(root: str) -> str:
    """Write a new CA's certificate and a server key + chain for 127.0.0.1 under ``root``; the CA's path."""
    import trustme

    ca = trustme.CA()
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(f"{root}/server.pem")
    ca.cert_pem.write_to_path(f"{root}/ca.pem")
    return f"{root}/ca.pem"


def nginx_binary() -> str | None:
    import shutil

    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


@contextlib.contextmanager
def servers(use_nginx: bool = True) -> Iterator[dict[str, str]]:
    """``{"static": url, "delay": url, "static_kind": ...}`` (and nginx's HTTPS urls) for the duration."""
    binary = nginx_binary() if use_nginx else None
    with builtin_server() as builtin:
        with nginx_server(binary) if binary else contextlib.nullcontext({"static": builtin}) as static:
            kind = "built-in"
            if binary:
                kind = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
            yield {**static, "delay": builtin, "static_kind": kind.replace("nginx version: ", "")}


def listen_overflows() -> int:
    """The kernel's count of connections dropped from full accept queues (Linux)."""
    try:
        with open("/proc/net/netstat") as f:
            head, values = [line.split() for line in f.readlines()[:2]]
        return int(values[head.index("ListenOverflows")])
    except (OSError, ValueError, IndexError):
        return 0


def server_label(urls: dict[str, str], server: str) -> str:
    """What answers a scenario's ``server`` (a key of :func:`servers`' urls), for a table's title."""
    return {
        "delay": "built-in (asyncio)",
        "https": f"{urls['static_kind']}, TLS 1.3",
        "https_cold": f"{urls['static_kind']}, TLS 1.3, one connection per request",
    }.get(server, urls["static_kind"])


if __name__ == "__main__":
    serve_builtin(int(sys.argv[1]))
