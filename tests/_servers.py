"""Loopback helpers for the tests: an HTTPS server, an HTTP(S) proxy, and the TLS context of a RawServer.

The servers are plain stdlib servers on OS threads (so they never share the hub of
the code under test), bind 127.0.0.1 only, bound every blocking call with a
timeout, and are stopped by the test that starts them.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import socketserver
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import urlsplit

__all__ = ["HTTPSServer", "ProxyServer", "server_context"]


class _HTTPSHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible
    timeout = 10  # idle keep-alive connections end, and so do their threads
    server: _ThreadingHTTPSServer

    def setup(self) -> None:
        super().setup()
        # The handshake runs here, in this connection's thread, not in the
        # accept loop: a stalled client must not block the other ones.
        try:
            self.request.do_handshake()
        except (OSError, ssl.SSLError):
            self.close_connection = True
            self._handshake_failed = True
            return
        self._handshake_failed = False
        with self.server.lock:
            self.server.handshakes += 1

    def handle(self) -> None:
        if not self._handshake_failed:
            try:
                super().handle()
            except (OSError, ssl.SSLError):
                pass

    def _reply(self, status: int, data: Any) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        parts = self.path.strip("/").split("/")
        if parts[0] == "delay":
            time.sleep(float(parts[1]))
        peer = self.request.getpeercert()
        subject = dict(item[0] for item in peer["subject"]) if peer and peer.get("subject") else None
        self._reply(
            200,
            {
                "path": self.path,
                "tls": self.request.version(),
                "client_cert": subject,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            },
        )

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self._reply(200, {"path": self.path, "body": body.decode("utf-8", "replace")})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _ThreadingHTTPSServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext) -> None:
        self.context = context
        self.lock = threading.Lock()
        self.handshakes = 0
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _HTTPSHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        sock.settimeout(10)
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up mid-handshake are part of the tests


_S = TypeVar("_S", bound="_ServedOnThread")


class _ServedOnThread:
    """Runs ``self._server.serve_forever`` on a daemon thread from start() to stop();
    also a context manager that does both."""

    def __init__(self, server: socketserver.BaseServer) -> None:
        self._server = server
        self.port: int = server.server_address[1]  # type: ignore[index]
        self._thread: threading.Thread | None = None

    def start(self: _S) -> _S:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class HTTPSServer(_ServedOnThread):
    """A threaded HTTPS server on 127.0.0.1 (``handshakes`` counts completed ones).

    ``client_ca``: require client certificates issued by this trustme CA.
    """

    _server: _ThreadingHTTPSServer

    def __init__(self, cert: Any, client_ca: Any = None, host: str = "127.0.0.1") -> None:
        context = server_context(cert)
        if client_ca is not None:
            client_ca.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        self.host = host
        super().__init__(_ThreadingHTTPSServer((host, 0), context))

    @property
    def handshakes(self) -> int:
        return self._server.handshakes

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"https://{host or self.host}:{self.port}{path}"


class _ProxyHandler(socketserver.StreamRequestHandler):
    timeout = 10
    server: _ProxyTCPServer

    def handle(self) -> None:
        try:
            self._handle()
        except OSError:
            pass

    def _read_head(self) -> tuple[str, str, dict[str, str]] | None:
        line = self.rfile.readline(65537)
        if not line.strip():
            return None
        method, target, _version = line.decode("latin-1").split()
        headers: dict[str, str] = {}
        for _ in range(200):
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return method, target, headers

    def _handle(self) -> None:
        head = self._read_head()
        if head is None:
            return
        method, target, headers = head
        with self.server.lock:
            self.server.seen.append((method, target, headers))
        if method == "CONNECT":
            self._tunnel(target)
        else:
            self._forward(method, target, headers)

    def _forward(self, method: str, target: str, headers: dict[str, str]) -> None:
        url = urlsplit(target)
        body = self.rfile.read(int(headers.get("content-length", "0")))
        upstream = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
        try:
            path = url.path + (f"?{url.query}" if url.query else "")
            forwarded = {k: v for k, v in headers.items() if k not in ("proxy-authorization", "connection")}
            forwarded["connection"] = "close"
            upstream.request(method, path or "/", body=body or None, headers=forwarded)
            response = upstream.getresponse()
            data = response.read()
            out = [f"HTTP/1.1 {response.status} {response.reason}"]
            for name, value in response.getheaders():
                if name.lower() not in ("connection", "content-length", "transfer-encoding"):
                    out.append(f"{name}: {value}")
            out += [f"Content-Length: {len(data)}", "Via: 1.1 test-proxy", "Connection: close"]
            self.wfile.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + data)
        finally:
            upstream.close()

    def _tunnel(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        try:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            client = self.connection
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                readable, _, _ = select.select([client, upstream], [], [], 1.0)
                for src in readable:
                    dst = upstream if src is client else client
                    data = src.recv(65536)
                    if not data:
                        return
                    dst.sendall(data)
        finally:
            upstream.close()


class _ProxyTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class ProxyServer(_ServedOnThread):
    """A forwarding HTTP proxy that also tunnels CONNECT; ``seen`` lists requests."""

    _server: _ProxyTCPServer

    def __init__(self) -> None:
        super().__init__(_ProxyTCPServer())

    @property
    def seen(self) -> list[tuple[str, str, dict[str, str]]]:
        with self._server.lock:
            return list(self._server.seen)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def server_context(cert: Any) -> ssl.SSLContext:
    """A server-side SSLContext presenting trustme ``cert`` (a LeafCert), for ``RawServer(tls=...)``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context
