"""A small local HTTP/1.1 server for the demo, the examples and the tests.

It runs on its own OS thread with its own hub (one greenlet per connection,
keep-alive), so it holds ten thousand slow requests without ten thousand
threads. It is a test double, not a production server: it binds to loopback
only and understands just enough HTTP for these routes::

    /                   200, a short text body
    /delay/<seconds>    answer after a delay
    /status/<code>      that status, empty body
    /bytes/<n>          n bytes of b"x"
    /drip/<n>?duration=S&chunks=C
                        n bytes of b"x" in C pieces (default 10), one every
                        S/C seconds (S default 1) after the head: a slow link
    /json               {"ok": true, "path": ..., "query": ...}
    /echo               the request as JSON: method, path, query, headers, body
    /redirect/<n>       302 to /redirect/<n-1>, then /json at 0
    /redirect-to?url=U  302 to U
    /cookies/set?k=v    Set-Cookie k=v, answer {"set": {...}}
    /cookies/set/redirect?k=v  Set-Cookie k=v, 302 to /cookies (as httpbin's /cookies/set)
    /cookies            the cookies sent, as JSON
    /flaky/<n>?key=K&status=C&retry_after=R
                        status C (default 503) with Retry-After: R (default
                        0; none: no Retry-After) for the first n hits of K,
                        then 200: a 429 storm is /flaky/50?status=429
    /tree/<id>?fanout=F&size=N  JSON node with links to its children (a crawl tree)
    /pages/<n>?per_page=P&total=T&delay=S
                        page n (from 1) of a catalogue of T items, P a page
                        (defaults 95 and 10), after S seconds (default 0):
                        {"page": n, "items": [{"id", "url"}], "next": URL of
                        page n+1, or null on the last}; links keep the delay
    /items/<id>[/<facet>]?delay=S
                        a made-up catalogue record, after S seconds:
                        {"id", "name", "category"}; the facets price, stock
                        and reviews answer {"id", ...} with just that part

Start with ``with TestServer() as server: server.url("/json")``.
"""

from __future__ import annotations

import errno
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from gfetch.core.greenlets import Greenlet, killall, sleep, spawn
from gfetch.core.hub import get_hub
from gfetch.core.resources import raise_fd_limit
from gfetch.core.sync import Event
from gfetch.io.sockets import GreenSocket

__all__ = ["Request", "Routes", "ServerProcess", "TestServer"]

_REASONS = {
    200: "OK",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_MAX_HEADER_BYTES = 65536

# A body is bytes, or (a slow route's) its pieces, with the Content-Length in the headers.
Reply = tuple[int, dict[str, str], bytes | Iterator[bytes]]


class Request:
    __slots__ = ("method", "path", "query", "headers", "body")

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(target)
        self.method = method
        self.path = parts.path
        self.query = dict(parse_qsl(parts.query))
        self.headers = headers
        self.body = body


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


class Routes:
    """The routes of the module docstring, apart from any server: ``dispatch`` maps a
    request to a reply. ``url`` makes the absolute links some routes return;
    ``sleep`` is how delayed routes wait (gfetch's for TestServer, ``time.sleep``
    for a server on OS threads, as the tests' stdlib one)."""

    def __init__(self, url: Callable[[str], str], sleep: Callable[[float], Any]) -> None:
        self.url = url
        self._sleep = sleep
        self._flaky_hits: dict[str, int] = {}
        self._routes: dict[str, Callable[[Request, list[str]], Reply]] = {
            "": lambda req, args: (200, {"Content-Type": "text/plain"}, b"hello from gfetch's test server\n"),
            "delay": self._delay,
            "status": lambda req, args: (int(args[0]), {}, b""),
            "bytes": lambda req, args: (
                200,
                {"Content-Type": "application/octet-stream"},
                b"x" * int(args[0]),
            ),
            "drip": self._drip,
            "json": lambda req, args: _json({"ok": True, "path": req.path, "query": req.query}),
            "echo": self._echo,
            "redirect": self._redirect,
            "redirect-to": lambda req, args: (302, {"Location": req.query["url"]}, b""),
            "cookies": self._cookies,
            "flaky": self._flaky,
            "tree": self._tree,
            "pages": self._pages,
            "items": self._items,
        }

    def dispatch(self, request: Request) -> Reply:
        """The reply to ``request``: 404 for an unknown route, 400 for bad arguments."""
        parts = request.path.strip("/").split("/")
        route = self._routes.get(parts[0])
        if route is None:
            return 404, {"Content-Type": "text/plain"}, b"not found\n"
        try:
            return route(request, parts[1:])
        except (ValueError, IndexError, KeyError) as exc:
            return 400, {"Content-Type": "text/plain"}, f"bad request: {exc}\n".encode()

    # -- routes ---------------------------------------------------------
    def _delay(self, request: Request, args: list[str]) -> Reply:
        seconds = float(args[0])
        self._sleep(seconds)
        return _json({"delay": seconds, "query": request.query})

    def _drip(self, request: Request, args: list[str]) -> Reply:
        size = int(args[0])
        seconds = float(request.query.get("duration", "1"))
        pieces = int(request.query.get("chunks", "10"))
        if size < 0 or seconds < 0 or pieces < 1:
            raise ValueError(f"need n >= 0, duration >= 0, chunks >= 1; got {size}, {seconds}, {pieces}")

        def body() -> Iterator[bytes]:
            for index in range(pieces):
                self._sleep(seconds / pieces)
                yield b"x" * (size * (index + 1) // pieces - size * index // pieces)

        return 200, {"Content-Type": "application/octet-stream", "Content-Length": str(size)}, body()

    @staticmethod
    def _echo(request: Request, args: list[str]) -> Reply:
        return _json(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": request.headers,
                "body": request.body.decode("utf-8", "replace"),
            }
        )

    @staticmethod
    def _redirect(request: Request, args: list[str]) -> Reply:
        remaining = int(args[0])
        target = "/json" if remaining <= 1 else f"/redirect/{remaining - 1}"
        return 302, {"Location": target}, b""

    @staticmethod
    def _cookies(request: Request, args: list[str]) -> Reply:
        if args and args[0] == "set":
            headers = {"Set-Cookie": "; ".join(f"{k}={v}" for k, v in request.query.items()) + "; Path=/"}
            if args[1:] == ["redirect"]:
                return 302, {**headers, "Location": "/cookies"}, b""
            return _json({"set": request.query}, headers=headers)
        raw = request.headers.get("cookie", "")
        cookies = dict(item.strip().split("=", 1) for item in raw.split(";") if "=" in item)
        return _json({"cookies": cookies})

    def _flaky(self, request: Request, args: list[str]) -> Reply:
        failures = int(args[0])
        key = request.query.get("key", "")
        status = int(request.query.get("status", "503"))
        retry_after = request.query.get("retry_after", "0")
        hits = self._flaky_hits[key] = self._flaky_hits.get(key, 0) + 1
        if hits <= failures:
            return status, {} if retry_after == "none" else {"Retry-After": retry_after}, b""
        return _json({"attempts": hits, "key": key})

    def _tree(self, request: Request, args: list[str]) -> Reply:
        node = int(args[0])
        fanout = int(request.query.get("fanout", "3"))
        size = int(request.query.get("size", "100"))
        first = node * fanout + 1
        children = [c for c in range(first, first + fanout) if c < size]
        suffix = f"?fanout={fanout}&size={size}"
        return _json({"id": node, "children": [self.url(f"/tree/{c}{suffix}") for c in children]})

    def _pages(self, request: Request, args: list[str]) -> Reply:
        page = int(args[0])
        per_page = int(request.query.setdefault("per_page", "10"))
        total = int(request.query.setdefault("total", "95"))
        if page < 1 or per_page < 1:
            raise ValueError(f"page and per_page must be >= 1, got {page} and {per_page}")
        self._sleep(float(request.query.get("delay", "0")))
        # Links keep the caller's parameters, so a crawl stays on one catalogue.
        item_query = "?" + urlencode({"delay": request.query["delay"]}) if "delay" in request.query else ""
        first = (page - 1) * per_page
        items = [
            {"id": i, "url": self.url(f"/items/{i}{item_query}")}
            for i in range(first, min(first + per_page, total))
        ]
        more = first + per_page < total
        following = self.url(f"/pages/{page + 1}?{urlencode(request.query)}") if more else None
        return _json({"page": page, "items": items, "next": following})

    def _items(self, request: Request, args: list[str]) -> Reply:
        item = int(args[0])
        facets: dict[str, dict[str, Any]] = {
            "": {"name": f"item {item}", "category": ("books", "games", "tools")[item % 3]},
            "price": {"price": round(2.5 + item % 17 * 1.25, 2), "currency": "EUR"},
            "stock": {"in_stock": item * 7 % 11},
            "reviews": {"rating": round(3 + item % 5 * 0.5, 1), "count": item * 3 % 40},
        }
        facet = args[1] if len(args) > 1 else ""
        if facet not in facets or len(args) > 2:
            return 404, {"Content-Type": "text/plain"}, b"not found\n"
        self._sleep(float(request.query.get("delay", "0")))
        return _json({"id": item, **facets[facet]})


class TestServer:
    """A loopback HTTP server on a background thread; see the module docstring.

    Attributes:
        open_connections / peak_connections: counts of client connections.
        requests_served: number of requests answered.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, host: str = "127.0.0.1", port: int = 0, backlog: int = 4096) -> None:
        self.host = host
        self._requested_port = port
        self._backlog = backlog
        self.port = 0
        self.open_connections = 0
        self.peak_connections = 0
        self.requests_served = 0
        self._routes = Routes(self.url, sleep)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: Event | None = None
        self._hub: Any = None
        self._error: BaseException | None = None

    # -- lifecycle ------------------------------------------------------
    def start(self) -> TestServer:
        self._thread = threading.Thread(target=self._serve, name="gfetch-testserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start within 10 s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._hub is not None and self._stop is not None:
            self._hub.call_threadsafe(lambda _: self._stop.set())  # type: ignore[union-attr]
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    # -- serving (all below runs on the server thread's hub) ------------
    def _serve(self) -> None:
        import socket

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            listener = GreenSocket(family, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self._requested_port))
            listener.listen(self._backlog)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self.port = listener.getsockname()[1]
        self._hub = get_hub()
        self._stop = Event()
        handlers: set[Greenlet] = set()
        self._ready.set()

        def accept_loop() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError as exc:
                    if exc.errno not in (errno.EMFILE, errno.ENFILE):
                        raise
                    # Out of descriptors even after raising the soft limit:
                    # the client waits in the backlog until some close.
                    sleep(0.05)
                    continue
                glet = spawn(self._handle, conn)
                handlers.add(glet)
                glet.link(handlers.discard)

        acceptor = spawn(accept_loop)
        try:
            self._stop.wait()
        finally:
            acceptor.kill()
            killall(list(handlers), timeout=5)
            listener.close()
            self._hub.close()

    def _handle(self, conn: GreenSocket) -> None:
        self.open_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)
        conn.settimeout(60)
        buffer = b""
        try:
            while True:
                request, buffer = self._read_request(conn, buffer)
                if request is None:
                    return
                status, headers, body = self._routes.dispatch(request)
                keep_alive = request.headers.get("connection", "").lower() != "close"
                head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
                if isinstance(body, bytes):
                    headers.setdefault("Content-Length", str(len(body)))
                if not keep_alive:
                    headers["Connection"] = "close"
                head += [f"{k}: {v}" for k, v in headers.items()]
                payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
                self.requests_served += 1
                if isinstance(body, bytes):  # head and body in one write
                    conn.sendall(payload + (body if request.method != "HEAD" else b""))
                else:  # a slow route's pieces, each as it comes
                    conn.sendall(payload)
                    for piece in body if request.method != "HEAD" else ():
                        conn.sendall(piece)
                if not keep_alive:
                    return
        except OSError:
            return
        finally:
            self.open_connections -= 1
            conn.close()

    @staticmethod
    def _read_request(conn: GreenSocket, buffer: bytes) -> tuple[Request | None, bytes]:
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > _MAX_HEADER_BYTES:
                return None, b""
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, buffer = TestServer._read_chunked(conn, buffer)
        else:
            while len(buffer) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return None, b""
                buffer += chunk
            body, buffer = buffer[:length], buffer[length:]
        return Request(method, target, headers, body), buffer

    @staticmethod
    def _read_chunked(conn: GreenSocket, buffer: bytes) -> tuple[bytes, bytes]:
        body = b""
        while True:
            while b"\r\n" not in buffer:
                buffer += conn.recv(65536)
            size_line, _, buffer = buffer.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(buffer) < size + 2:
                buffer += conn.recv(65536)
            body += buffer[:size]
            buffer = buffer[size + 2 :]
            if size == 0:
                return body, buffer


class ServerProcess:
    """A TestServer in a child process, so its CPU does not compete with the
    client's for the GIL (the demo, benchmarks and load tests use it). The
    child raises its soft fd limit to the hard one, to hold as many
    connections as it can.

    ``with ServerProcess() as server: server.url("/json"); server.stats()``
    """

    __test__ = False

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.base_url = ""
        self._process: Any = None

    def __enter__(self) -> ServerProcess:
        import subprocess
        import sys

        self._process = subprocess.Popen(
            [sys.executable, "-m", "gfetch.testing", "--host", self.host],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://"):
            self._process.kill()
            raise RuntimeError(f"test server process failed to start: {line!r}")
        self.base_url = line
        return self

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def stats(self) -> dict[str, int]:
        """The child's counters: open_connections, peak_connections, requests_served."""
        self._process.stdin.write("stats\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())  # type: ignore[no-any-return]

    def __exit__(self, *exc: Any) -> None:
        self._process.stdin.close()  # the child exits when its stdin closes
        try:
            self._process.wait(10)
        except Exception:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()


def main() -> None:
    """``python -m gfetch.testing``: serve until stdin closes; print the URL first.

    Each ``stats`` line read from stdin is answered with one JSON line of the
    server's counters.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m gfetch.testing", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    raise_fd_limit()
    with TestServer(args.host, args.port) as server:
        print(server.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                counters = {
                    name: getattr(server, name)
                    for name in ("open_connections", "peak_connections", "requests_served")
                }
                print(json.dumps(counters), flush=True)
