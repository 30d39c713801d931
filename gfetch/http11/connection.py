"""One HTTP/1.1 keep-alive connection of gfetch's own pool, and its response reader.

Imports urllib3 (exceptions, the TLS handshake helper), requests (its header dict),
gfetch.http11.framing, gfetch.http11.slots, gfetch.http11.parser (or
gfetch.http11.parser_httptools, when ``GFETCH_PARSER`` chooses it), gfetch.io.sockets,
gfetch.core.timings and gfetch.io.tlscontext.

A :class:`Connection` owns a cooperative socket (plain or TLS) and one
receive buffer. It sends a request head and body, reads the response head
with :func:`gfetch.http11.parser.parse_response_head`, and hands the body to
http.client's own ``HTTPResponse`` reading code through :class:`BodyReader`,
the file object that response reads from. So chunked decoding,
Content-Length accounting, ``IncompleteRead`` and everything urllib3 does on
top (decoding, streaming, chunk boundaries) are the standard library's and
urllib3's, byte for byte; what is gone is the per-request ``makefile``, the
line-by-line head reading, the email parser and a syscall or three.

Whether a connection may carry another request is decided in one place,
from its state (:data:`ACTIVE`, :data:`IDLE`, :data:`CLOSED`):

* :meth:`Connection.release` (the response is done with it) makes it IDLE
  only if the body was read exactly to its end by the response's framing
  (gfetch.http11.framing), keep-alive was agreed, and nothing was received beyond
  the end; anything else closes it;
* :meth:`Connection.acquire` (a request wants it back) makes it ACTIVE only
  if nothing arrived while it was IDLE: not a byte, not the end of the
  stream. Late bytes (a body longer than announced, an unsolicited
  response, a 408 before closing) can only ever close a connection, never
  be read as the next request's response.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from requests.structures import CaseInsensitiveDict
from urllib3.connection import _ssl_wrap_socket_and_match_hostname
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.util.connection import allowed_gai_family

from gfetch.core.timings import ConnectClock, RequestTrace, Timings, is_ip_literal, perf_counter
from gfetch.http11.framing import Chunked, Framing, Sized, Unbounded
from gfetch.http11.parser import HeadFields, ResponseHead, interim_end
from gfetch.http11.parser import parse_response_head as parse_with_python
from gfetch.http11.slots import unclaimed
from gfetch.io.sockets import create_connection
from gfetch.io.tlscontext import TLSSettings, green_context

__all__ = ["ACTIVE", "CLOSED", "IDLE", "BodyReader", "Connection", "HeadResponse", "require_encodable_host"]


def require_encodable_host(host: str) -> None:
    """urllib3's check before resolving ``host``: a name the IDNA codec refuses
    (a label over 63 characters, an empty one) is a LocationParseError, not a
    UnicodeError from the resolver."""
    if host.startswith("["):
        host = host.strip("[]")
    try:
        host.encode("idna")
    except UnicodeError:
        raise LocationParseError(f"'{host}', label empty or too long") from None


# Each receive asks for up to 127 KiB: the most glibc's malloc still takes from its heap. A bytes of
# 128 KiB or more is an mmap, an mremap when it shrinks to what came, and an munmap: three system
# calls and fresh pages per read. A response up to about 127 KiB is then often all in with its
# head, and takes the path for a body already received (GreenHTTPResponse.read_buffered).
_RECV_SIZE = 127 * 1024
_SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
MAX_INTERIM_RESPONSES = 1000  # interim (1xx) responses skipped before one request's response


def preferred_head_parser() -> Callable[[bytes, str, bool], tuple[ResponseHead, int] | None]:
    """The head parser connections use: gfetch.http11.parser's, or httptools' (``GFETCH_PARSER=httptools``).

    Both give identical results (see gfetch.http11.parser_httptools). The pure one is
    the default because it is the faster (benchmarks/bench_parse.py: httptools
    calls back into Python for every header); ``GFETCH_PARSER=httptools``
    (the ``gfetch[httptools]`` extra) is there to cross-check, and raises
    ModuleNotFoundError without the package.
    """
    choice = os.environ.get("GFETCH_PARSER", "python")
    if choice not in ("python", "httptools"):
        raise ValueError(f"GFETCH_PARSER={choice!r}: use 'python' or 'httptools'")
    if choice == "python":
        return parse_with_python
    from gfetch.http11.parser_httptools import parse_response_head as parse_with_httptools

    return parse_with_httptools


parse_response_head = preferred_head_parser()  # GFETCH_PARSER=httptools picks httptools'

# A connection's states.
ACTIVE = "active"  # carrying a request and its response: from its making, or acquire(), to release()
IDLE = "idle"  # in a pool, its last response read to the end, nothing received since
CLOSED = "closed"
_SWITCHING_PROTOCOLS = 101


class Connection:
    """A connection to one origin. ``str()`` reads like urllib3's, for error messages."""

    __slots__ = (
        "host",
        "port",
        "tls",
        "sock",
        "sock_shutdown",
        "verified",
        "state",
        "framing",
        "keep_alive",
        "timings",
        "trace",
        "_data",
        "_pos",
        "_eof",
    )

    def __init__(self, host: str, port: int, tls: TLSSettings | None) -> None:
        self.host = host  # as the pool has it: a trailing dot kept for DNS
        self.port = port
        self.tls = tls
        self.sock: Any = None
        # ``sock.shutdown``, made once when connected: each response of the connection holds it.
        self.sock_shutdown: Any = None
        self.verified = False  # the server's certificate was verified
        self.state = ACTIVE  # made for the request that opens it
        self.framing: Framing = Unbounded()  # the end of the current response's body
        self.keep_alive = False  # the current response lets the connection carry another request
        self.timings: Timings | None = None  # the current request's, filled in as it goes
        self.trace: RequestTrace | None = None  # the current request's, if its Session has a hook
        self._data = b""
        self._pos = 0
        self._eof = False

    def __str__(self) -> str:
        kind = "HTTPSConnection" if self.tls is not None else "HTTPConnection"
        return f"{kind}(host={self.host.rstrip('.')!r}, port={self.port!r})"

    def __repr__(self) -> str:
        return f"<{self} at {id(self):#x}>"

    # -- opening ------------------------------------------------------------
    def connect(self, timeout: float | None) -> None:
        """Open the socket, and the TLS session, within ``timeout`` each.

        Raises what urllib3's ``_new_conn`` raises (NameResolutionError,
        ConnectTimeoutError, NewConnectionError); TLS errors are the ssl
        module's, mapped by the pool as urllib3 maps them.
        """
        host = self.host.rstrip(".")
        require_encodable_host(host)
        phases = ConnectClock(self.timings, self.trace, is_ip_literal(host))
        try:
            sock = create_connection(
                (self.host, self.port),
                timeout,
                family=allowed_gai_family(),
                socket_options=_SOCKET_OPTIONS,  # type: ignore[arg-type]  # int is an int | bytes
                resolved=phases.resolved,
            )
        except socket.gaierror as e:
            raise NameResolutionError(host, self, e) from e  # type: ignore[arg-type]
        except TimeoutError as e:
            message = f"Connection to {host} timed out. (connect timeout={timeout})"
            raise ConnectTimeoutError(self, message) from e
        except OSError as e:
            raise NewConnectionError(self, f"Failed to establish a new connection: {e}") from e  # type: ignore[arg-type]
        phases.connected(self.tls is not None)
        sys.audit("http.client.connect", self, host, self.port)
        self.sock = sock
        if self.tls is not None:
            self._handshake(sock, host)
            phases.handshaken()
        self.sock_shutdown = self.sock.shutdown

    def _handshake(self, sock: Any, host: str) -> None:
        """urllib3's own TLS handshake and hostname checks, on a cooperative context.

        Discussion: a frame of its own, so ``connect``'s frame, on the stack
        while a new connection waits for its TCP handshake, stays small
        (tests/test_waiting_footprint.py).
        """
        tls: TLSSettings = self.tls  # type: ignore[assignment]  # connect calls it with TLS only
        self.sock, self.verified = _ssl_wrap_socket_and_match_hostname(
            sock,
            cert_reqs=tls.cert_reqs,
            ssl_version=None,
            ssl_minimum_version=None,
            ssl_maximum_version=None,
            ca_certs=tls.ca_certs,
            ca_cert_dir=tls.ca_cert_dir,
            ca_cert_data=None,
            cert_file=None,
            key_file=None,
            key_password=None,
            server_hostname=host,
            ssl_context=green_context(tls),  # type: ignore[arg-type]  # an SSLContext's stand-in (gfetch.io.tls)
            tls_in_tls=False,
            assert_hostname=None,
            assert_fingerprint=None,
        )

    # -- state --------------------------------------------------------------
    def acquire(self) -> bool:
        """IDLE -> ACTIVE, for another request; False (and closed) if anything arrived while
        it was idle: bytes, the end of the stream or a reset. One non-blocking peek."""
        if self.state == IDLE and not self.sock.input_ready():
            self.state = ACTIVE
            return True
        self.close()
        return False

    def release(self) -> bool:
        """ACTIVE -> IDLE, ready for a pool; False (and closed) unless the response was
        read exactly to the end of its body, keep-alive was agreed and nothing followed."""
        timings = self.timings
        if timings is not None:
            self._end_timings(timings)
        if (
            self.state == ACTIVE
            and self.framing.done
            and self.keep_alive
            and not self._eof
            and self._pos == len(self._data)
        ):
            self.state = IDLE
            self._data = b""
            self._pos = 0
            return True
        self.close()
        return False

    def _end_timings(self, timings: Timings) -> None:
        """``receive``, if the body was read to its end (its framing's, or the stream's); and
        the request's timings and trace let go."""
        self.timings = None
        trace, self.trace = self.trace, None
        ended = self.framing.done or (self._eof and type(self.framing) is Unbounded)
        if ended and timings.head_at is not None:
            timings.receive = perf_counter() - timings.head_at
            if trace is not None:
                trace.emit("response.complete", receive=timings.receive)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        self.state = CLOSED
        self._data = b""
        self._pos = 0
        if sock is not None:
            sock.close()

    # -- sending ------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    # -- receiving ----------------------------------------------------------
    def read_head(self, method: str) -> ResponseHead:
        """Read the response head (parking the greenlet under the socket's timeout) and
        start the framing of its body.

        Interim (1xx) responses before it are dropped from the buffer as
        they complete, so a flood of them costs time in proportion to its
        bytes; past MAX_INTERIM_RESPONSES it is an HTTPException.

        Discussion: it receives itself rather than through ``_fill``, one
        frame less under the park where a request spends its wait. With
        nothing buffered, the request was just sent and its reply is rarely
        there yet: it waits before the first read instead of failing one.
        """
        self._data = self._data[self._pos :]
        self._pos = 0
        interim = 0
        if not self._data and not self._eof:
            self.sock.wait_for_data()
        if self.timings is not None:  # the first byte (or the end of the stream) is here
            self.timings.head_at = perf_counter()
            if self.timings.sent is not None:
                self.timings.wait = self.timings.head_at - self.timings.sent
        while True:
            if self._data or self._eof:
                parsed = parse_response_head(self._data, method, self._eof)
                if parsed is not None:
                    head, self._pos = parsed
                    self._start_body(head)
                    if self.trace is not None:
                        self.trace.emit("response.headers", status=head.status, wait=self.timings.wait)  # type: ignore[union-attr]
                    return head
                skipped, count = interim_end(self._data)
                if skipped:
                    interim += count
                    if interim > MAX_INTERIM_RESPONSES:
                        raise http.client.HTTPException(
                            f"got more than {MAX_INTERIM_RESPONSES} interim (1xx) responses"
                        )
                    self._data = self._data[skipped:]
            chunk = self.sock.recv(_RECV_SIZE)
            if chunk:
                self._data = self._data + chunk if self._data else chunk
            else:
                self._eof = True

    def _start_body(self, head: ResponseHead) -> None:
        """The framing of ``head``'s body, and whether the connection may be kept after it."""
        if head.status == _SWITCHING_PROTOCOLS:
            self.framing = Unbounded()  # the connection speaks another protocol now
        elif head.chunked:
            self.framing = Chunked()
        elif head.length is not None:
            self.framing = Sized(head.length)
        else:
            self.framing = Unbounded()
        self.keep_alive = not head.will_close

    def _fill(self) -> bool:
        """Receive more bytes into the buffer; False at the end of the stream."""
        chunk = self.sock.recv(_RECV_SIZE)
        if not chunk:
            self._eof = True
            return False
        if self._pos == len(self._data):
            self._data = chunk
        else:
            self._data = self._data[self._pos :] + chunk
        self._pos = 0
        return True

    def _buffered(self) -> int:
        return len(self._data) - self._pos

    def _take(self, n: int) -> bytes:
        """Hand out up to ``n`` buffered bytes, fed to the body's framing on the way."""
        data, pos, end = self._advance(n)
        return data if pos == 0 and end == len(data) else data[pos:end]

    def _take_view(self, n: int) -> bytes | memoryview:
        """:meth:`_take` for a part of a longer read: the buffer, or a view of part of it, not a copy."""
        data, pos, end = self._advance(n)
        return data if pos == 0 and end == len(data) else memoryview(data)[pos:end]

    def _advance(self, n: int) -> tuple[bytes, int, int]:
        """Move past up to ``n`` buffered bytes, fed to the body's framing: the buffer and their range."""
        data, pos = self._data, self._pos
        end = min(pos + n, len(data))
        self._pos = end
        self.framing.feed(data, pos, end)
        return data, pos, end

    def body_reader(self) -> BodyReader:
        """The file object the response whose head was just read is read from."""
        return BodyReader(self)


class BodyReader:
    """The file object a response body is read from: what ``sock.makefile("rb")`` gives http.client.

    ``read``, ``read1``, ``readinto``, ``readline`` and ``peek`` behave as a
    buffered reader's (a read returns what was asked for unless the stream
    ends; a negative size other than -1 is a ValueError, as for
    ``io.BufferedReader``: a chunk size of ``-5`` fails at once), over the
    connection's buffer, which feeds every byte handed out to the body's
    framing. (The reader refers to its connection, never the other way
    round: no reference cycle for the garbage collector to find.)
    """

    __slots__ = ("_conn", "closed")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.closed = False

    def read(self, n: int | None = -1) -> bytes:
        conn = self._conn
        if n is None or n == -1:
            parts = [conn._take_view(conn._buffered())]
            while conn._fill():
                parts.append(conn._take_view(conn._buffered()))
            return b"".join(parts)
        if n < 0:
            raise ValueError("read length must be non-negative or -1")
        if conn._buffered() >= n:
            return conn._take(n)
        parts = []  # views of the buffers received, joined in one copy
        wanted = n
        while wanted > 0 and (conn._buffered() or conn._fill()):
            part = conn._take_view(wanted)
            parts.append(part)
            wanted -= len(part)
        return b"".join(parts)  # one bytes part is returned as it is, not copied

    def read1(self, n: int = -1) -> bytes:
        conn = self._conn
        if n is not None and n < -1:
            raise ValueError("read length must be non-negative or -1")
        if not conn._buffered() and not conn._fill():
            return b""
        return conn._take(conn._buffered() if n is None or n < 0 else n)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def peek(self, n: int = 0) -> bytes:
        conn = self._conn
        if not conn._buffered():
            conn._fill()
        return conn._data[conn._pos :]

    def readline(self, limit: int = -1) -> bytes:
        conn = self._conn
        scanned = 0
        while True:
            data, pos = conn._data, conn._pos
            available = len(data) - pos
            newline = data.find(b"\n", pos + scanned)
            if newline >= 0 and (limit < 0 or newline + 1 - pos <= limit):
                return conn._take(newline + 1 - pos)
            if 0 <= limit <= available:
                return conn._take(limit)
            scanned = available
            if not conn._fill():
                return conn._take(available)

    def close(self) -> None:
        self.closed = True

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self._conn.sock.fileno()  # type: ignore[no-any-return]

    def readable(self) -> bool:
        return True


class HeadResponse(HeadFields, http.client.HTTPResponse):
    """http.client's response over a :class:`BodyReader`, its head already parsed.

    Everything after ``begin()`` (reading, chunked decoding, closing) is
    http.client's own code; ``msg`` is built on first use (cookie
    extraction is skipped when no Set-Cookie came). It keeps the head's
    fields, not the head: one object less for the garbage collector to
    visit per kept response.
    """

    # What it sets and http.client reads (gfetch.http11.slots).
    __slots__ = unclaimed(
        http.client.HTTPResponse,
        (
            "fp",
            "debuglevel",
            "_method",
            "url",
            "fields",
            "first",
            "message",
            "version",
            "status",
            "code",
            "reason",
            "chunked",
            "chunk_left",
            "length",
            "will_close",
            "timings",
        ),
    )

    def __init__(self, reader: BodyReader, head: ResponseHead, method: str, url: str | None = None) -> None:
        self.timings: Timings | None = None  # where its request's time went (gfetch.core.timings)
        self.fp = reader  # type: ignore[assignment]
        self.debuglevel = 0
        self._method = method
        self.url = url  # type: ignore[assignment]
        self.fields = head.fields
        self.first = head.first
        self.message = head.message
        self.version = head.version
        self.status = self.code = head.status
        self.reason = head.reason
        self.chunked = head.chunked  # type: ignore[assignment]
        self.chunk_left = None
        self.length = head.length
        self.will_close = head.will_close  # type: ignore[assignment]

    @property  # type: ignore[override]
    def msg(self) -> http.client.HTTPMessage:  # type: ignore[override]  # read-only, as urllib3's is in use
        return self.to_message()

    headers = msg  # type: ignore[assignment]

    def begin(self) -> None:
        """The head was parsed already."""

    def header_dict(self) -> CaseInsensitiveDict[str]:
        """requests' ``CaseInsensitiveDict(raw.headers)`` for this head, built in one pass.

        As through urllib3's HTTPHeaderDict: a repeated name keeps its first
        spelling and its values are joined with ", ". The store is a dict, not
        requests' OrderedDict (nothing of requests' tells them apart): once
        the garbage collector has seen that it holds strings only, it stops
        visiting it.
        """
        store: dict[str, tuple[str, str]]
        unique = self.unique_fields()
        if unique is not None:
            store = dict(unique)
        else:
            store = {}
            for name, value in self.fields:
                key = name.lower()
                seen = store.get(key)
                store[key] = (name, value) if seen is None else (seen[0], f"{seen[1]}, {value}")
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict.__new__(CaseInsensitiveDict)  # no store made
        headers._store = store  # type: ignore[attr-defined]  # requests' private store, not in its stubs
        return headers

    def holds_body(self) -> bool:
        """Whether the rest of a sized body is in the connection's buffer: reading it needs no I/O."""
        length = self.length
        fp = self.fp
        return length is not None and fp is not None and fp._conn._buffered() >= length  # type: ignore[attr-defined]

    def read_held(self) -> bytes:
        """``read()`` of a body :meth:`holds_body` found: the same bytes, the response left in
        the same state (length 0, ``fp`` closed and let go), without http.client's three read
        layers in between; a HEAD or chunked response is http.client's to read."""
        if self._method == "HEAD" or self.chunked:
            return self.read()
        fp: Any = self.fp  # holds_body: a BodyReader, and a length
        data: bytes = fp._conn._take(self.length)
        self.length = 0
        self.fp = None  # type: ignore[assignment]  # http.client's own "closed"
        fp.close()
        return data

    def sets_cookies(self) -> bool:
        """Whether the head has a Set-Cookie or Set-Cookie2 header (what cookie extraction reads)."""
        first = self.first
        if first is None:
            return True  # an odd head: let the cookie jar look for itself
        return "set-cookie" in first or "set-cookie2" in first
