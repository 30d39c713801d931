"""gfetch's own HTTP/1.1 connection pool: urllib3's ``urlopen`` contract, as requests calls it.

Imports urllib3 (Retry, Timeout, HTTPResponse, exceptions), gfetch.http11.connection,
gfetch.http11.parser, gfetch.http11.poolqueue, gfetch.http11.rawresponse, gfetch.core.timings and
gfetch.io.tlscontext.

``HTTPAdapter.send`` (requests' own, which ``responses`` patches) gets a
:class:`LeanPool` from ``get_connection_with_tls_context`` and calls
``urlopen(method, url, body, headers, redirect=False, assert_same_host=False,
preload_content=False, decode_content=False, retries=..., timeout=...,
chunked=...)``. The pool answers with a real ``urllib3.HTTPResponse`` (so
``r.raw`` streams, decodes gzip/deflate/br/zstd and releases its connection as
always) and fails with the exceptions urllib3 raises for the same fault, run
through the same ``Retry.increment``, so requests maps them unchanged. The
adapter only hands out a LeanPool for what it covers (see
``HTTPAdapter.lean_pool_for``); everything else goes through urllib3.

Reuse, as in urllib3: an idle connection is checked before it carries
another request (one non-blocking peek: ``Connection.acquire``), and one
that received anything while idle (bytes, the end of the stream, a reset)
is closed, never read from. Once a request has been written, it is sent
again only as the ``Retry`` allows (requests' default, ``Retry(0,
read=False)``, never does), never more often, and always on a new
connection.

Differences from urllib3, on purpose:

* a connection goes back to the pool only if its response was read exactly
  to its end, keep-alive was agreed and nothing followed (else it is
  closed; urllib3 pools it and relies on the check above): a 101 reply's
  connection is never reused;
* every interim 1xx response but 101 is skipped, up to
  ``gfetch.http11.connection.MAX_INTERIM_RESPONSES`` of them (see gfetch.http11.parser);
  http.client skips only 100 and hands any other 1xx over as the response.
"""

from __future__ import annotations

import errno
import logging
import queue
import sys
import warnings
import weakref
from collections import deque
from http.client import HTTPException
from socket import getdefaulttimeout
from ssl import SSLError as BaseSSLError
from typing import Any

from urllib3.exceptions import (
    ClosedPoolError,
    EmptyPoolError,
    HeaderParsingError,
    InsecureRequestWarning,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError
from urllib3.response import HTTPResponse
from urllib3.util.request import body_to_chunks, set_file_position
from urllib3.util.response import assert_header_parsing
from urllib3.util.retry import Retry
from urllib3.util.ssl_match_hostname import CertificateError
from urllib3.util.timeout import Timeout
from urllib3.util.url import Url, _encode_target, parse_url

from gfetch.core.timings import CURRENT, Timings, perf_counter
from gfetch.http11.connection import Connection, HeadResponse
from gfetch.http11.parser import METHODS_WITHOUT_BODY, ResponseHead, encode_request
from gfetch.http11.poolqueue import GreenPoolQueue
from gfetch.http11.rawresponse import new_raw_response
from gfetch.io.tlscontext import TLSSettings

__all__ = ["IdleConnections", "LeanPool"]

log = logging.getLogger("urllib3.connectionpool")  # urllib3's own loggers and records
connection_log = logging.getLogger("urllib3.connection")

_SWALLOWED_SEND_ERRNOS = {errno.EPROTOTYPE, errno.ECONNRESET}  # urllib3 reads the reply anyway
_BLOCKING_ERRNOS = {errno.EAGAIN, errno.EWOULDBLOCK}
_SMALL_BODY = 65536  # sent in the same write as the head
# What urllib3's _encode_target leaves alone ("%" excluded: it upper-cases escapes).
_TARGET_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?")
# What urllib3's urlopen catches and runs through Retry.increment.
_RETRYABLE = (
    Urllib3TimeoutError,
    HTTPException,
    OSError,
    ProtocolError,
    BaseSSLError,
    SSLError,
    CertificateError,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DEFAULT_TIMEOUT: Any = Timeout.DEFAULT_TIMEOUT


class LeanPool:
    """Keep-alive connections to one origin and TLS configuration.

    ``maxsize`` connections are kept idle; with ``block`` no more than
    ``maxsize`` exist and a request waits (cooperatively) for one, as in
    urllib3. Thread-safe in the way urllib3's pool is: a pool may be shared by
    threads, a connection is used by one request at a time.
    """

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        tls: TLSSettings | None,
        maxsize: int,
        block: bool,
        user_agent: str,
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.tls = tls
        self.block = block
        # Blocking pools wait cooperatively, across threads too; the others never wait.
        self.pool: GreenPoolQueue | IdleConnections | None = (
            GreenPoolQueue(maxsize) if block else IdleConnections(maxsize)
        )
        if block:
            for _ in range(maxsize):
                self.pool.put(None)
        # As urllib3 does: a pool dropped without close() still closes its idle connections.
        weakref.finalize(self, _close_idle, self.pool)
        host_text = host.rstrip(".")
        if ":" in host_text:
            host_text = f"[{host_text}]"
        self._host_header = host_text if port == _DEFAULT_PORTS[scheme] else f"{host_text}:{port}"
        self._user_agent = user_agent
        self.num_connections = 0  # connections opened, as urllib3 counts them

    def __str__(self) -> str:
        kind = "HTTPSConnectionPool" if self.tls is not None else "HTTPConnectionPool"
        return f"{kind}(host={self.host!r}, port={self.port!r})"

    __repr__ = __str__

    # -- connections --------------------------------------------------------
    def _get_conn(self, fresh: bool = False) -> Connection | None:
        """An idle connection that received nothing while idle, or None for a new one
        (always None when ``fresh``: a request sent again goes on a new connection)."""
        pool = self.pool
        if pool is None:
            raise ClosedPoolError(self, "Pool is closed.")  # type: ignore[arg-type]
        while True:
            try:
                conn = pool.get(block=self.block)
            except queue.Empty:
                if self.block:
                    raise EmptyPoolError(
                        self,  # type: ignore[arg-type]  # a pool, not one of urllib3's
                        "Pool is empty and a new connection can't be opened due to blocking mode.",
                    ) from None
                return None  # beyond maxsize: a connection that will not be kept
            if conn is None:
                return None
            if fresh:
                conn.close()
                return None  # its slot, for a new one
            if conn.acquire():
                return conn
            pool.put(None, block=False)  # it was closed: its slot is free; try the next idle one

    def _acquire(self, fresh: bool) -> Connection:
        """A connection for one attempt (:meth:`_get_conn`, else a new one), with the attempt's
        Timings and its trace (if its Session has a hook) on it."""
        started = perf_counter()
        conn = self._get_conn(fresh)
        reused = conn is not None
        if conn is None:
            conn = self._new_conn()
        timings = conn.timings = Timings(started, reused)
        timings.blocked = perf_counter() - started
        trace = conn.trace = CURRENT.get()
        if trace is not None:
            trace.emit("connection.acquired", reused=reused, blocked=timings.blocked)
        return conn

    def _new_conn(self) -> Connection:
        """A new connection, not yet open, counted and logged as urllib3's ``_new_conn`` does."""
        self.num_connections += 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "Starting new %s connection (%d): %s:%s",
                "HTTPS" if self.tls is not None else "HTTP",
                self.num_connections,
                self.host,
                self.port,
            )
        return Connection(self.host, self.port, self.tls)

    def _put_conn(self, conn: Connection | None) -> None:
        """Take back a connection (urllib3's name: HTTPResponse.release_conn calls it)."""
        if conn is not None and not conn.release():
            conn = None
        pool = self.pool
        if pool is not None:
            try:
                pool.put(conn, block=False)
                return
            except queue.Full:
                log.warning(
                    "Connection pool is full, discarding connection: %s. Connection pool size: %s",
                    self.host,
                    pool.qsize(),
                )
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close the idle connections; those in use close when their responses release them."""
        pool, self.pool = self.pool, None
        if pool is not None:
            _close_idle(pool)

    # -- a request ------------------------------------------------------------
    def urlopen(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: Any = None,
        retries: Any = None,
        redirect: bool = True,
        assert_same_host: bool = True,
        timeout: Any = None,
        pool_timeout: Any = None,
        release_conn: Any = None,
        chunked: bool = False,
        body_pos: Any = None,
        preload_content: bool = True,
        decode_content: bool = True,
        **response_kw: Any,
    ) -> HTTPResponse:
        """Send one request and return its response, its body unread unless ``preload_content``.

        Raises what urllib3's ``HTTPConnectionPool.urlopen`` raises for the
        same fault (``MaxRetryError`` for connection failures, ``ProtocolError``
        and ``ReadTimeoutError`` for failures after connecting, ...).
        """
        if not isinstance(retries, Retry):
            retries = Retry.from_int(retries, redirect=redirect, default=Retry.DEFAULT)
        if not isinstance(timeout, Timeout):
            timeout = Timeout.from_float(timeout)
        if timeout.total is not None:
            timeout = timeout.clone()
            timeout.start_connect()
        headers = headers if headers is not None else {}
        if not url.startswith("/"):
            url = parse_url(url).url
        elif not _TARGET_SAFE.issuperset(url):
            url = _encode_target(url)
        if body is None:  # body_to_chunks' answer for no body, without the call
            chunks, length = None, (None if method.upper() in METHODS_WITHOUT_BODY else 0)
        else:
            chunks, length = body_to_chunks(body, method=method, blocksize=16384)
        head, chunked = encode_request(
            method, url, headers, self._host_header, self._user_agent, length, chunks is not None, chunked
        )
        if body is not None or body_pos is not None:  # else set_file_position answers None
            body_pos = set_file_position(body, body_pos)
        fresh = False
        while True:
            try:
                return self._exchange(
                    method,
                    url,
                    head,
                    chunks,
                    chunked,
                    timeout,
                    retries,
                    preload_content,
                    decode_content,
                    fresh,
                )
            except _RETRYABLE as e:
                new_e: Exception = e
                if isinstance(e, (BaseSSLError, CertificateError)):
                    new_e = SSLError(e)
                elif isinstance(e, (OSError, HTTPException)):
                    new_e = ProtocolError("Connection aborted.", e)
                retries = retries.increment(  # type: ignore[arg-type]
                    method, url, error=new_e, _pool=self, _stacktrace=sys.exc_info()[2]
                )
                retries.sleep()
                fresh = True
                if body_pos is not None:  # a file body is read again from where it began, as urllib3 does
                    set_file_position(body, body_pos)
                    chunks = body_to_chunks(body, method=method, blocksize=16384).chunks

    def _exchange(
        self,
        method: str,
        url: str,
        head: bytes,
        chunks: Any,
        chunked: bool,
        timeout: Timeout,
        retries: Retry,
        preload_content: bool,
        decode_content: bool,
        fresh: bool,
    ) -> HTTPResponse:
        """One attempt: a connection, the request, the response head.

        Discussion: a request waits for its reply under this frame; what it
        measures lives on the connection's Timings, not in locals, so the
        frame stays small (tests/test_waiting_footprint.py).
        """
        conn = self._acquire(fresh)
        handed_over = False
        try:
            connect_timeout: Any = timeout.connect_timeout
            if connect_timeout is _DEFAULT_TIMEOUT:  # Timeout.resolve_default_timeout, without the call
                connect_timeout = getdefaulttimeout()
            if conn.sock is None:
                self._connect(conn, url, connect_timeout)
            if self.tls is not None and not conn.verified:
                warnings.warn(
                    f"Unverified HTTPS request is being made to host '{self.host.rstrip('.')}'. Adding "
                    "certificate verification is strongly advised. See: "
                    "https://urllib3.readthedocs.io/en/latest/advanced-usage.html#tls-warnings",
                    InsecureRequestWarning,
                    stacklevel=1,  # where urllib3 warns it, so filters match alike
                )
            conn.sock.settimeout(connect_timeout)
            self._send(conn, head, chunks, chunked)
            read_timeout = timeout.read_timeout  # once: with a total, it shrinks as time passes
            if read_timeout != connect_timeout:  # (the same value, as usual: the socket has it)
                conn.sock.settimeout(read_timeout)
            head_ = self._read_head(conn, method, url, read_timeout)
            if head_.message is not None:  # a head the email parser read: it may have defects
                self._check_header_parsing(head_, url)
            original = HeadResponse(conn.body_reader(), head_, method, url)
            original.timings = conn.timings
            response = new_raw_response(
                original,
                head_,
                preload_content,
                decode_content,
                original,
                self,
                conn,
                retries,
                method,
                url,
                conn.sock_shutdown,
            )
            handed_over = True
        finally:
            if not handed_over:
                conn.close()
                self._put_conn(None)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                '%s://%s:%s "%s %s %s" %s %s',
                self.scheme,
                self.host,
                self.port,
                method,
                url,
                response.version_string,
                response.status,
                response.length_remaining,
            )
        return response

    def _connect(self, conn: Connection, url: str, connect_timeout: float | None) -> None:
        """Connect as urllib3's ``_make_request`` does: a stalled TLS handshake is a read timeout,
        a failed one urllib3's SSLError raised while handling it (so the ssl error is its context)."""
        try:
            conn.connect(connect_timeout)
        except (TimeoutError, BaseSSLError, CertificateError) as e:
            self._raise_if_timeout(e, url, connect_timeout)
            raise SSLError(e)  # noqa: B904

    def _send(self, conn: Connection, head: bytes, chunks: Any, chunked: bool) -> None:
        timings = conn.timings
        sending = perf_counter()
        self._write(conn, head, chunks, chunked)
        timings.sent = perf_counter()  # type: ignore[union-attr]  # _acquire set them
        timings.send = timings.sent - sending  # type: ignore[union-attr]
        if conn.trace is not None:
            conn.trace.emit("request.sent", send=timings.send)  # type: ignore[union-attr]

    def _write(self, conn: Connection, head: bytes, chunks: Any, chunked: bool) -> None:
        try:
            if chunks is None:
                # urllib3 ends a chunked request with the last chunk, body or not.
                conn.send(head + b"0\r\n\r\n" if chunked else head)
            elif type(chunks) is tuple and not chunked and len(chunks[0]) <= _SMALL_BODY:
                conn.send(head + bytes(chunks[0]))
            else:
                conn.send(head)
                _send_body(conn, chunks, chunked)
        except OSError as e:
            if not isinstance(e, BrokenPipeError) and e.errno not in _SWALLOWED_SEND_ERRNOS:
                raise
            # The server may close after a complete reply: read it, as urllib3 does.

    def _read_head(self, conn: Connection, method: str, url: str, read_timeout: Any) -> ResponseHead:
        try:
            return conn.read_head(method)
        except (BaseSSLError, OSError, HTTPException) as e:
            self._raise_if_timeout(e, url, read_timeout)
            raise

    def _check_header_parsing(self, head: ResponseHead, url: str) -> None:
        """urllib3's warning for a head whose lines the email parser could not all read
        (a line without a name or colon): the headers are what they are, as in urllib3."""
        try:
            assert_header_parsing(head.message)  # type: ignore[arg-type]  # not None here
        except (HeaderParsingError, TypeError) as e:
            scheme = "https" if self.tls is not None else "http"
            connection_log.warning(
                "Failed to parse headers (url=%s): %s",
                Url(scheme=scheme, host=self.host, port=self.port, path=url).url,
                e,
                exc_info=True,
            )

    def _raise_if_timeout(self, error: BaseException, url: str, timeout_value: Any) -> None:
        """urllib3's ``_raise_timeout``: a socket timeout (or EAGAIN) becomes ReadTimeoutError."""
        if isinstance(error, TimeoutError) or getattr(error, "errno", None) in _BLOCKING_ERRNOS:
            raise ReadTimeoutError(self, url, f"Read timed out. (read timeout={timeout_value})") from error  # type: ignore[arg-type]


class IdleConnections:
    """The slots of a pool that never waits: idle connections (LIFO) and free slots.

    The same contract as the queue urllib3 fills with ``maxsize`` Nones:
    ``get`` hands out an idle connection, else None for a free slot (open
    one), else raises ``queue.Empty`` (open one that will not be kept);
    ``put`` takes a connection (or None: the slot is free again) back, or
    raises ``queue.Full``. Idle connections are handed out before free slots,
    so a warm connection is never passed over for a new one. Only atomic
    deque operations are used: safe across threads without a lock (the
    count may pass ``maxsize`` by a connection in a race, harmlessly).
    """

    __slots__ = ("maxsize", "_idle", "_free")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._idle: deque[Connection] = deque()
        self._free: deque[None] = deque([None] * maxsize)

    def get(self, block: bool = False) -> Connection | None:
        try:
            return self._idle.pop()
        except IndexError:
            pass
        try:
            return self._free.pop()
        except IndexError:
            raise queue.Empty from None

    def put(self, conn: Connection | None, block: bool = False) -> None:
        if len(self._idle) + len(self._free) >= self.maxsize:
            raise queue.Full
        if conn is None:
            self._free.append(None)
        else:
            self._idle.append(conn)

    def qsize(self) -> int:
        return len(self._idle) + len(self._free)

    def release_getters(self) -> None:
        """Nobody waits on this kind of pool."""


def _close_idle(pool: GreenPoolQueue | IdleConnections) -> None:
    try:
        while True:
            conn = pool.get(block=False)
            if conn is not None:
                conn.close()
    except queue.Empty:
        pass
    pool.release_getters()


def _send_body(conn: Connection, chunks: Any, chunked: bool) -> None:
    """urllib3's body loop: str chunks as UTF-8, empty chunks skipped, chunked framing."""
    for chunk in chunks:
        if not chunk:
            continue
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        if chunked:
            conn.send(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        else:
            conn.send(chunk)
    if chunked:
        conn.send(b"0\r\n\r\n")
