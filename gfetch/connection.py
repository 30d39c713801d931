"""One HTTP/1.1 keep-alive connection of gfetch's own pool, and its response reader.

Layer 3. Imports urllib3 (exceptions, the TLS handshake helper), requests (its header
dict), gfetch.http1, gfetch.sockets and gfetch.tlscontext.

A :class:`Connection` owns a cooperative socket (plain or TLS) and one
receive buffer. It sends a request head and body, reads the response head
with :func:`gfetch.http1.parse_response_head`, and hands the body to
http.client's own ``HTTPResponse`` reading code through :class:`BodyReader`,
the file object that response reads from. So chunked decoding,
Content-Length accounting, ``IncompleteRead`` and everything urllib3 does on
top (decoding, streaming, chunk boundaries) are the standard library's and
urllib3's, byte for byte; what is gone is the per-request ``makefile``, the
line-by-line head reading, the email parser and a syscall or three.

The reader also tracks whether the response was read to its end: only then,
with no ``Connection: close`` and nothing unread in the buffer, may the
connection serve another request (:meth:`Connection.reusable`).
"""

from __future__ import annotations

import http.client
import socket
import sys
from collections import OrderedDict
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

from gfetch.http1 import ResponseHead, preferred_head_parser
from gfetch.sockets import create_connection
from gfetch.tlscontext import TLSSettings, green_context

__all__ = ["BodyReader", "Connection", "HeadResponse", "require_encodable_host"]


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

_RECV_SIZE = 65536
_SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT
parse_response_head = preferred_head_parser()  # GFETCH_PARSER=httptools picks httptools'


class Connection:
    """A connection to one origin. ``str()`` reads like urllib3's, for error messages."""

    __slots__ = ("host", "port", "tls", "sock", "verified", "served", "complete", "will_close",
                 "_data", "_pos", "_eof")

    def __init__(self, host: str, port: int, tls: TLSSettings | None) -> None:
        self.host = host  # as the pool has it: a trailing dot kept for DNS
        self.port = port
        self.tls = tls
        self.sock: Any = None
        self.verified = False  # the server's certificate was verified
        self.served = 0  # responses begun on this connection
        self.complete = False  # the current response was read to its end
        self.will_close = False  # ... and said it is the last one
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
        try:
            sock = create_connection(
                (self.host, self.port), timeout, family=allowed_gai_family(), socket_options=_SOCKET_OPTIONS  # type: ignore[arg-type]  # int is an int | bytes
            )
        except socket.gaierror as e:
            raise NameResolutionError(host, self, e) from e  # type: ignore[arg-type]
        except TimeoutError as e:
            message = f"Connection to {host} timed out. (connect timeout={timeout})"
            raise ConnectTimeoutError(self, message) from e
        except OSError as e:
            raise NewConnectionError(self, f"Failed to establish a new connection: {e}") from e  # type: ignore[arg-type]
        sys.audit("http.client.connect", self, host, self.port)
        self.sock = sock
        if self.tls is not None:
            tls = self.tls
            # urllib3's own handshake and hostname checks, on a cooperative context.
            self.sock, self.verified = _ssl_wrap_socket_and_match_hostname(
                sock, cert_reqs=tls.cert_reqs, ssl_version=None, ssl_minimum_version=None,
                ssl_maximum_version=None, ca_certs=tls.ca_certs, ca_cert_dir=tls.ca_cert_dir,
                ca_cert_data=None, cert_file=None, key_file=None, key_password=None, server_hostname=host,
                ssl_context=green_context(tls), tls_in_tls=False, assert_hostname=None,  # type: ignore[arg-type]
                assert_fingerprint=None,
            )

    # -- state --------------------------------------------------------------
    def dropped(self) -> bool:
        """Whether the peer closed (or wrote to) this idle connection: urllib3's check."""
        raw = getattr(self.sock, "_sock", self.sock)  # under TLS, the TCP socket
        try:
            socket.socket.recv(raw, 1, _PEEK)  # data or EOF: either way not idle any more
            return True
        except BlockingIOError:
            return False
        except OSError:
            return True

    def reusable(self) -> bool:
        """Whether the last response was read to its end and the connection may serve another."""
        return (
            self.sock is not None and self.complete and not self.will_close and not self._eof
            and self._pos == len(self._data)
        )

    def close(self) -> None:
        sock, self.sock = self.sock, None
        self._data = b""
        self._pos = 0
        if sock is not None:
            sock.close()

    # -- sending ------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    # -- receiving ----------------------------------------------------------
    def read_head(self, method: str) -> ResponseHead:
        """Read the response head (parking the greenlet under the socket's timeout).

        Discussion: it receives itself rather than through ``_fill``, one
        frame less under the park where a request spends its wait. With
        nothing buffered, the request was just sent and its reply is rarely
        there yet: it waits before the first read instead of failing one.
        """
        self._data = self._data[self._pos:]
        self._pos = 0
        if not self._data and not self._eof:
            self.sock.wait_for_data()
        while True:
            if self._data or self._eof:
                parsed = parse_response_head(self._data, method, self._eof)
                if parsed is not None:
                    head, self._pos = parsed
                    self.served += 1
                    self.complete = False
                    return head
            chunk = self.sock.recv(_RECV_SIZE)
            if chunk:
                self._data = self._data + chunk if self._data else chunk
            else:
                self._eof = True

    def _fill(self) -> bool:
        """Receive more bytes into the buffer; False at the end of the stream."""
        chunk = self.sock.recv(_RECV_SIZE)
        if not chunk:
            self._eof = True
            return False
        if self._pos == len(self._data):
            self._data = chunk
        else:
            self._data = self._data[self._pos:] + chunk
        self._pos = 0
        return True

    def _buffered(self) -> int:
        return len(self._data) - self._pos

    def _take(self, n: int) -> bytes:
        data, pos = self._data, self._pos
        end = min(pos + n, len(data))
        self._pos = end
        if pos == 0 and end == len(data):
            return data
        return data[pos:end]

    def body_reader(self, head: ResponseHead) -> BodyReader:
        """The file object the response to ``head`` is read from."""
        self.will_close = head.will_close
        return BodyReader(self, head)


class BodyReader:
    """The file object a response body is read from: what ``sock.makefile("rb")`` gives http.client.

    ``read``, ``read1``, ``readinto``, ``readline`` and ``peek`` behave as a
    buffered reader's (a read returns what was asked for unless the stream
    ends), over the connection's buffer. The connection's ``complete``
    becomes true when the message framing says the response has been read to
    its end. (The reader refers to its connection, never the other way
    round: no reference cycle for the garbage collector to find.)
    """

    __slots__ = ("_conn", "closed", "_remaining", "_chunk_state")

    def __init__(self, conn: Connection, head: ResponseHead) -> None:
        self._conn = conn
        self.closed = False
        self._remaining = head.length if not head.chunked else None
        # Chunked: every readline() of the reader is a chunk-size or trailer line.
        self._chunk_state = "size" if head.chunked else None
        conn.complete = self._remaining == 0

    def _count(self, data: bytes) -> bytes:
        if self._remaining is not None:
            self._remaining -= len(data)
            if self._remaining <= 0:
                self._conn.complete = True
        return data

    def read(self, n: int | None = -1) -> bytes:
        conn = self._conn
        if n is None or n < 0:
            parts = [conn._take(conn._buffered())]
            while conn._fill():
                parts.append(conn._take(conn._buffered()))
            return self._count(b"".join(parts))
        if conn._buffered() >= n:
            return self._count(conn._take(n))
        parts = []
        wanted = n
        while wanted > 0 and (conn._buffered() or conn._fill()):
            part = conn._take(wanted)
            parts.append(part)
            wanted -= len(part)
        return self._count(parts[0] if len(parts) == 1 else b"".join(parts))

    def read1(self, n: int = -1) -> bytes:
        conn = self._conn
        if not conn._buffered() and not conn._fill():
            return b""
        return self._count(conn._take(conn._buffered() if n is None or n < 0 else n))

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def peek(self, n: int = 0) -> bytes:
        conn = self._conn
        if not conn._buffered():
            conn._fill()
        return conn._data[conn._pos:]

    def readline(self, limit: int = -1) -> bytes:
        conn = self._conn
        scanned = 0
        while True:
            data, pos = conn._data, conn._pos
            available = len(data) - pos
            newline = data.find(b"\n", pos + scanned)
            if newline >= 0 and (limit < 0 or newline + 1 - pos <= limit):
                line = conn._take(newline + 1 - pos)
                break
            if 0 <= limit <= available:
                line = conn._take(limit)
                break
            scanned = available
            if not conn._fill():
                line = conn._take(available)
                break
        self._observe_line(line)
        return self._count(line)

    def _observe_line(self, line: bytes) -> None:
        state = self._chunk_state
        if state == "size":
            try:
                if int(line.split(b";", 1)[0], 16) == 0:
                    self._chunk_state = "trailer"
            except ValueError:
                self._chunk_state = "broken"
        elif state == "trailer" and line in (b"\r\n", b"\n"):
            self._chunk_state = "done"
            self._conn.complete = True

    def close(self) -> None:
        self.closed = True

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self._conn.sock.fileno()  # type: ignore[no-any-return]

    def readable(self) -> bool:
        return True


class HeadResponse(http.client.HTTPResponse):
    """http.client's response over a :class:`BodyReader`, its head already parsed.

    Everything after ``begin()`` (reading, chunked decoding, closing) is
    http.client's own code; ``msg`` is built on first use (cookie
    extraction is skipped when no Set-Cookie came).
    """

    def __init__(self, reader: BodyReader, head: ResponseHead, method: str, url: str | None = None) -> None:
        self.fp = reader  # type: ignore[assignment]
        self.debuglevel = 0
        self._method = method
        self.url = url  # type: ignore[assignment]
        self._head = head
        self.version = head.version
        self.status = self.code = head.status
        self.reason = head.reason
        self.chunked = head.chunked  # type: ignore[assignment]
        self.chunk_left = None
        self.length = head.length
        self.will_close = head.will_close  # type: ignore[assignment]

    @property  # type: ignore[override]
    def msg(self) -> http.client.HTTPMessage:  # type: ignore[override]  # read-only, as urllib3's is in use
        return self._head.to_message()

    headers = msg  # type: ignore[assignment]

    def begin(self) -> None:
        """The head was parsed already."""

    def header_dict(self) -> CaseInsensitiveDict[str]:
        """requests' ``CaseInsensitiveDict(raw.headers)`` for this head, built in one pass.

        As through urllib3's HTTPHeaderDict: a repeated name keeps its first
        spelling and its values are joined with ", ".
        """
        head = self._head
        store: OrderedDict[str, tuple[str, str]]
        unique = head.unique_fields()
        if unique is not None:
            store = OrderedDict(unique)
        else:
            store = OrderedDict()
            for name, value in head.fields:
                key = name.lower()
                seen = store.get(key)
                store[key] = (name, value) if seen is None else (seen[0], f"{seen[1]}, {value}")
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict.__new__(CaseInsensitiveDict)  # no store made
        headers._store = store
        return headers

    def sets_cookies(self) -> bool:
        """Whether the head has a Set-Cookie or Set-Cookie2 header (what cookie extraction reads)."""
        head = self._head
        if head.first is None:
            return True  # an odd head: let the cookie jar look for itself
        return "set-cookie" in head.first or "set-cookie2" in head.first
