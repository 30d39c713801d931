"""TestServer's routes on the stdlib's ThreadingHTTPServer: a server that does not use gfetch's hub.

gfetch's TestServer runs on gfetch's own hub and sockets, so a hub bug could
hide on both sides of a test. This one serves the same routes
(``gfetch.testing.Routes``, plain functions of the request) from
``http.server`` with one OS thread per connection, keep-alive, and the same
counters, so the transport tests can run against it unchanged.
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gfetch.testing import Request, Routes

__all__ = ["StdlibServer"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as TestServer
    timeout = 30  # an idle keep-alive connection ends, and so does its thread
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner._count_connection(+1, self.client_address)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._count_connection(-1)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # A fixed Date: the differential tests compare replies fetched a second apart.
        return "Thu, 01 Jan 2026 00:00:00 GMT"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, reply_headers, reply = self.server.owner.routes.dispatch(
            Request(self.command, self.path, headers, body)
        )
        # Counted before the reply: a client may read the whole reply (an empty body) and
        # look at the count before this thread would have got past end_headers.
        self.server.owner._count_request()
        self.send_response(status)
        if isinstance(reply, bytes):
            reply_headers.setdefault("Content-Length", str(len(reply)))
        if self.close_connection:  # the client asked to close: say so, as TestServer does
            reply_headers["Connection"] = "close"
        for name, value in reply_headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            for piece in [reply] if isinstance(reply, bytes) else reply:
                self.wfile.write(piece)  # unbuffered: each piece as it comes

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            body += self.rfile.read(size)
            self.rfile.readline()  # the CRLF after the chunk
            if size == 0:
                return body

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: the tests' output is theirs


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096  # listen backlog, as TestServer's: the tests open many connections at once
    owner: StdlibServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets or abandons its connection is what the fault
        # tests do on purpose: only other errors are printed.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class StdlibServer:
    """TestServer's interface (url, base_url and the counters) on http.server;
    ``peers`` lists the client address of each connection.

    ``with StdlibServer() as server: server.url("/json")``
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.routes = Routes(self.url, time.sleep)
        self.open_connections = 0
        self.peak_connections = 0
        self.requests_served = 0
        self.peers: list[tuple[str, int]] = []  # each connection's client address, in accept order
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StdlibServer:
        self._httpd = _Server((self.host, 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="stdlib-test-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._thread.join(10)
        self._httpd.server_close()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def _count_connection(self, change: int, peer: tuple[str, int] | None = None) -> None:
        with self._lock:
            if peer is not None:
                self.peers.append(peer)
            self.open_connections += change
            self.peak_connections = max(self.peak_connections, self.open_connections)

    def _count_request(self) -> None:
        with self._lock:
            self.requests_served += 1
