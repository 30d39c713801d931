"""RawServer: a scripted raw-socket server, for faults a well-behaved server never makes.

Test code built on gfetch (or on requests) against resets, stalls, trickles,
bad framing and late or unsolicited bytes. Hand :class:`RawServer` a
*behaviour*: a callable that gets a :class:`Peer` (the accepted socket, with
the request head already read) and does what the fault needs. The canned
behaviours below compose with :func:`script`::

    from gfetch.testing import RawServer, raw

    reply = raw.head(200, "Content-Length: 100") + b"x" * 10
    with RawServer(raw.script(raw.send(reply), raw.pause(0.1), raw.reset)) as server:
        requests.get(server.url())  # requests.exceptions.ChunkedEncodingError

It is standard library only (blocking sockets on OS threads: an accept thread
and one thread per connection), so it shares nothing with the client under
test: a stalled behaviour blocks no other connection, and a bug in gfetch's hub
cannot hide on both sides. It binds loopback only (127.0.0.1 or ::1), bounds
every blocking call (5 s socket timeouts, 30 s at most for a stall), and
:meth:`RawServer.stop` wakes every connection thread, joins it and closes
every socket it opened. With ``tls=`` (a server-side ``ssl.SSLContext``) each
connection is wrapped and handshaken in its own thread first. docs/testing.md
has an example of each fault.

Imports only the standard library.
"""

from __future__ import annotations

import re
import selectors
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

__all__ = [
    "Behaviour",
    "Peer",
    "RawServer",
    "head",
    "hold",
    "keep_alive",
    "pause",
    "pour",
    "reset",
    "route",
    "script",
    "send",
    "stall",
    "trickle",
]

_IO_TIMEOUT = 5.0  # bounds every blocking socket call of the server
_HOLD_LIMIT = 30.0  # the longest a behaviour may stall, stop or not
_MAX_HEAD = 1 << 20
_MAX_REQUESTS = 1000  # bounds a keep-alive connection's loop


class Peer:
    """One accepted connection, as a behaviour sees it (RawServer makes it).

    Its methods block the connection's own thread only; an OSError from one
    (the client went away) ends the behaviour quietly.

    Attributes:
        sock: the accepted socket (TLS-wrapped with ``tls=``), blocking with
            a 5 s timeout.
        head: the request head read before the behaviour ran, including the
            blank line (b"" with ``read_head=False`` or if the client sent none).
        index: 0 for the server's first connection, 1 for the next, ...
    """

    def __init__(self, sock: socket.socket, index: int, stopping: threading.Event) -> None:
        self.sock = sock
        self.index = index
        self.head = b""
        self._stopping = stopping
        self._buffer = b""

    def read_head(self) -> bytes:
        """Read up to the end of a request head; b"" on EOF before one."""
        data = b""
        while b"\r\n\r\n" not in data and len(data) < _MAX_HEAD:
            chunk = self.sock.recv(65536)
            if not chunk:
                return b""
            data += chunk
        return data

    def read_request(self) -> bytes:
        """Read one whole request, head and body as its framing says (Content-Length or
        chunked), exactly as received; b"" on EOF before one. Bytes after it stay buffered
        for the next call."""
        end = self._until(b"\r\n\r\n", 0)
        if end < 0:
            return b""
        fields = self._buffer[:end].lower()
        if b"\r\ntransfer-encoding: chunked" in fields:
            while True:  # chunk-size line, data and CRLF; size 0 ends with trailers and a blank line
                line_end = self._until(b"\r\n", end)
                size = int(self._buffer[end:line_end].split(b";")[0], 16)
                if size == 0:
                    end = self._until(b"\r\n\r\n", line_end - 2)
                    break
                end = line_end + size + 2
                self._fill(end)
        elif match := re.search(rb"\r\ncontent-length: *(\d+)", fields):
            end += int(match.group(1))
            self._fill(end)
        request, self._buffer = self._buffer[:end], self._buffer[end:]
        return request

    @property
    def unread(self) -> bytes:
        """What arrived but no :meth:`read_request` returned yet: the start of a
        request cut short (by a timeout, say), or the next one."""
        return self._buffer

    def _until(self, marker: bytes, start: int) -> int:
        """The end of ``marker`` in the buffer, found from ``start``; -1 on EOF first."""
        while (found := self._buffer.find(marker, start)) < 0:
            if len(self._buffer) > _MAX_HEAD or not self._recv():
                return -1
        return found + len(marker)

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            if not self._recv():
                raise ConnectionAbortedError("the client closed mid-request")  # ends the behaviour quietly

    def _recv(self) -> bool:
        chunk = self.sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def send(self, data: bytes) -> None:
        """Send all of ``data`` (OSError if the client is gone ends the behaviour)."""
        self.sock.sendall(data)

    def hold(self, seconds: float = _HOLD_LIMIT) -> None:
        """Stall (without reading) until the server stops or ``seconds`` pass."""
        self._stopping.wait(min(seconds, _HOLD_LIMIT))

    def trickle(self, data: bytes, interval: float) -> None:
        """Send ``data`` one byte every ``interval`` seconds, until stopped."""
        for byte in data:
            if self._stopping.wait(interval):
                return
            self.sock.sendall(bytes([byte]))

    def pour(self, chunk: bytes = b"x" * (1 << 20), total: int | None = None) -> None:
        """Send ``chunk`` after ``chunk`` as fast as the client reads, until
        ``total`` bytes were sent (None: until the client leaves or the server stops)."""
        sent = 0
        while (total is None or sent < total) and not self._stopping.is_set():
            piece = chunk if total is None else chunk[: total - sent]
            self.sock.sendall(piece)
            sent += len(piece)

    def reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send a RST."""
        raw = self.sock
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()

    def closed_by_client(self, seconds: float) -> bool:
        """True if the client closes (EOF or reset) within ``seconds``.

        False if it sends more data instead (it reused the connection) or
        stays silent.
        """
        self.sock.settimeout(seconds)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(_IO_TIMEOUT)


Behaviour = Callable[[Peer], Any]  # what RawServer runs per connection; its return value is ignored


class RawServer:
    """A loopback TCP (or TLS) server running ``behaviour(peer)`` per connection.

    Args:
        behaviour: called in the connection's own thread; OSError (the client
            went away) ends the connection quietly, anything else is kept in
            ``errors`` and re-raised by ``stop()``.
        tls: a server-side SSLContext; None for plain TCP.
        read_head: read the request head before calling the behaviour.
        host: the loopback address to listen on, "127.0.0.1" or "::1".
        keep_peers: keep every Peer in ``peers``; False for long runs, whose
            thousands of connections would otherwise grow the test's memory.

    Attributes:
        host, port: where it listens (``host`` in brackets for ::1); see :meth:`url`.
        connections: the number of connections accepted so far.
        errors: what behaviours raised, apart from OSError.
        peers: the Peer of each connection, in accept order (with ``keep_peers``).
    """

    def __init__(
        self,
        behaviour: Behaviour,
        *,
        tls: ssl.SSLContext | None = None,
        read_head: bool = True,
        host: str = "127.0.0.1",
        keep_peers: bool = True,
    ) -> None:
        self._behaviour = behaviour
        self._tls = tls
        self._read_head = read_head
        self._listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((host, 0))
        self.host = f"[{host}]" if ":" in host else host
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._keep_peers = keep_peers
        self._accepted = 0
        self._open: set[Peer] = set()  # connections not yet closed, for stop()
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []

    @property
    def connections(self) -> int:
        """The number of connections accepted so far."""
        with self._lock:
            return self._accepted

    def url(self, path: str = "/", scheme: str = "") -> str:
        """The URL of ``path``; ``scheme`` defaults to https with ``tls=``, else http."""
        scheme = scheme or ("https" if self._tls is not None else "http")
        return f"{scheme}://{self.host}:{self.port}{path}"

    # -- lifecycle ------------------------------------------------------
    def start(self) -> RawServer:
        """Listen and accept in a background thread; returns self."""
        # The selector is made here, so every descriptor of the server is open once start() returns.
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        self._spawn(self._accept_loop, selector)
        return self

    def stop(self) -> None:
        """Stop accepting, wake and join every connection thread, close every socket."""
        self._stopping.set()
        if self._threads:
            self._threads[0].join(_IO_TIMEOUT)  # the accept loop: no new peers after it
        with self._lock:
            peers = list(self._open)
            threads = list(self._threads)
        for peer in peers:
            try:
                peer.sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv/send
            except OSError:
                pass
        for thread in threads:
            thread.join(_IO_TIMEOUT * 2)
        for peer in peers:
            peer.sock.close()
        self._listener.close()
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"raw server threads did not stop: {alive}")
        if self.errors:
            raise self.errors[0]

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- threads --------------------------------------------------------
    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"rawserver-{self.port}", daemon=True)
        with self._lock:
            # Forget finished connection threads (the first is the accept loop):
            # a server of a long run would otherwise keep thousands.
            self._threads[1:] = [t for t in self._threads[1:] if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self, selector: selectors.BaseSelector) -> None:
        with selector:
            while not self._stopping.is_set():
                if not selector.select(0.05):
                    continue
                try:
                    sock, _ = self._listener.accept()
                except OSError:
                    continue
                sock.settimeout(_IO_TIMEOUT)
                with self._lock:
                    peer = Peer(sock, self._accepted, self._stopping)
                    self._accepted += 1
                    self._open.add(peer)
                    if self._keep_peers:
                        self.peers.append(peer)
                self._spawn(self._serve, peer)

    def _serve(self, peer: Peer) -> None:
        raw = peer.sock
        try:
            if self._tls is not None:
                peer.sock = self._tls.wrap_socket(raw, server_side=True)
            if self._read_head:
                peer.head = peer.read_head()
            self._behaviour(peer)
        except OSError:
            pass  # the client went away, or the handshake failed: part of the faults
        except BaseException as exc:  # a bug in the behaviour: fail the test at stop()
            self.errors.append(exc)
        finally:
            peer.sock.close()
            raw.close()
            with self._lock:
                self._open.discard(peer)


# -- canned behaviours --------------------------------------------------------
def head(status: int = 200, *lines: str) -> bytes:
    """A response head: the status line (with the standard reason phrase), ``lines``
    as header lines (``"Content-Length: 5"``), the blank line. Only bytes: send it."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return "\r\n".join([f"HTTP/1.1 {status} {reason}", *lines, "", ""]).encode("latin-1")


def send(data: bytes) -> Behaviour:
    """Send ``data``."""
    return lambda peer: peer.send(data)


def trickle(data: bytes, interval: float) -> Behaviour:
    """Send ``data`` a byte every ``interval`` seconds."""
    return lambda peer: peer.trickle(data, interval)


def pour(data: bytes, body: int | None = None) -> Behaviour:
    """Send ``data`` (a response head), then ``body`` bytes as fast as the
    client reads them (None: endlessly, until the client leaves)."""

    def run(peer: Peer) -> None:
        peer.send(data)
        peer.pour(total=body)

    return run


def pause(seconds: float) -> Behaviour:
    """Wait ``seconds`` (less if the server stops), without reading: between
    :func:`script` steps, it splits a reply into writes the client sees apart."""
    return lambda peer: peer.hold(seconds)


def hold(peer: Peer) -> None:
    """Stall until the server stops."""
    peer.hold()


def stall(peer: Peer) -> None:
    """Stall until the client gives up and closes (at most 30 s): no thread
    is left holding a connection the client has left."""
    peer.closed_by_client(_HOLD_LIMIT)


def route(behaviours: dict[str, Behaviour]) -> Behaviour:
    """Run the behaviour named by the request path's first segment (``/<name>/...``)."""

    def run(peer: Peer) -> None:
        request_line = peer.head.split(b"\r\n", 1)[0].decode("latin-1")
        path = request_line.split(" ")[1] if request_line.count(" ") >= 2 else "/"
        behaviours[path.lstrip("/").split("/", 1)[0]](peer)

    return run


def reset(peer: Peer) -> None:
    """Abort with a TCP RST."""
    peer.reset()


def keep_alive(reply_for: Callable[[Peer, bytes], tuple[bytes, bool]]) -> Behaviour:
    """Answer request after request on one connection (use with ``read_head=False``).

    ``reply_for(peer, request)`` gets each whole request (see
    :meth:`Peer.read_request`) and returns ``(reply, close)``: the bytes to
    send and whether to close the connection after them.
    """

    def run(peer: Peer) -> None:
        for _ in range(_MAX_REQUESTS):
            request = peer.read_request()
            if not request:
                return
            reply, close = reply_for(peer, request)
            peer.send(reply)
            if close:
                return

    return run


def script(*steps: Behaviour) -> Behaviour:
    """A behaviour running ``steps`` in order; returning ends with a normal close (FIN)."""

    def run(peer: Peer) -> None:
        for step in steps:
            step(peer)

    return run
