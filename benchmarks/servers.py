"""The local servers the benchmarks fetch from, started and stopped by them.

* nginx, with a config generated in a temp dir (one worker, keep-alive, no
  access log), serving ``/small.json`` (200 bytes) and ``/large.bin``
  (64 KiB), when the binary exists;
* a built-in asyncio server in a child process (``python servers.py PORT``)
  serving the same two files and ``/delay/<ms>``: the small body after ms.

``with servers() as urls:`` gives ``urls["static"]``, ``urls["delay"]`` and
``urls["static_kind"]`` (the nginx version or "built-in").
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

SMALL_BODY = (b'{"id": 12345, "name": "gfetch benchmark", "ok": true, "tags": ["a", "b", "c"], "pad": "'
              + b"x" * 200)[:198] + b'"}'
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
        head = (f"HTTP/1.1 200 OK\r\nServer: gfetch-bench\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        return head.encode() + body

    small, large = response(SMALL_BODY, "application/json"), response(LARGE_BODY, "application/octet-stream")
    missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport, self.buffer = transport, b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
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
        threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)),
                         daemon=True).start()
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
}}
"""


@contextlib.contextmanager
def nginx_server(binary: str) -> Iterator[str]:
    """nginx with a generated config in a temp dir, serving the two static files."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gfetch-bench-nginx-") as root:
        os.makedirs(f"{root}/www")
        for name, body in [("small.json", SMALL_BODY), ("large.bin", LARGE_BODY)]:
            with open(f"{root}/www/{name}", "wb") as f:
                f.write(body)
        for path in (root, f"{root}/www"):
            os.chmod(path, 0o755)  # nginx's workers run as nobody when started as root
        port = _free_port()
        with open(f"{root}/nginx.conf", "w") as f:
            f.write(NGINX_CONF.format(root=root, port=port))
        with _server_process([binary, "-p", root, "-c", f"{root}/nginx.conf"], port, "nginx") as url:
            yield url


def nginx_binary() -> str | None:
    import shutil

    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                         if os.access(p, os.X_OK)), None)


@contextlib.contextmanager
def servers(use_nginx: bool = True) -> Iterator[dict[str, str]]:
    """``{"static": url, "delay": url, "static_kind": ...}`` for the duration."""
    binary = nginx_binary() if use_nginx else None
    with builtin_server() as builtin:
        with nginx_server(binary) if binary else contextlib.nullcontext(builtin) as static:
            kind = "built-in"
            if binary:
                kind = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
            yield {"static": static, "delay": builtin, "static_kind": kind.replace("nginx version: ", "")}


def listen_overflows() -> int:
    """The kernel's count of connections dropped from full accept queues (Linux)."""
    try:
        with open("/proc/net/netstat") as f:
            head, values = [line.split() for line in f.readlines()[:2]]
        return int(values[head.index("ListenOverflows")])
    except (OSError, ValueError, IndexError):
        return 0


def server_label(urls: dict[str, str], server: str) -> str:
    """What answers a scenario's ``server`` ("static" or "delay"), for a table's title."""
    return urls["static_kind"] if server == "static" else "built-in (asyncio)"


if __name__ == "__main__":
    serve_builtin(int(sys.argv[1]))
