"""urllib3's connections and pools on cooperative sockets: the urllib3 path.

The Green classes derive from urllib3's own (found even while a recorder has
replaced them), so plugins see this path as they see plain requests'
(gfetch.integration.patched). They hook small, stable methods (see
shared/SEAMS.md) instead of copying ``connect()`` or ``send()``:

* ``response_class``: http.client's response with a faster header parser;
* ``GreenHTTPConnectionPool._validate_conn``: connects there, as the HTTPS
  pool does;
* ``_new_conn``: a GreenSocket from gfetch's ``create_connection``, with
  urllib3's own error mapping, so requests maps errors unchanged;
* ``GreenHTTPSConnection.connect``: swaps in a GreenSSLContext for the call;
* ``QueueCls``: a pool queue whose blocking ``get`` parks the greenlet;
* ``ConnectionCls``: urllib3's, or a recorder's while one has swapped it in;
* ``GreenRetry``: backoff and Retry-After sleeps on the hub.
"""

from __future__ import annotations

import inspect
import socket
import sys
from typing import TYPE_CHECKING, Any

import urllib3.connection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family
from urllib3.util.retry import Retry

from gfetch.core.greenlets import sleep
from gfetch.core.timings import CURRENT, ConnectClock, Timings, is_ip_literal, perf_counter
from gfetch.http11.connection import require_encodable_host
from gfetch.http11.httpparse import FastHTTPResponse
from gfetch.http11.poolqueue import GreenPoolQueue
from gfetch.integration.patched import original_class
from gfetch.io.sockets import create_connection
from gfetch.io.tls import GreenSSLContext
from gfetch.io.tlscontext import TLSSettings, green_context

__all__ = [
    "POOL_CLASSES",
    "GreenHTTPConnection",
    "GreenHTTPConnectionPool",
    "GreenHTTPSConnection",
    "GreenHTTPSConnectionPool",
    "GreenRetry",
]


if TYPE_CHECKING:
    from urllib3.connection import HTTPConnection, HTTPSConnection
else:  # urllib3's own, also when gfetch is first imported inside a recorder's cassette
    HTTPConnection = original_class(urllib3.connection, "HTTPConnection")
    HTTPSConnection = original_class(urllib3.connection, "HTTPSConnection")


class _NamedAsUrllib3:
    """``str()`` as urllib3 words it, with the name of the urllib3 class extended:
    error messages read ``HTTPConnectionPool(host=...)``, as under requests."""

    def __str__(self) -> str:
        name = next(cls.__name__ for cls in type(self).__mro__ if cls.__module__.startswith("urllib3."))
        return f"{name}(host={self.host!r}, port={self.port!r})"  # type: ignore[attr-defined]


class _GreenConnectionMixin(_NamedAsUrllib3):
    """``_new_conn`` on gfetch's cooperative ``create_connection``."""

    def _new_conn(self) -> socket.socket:
        conn: Any = self
        require_encodable_host(conn._dns_host)
        # The connect's phases, for the timings of the request that gets the response (getresponse);
        # an HTTPS connection's clock runs on through the handshake (GreenHTTPSConnection.connect).
        timings = conn._gfetch_timings = Timings(perf_counter())
        clock = ConnectClock(timings, CURRENT.get(), is_ip_literal(conn.host))
        if isinstance(conn, HTTPSConnection):
            conn._gfetch_clock = clock  # type: ignore[attr-defined]
        try:
            sock = create_connection(
                (conn._dns_host, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                family=allowed_gai_family(),
                socket_options=conn.socket_options,
                resolved=clock.resolved,
            )
        except socket.gaierror as e:
            raise NameResolutionError(conn.host, conn, e) from e
        except TimeoutError as e:
            raise ConnectTimeoutError(
                conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
            ) from e
        except OSError as e:
            raise NewConnectionError(conn, f"Failed to establish a new connection: {e}") from e
        clock.connected(isinstance(conn, HTTPSConnection))
        sys.audit("http.client.connect", conn, conn.host, conn.port)
        return sock


class _GreenResponseMixin:
    """Wait for the reply before http.client builds its reader, and parse
    its head with :class:`~gfetch.http11.httpparse.FastHTTPResponse`.

    Discussion: parked inside the reader, a waiting request would hold an
    8 KiB read buffer and a greenlet stack that crosses the C reader, about
    14 KiB in all; parked here it holds neither. A timeout raises
    socket.timeout, as the reader's own read would.
    """

    response_class = FastHTTPResponse

    def getresponse(self) -> Any:
        conn: Any = self
        sock = conn.sock
        sent = perf_counter()
        # Only once a request was sent (else urllib3 raises ResponseNotReady),
        # and under the read timeout urllib3 is about to give the socket.
        if getattr(conn, "_response_options", None) is not None and hasattr(sock, "wait_for_data"):
            sock.settimeout(conn.timeout)
            sock.wait_for_data()
        response = super().getresponse()  # type: ignore[misc]
        timings = conn.__dict__.pop("_gfetch_timings", None) or Timings(sent, reused=True)
        timings.head_at = perf_counter()
        timings.wait = timings.head_at - sent
        response._original_response.timings = timings
        trace = CURRENT.get()
        if trace is not None:
            trace.emit("response.headers", status=response.status, wait=timings.wait)
        return response


class GreenHTTPConnection(_GreenResponseMixin, _GreenConnectionMixin, HTTPConnection):  # type: ignore[misc]  # the mixin's response_class is a subclass
    """urllib3's HTTPConnection on a cooperative socket."""


class GreenHTTPSConnection(_GreenResponseMixin, _GreenConnectionMixin, HTTPSConnection):  # type: ignore[misc]  # the mixin's response_class is a subclass
    """urllib3's HTTPSConnection with a cooperative TLS handshake and I/O."""

    def _green_context(self) -> GreenSSLContext:
        if self.ssl_context is not None:
            return GreenSSLContext(self.ssl_context)
        return green_context(TLSSettings(self))

    def connect(self) -> None:
        original = self.ssl_context
        original_proxy_config = self.proxy_config
        green = self._green_context()
        self.ssl_context = green  # type: ignore[assignment]
        if original_proxy_config is not None:
            proxy_context = original_proxy_config.ssl_context
            self.proxy_config = original_proxy_config._replace(
                ssl_context=GreenSSLContext(proxy_context) if proxy_context is not None else green  # type: ignore[arg-type]  # GreenSSLContext wraps an SSLContext
            )
        try:
            super().connect()
        finally:
            self.ssl_context = original
            self.proxy_config = original_proxy_config
        clock = self.__dict__.pop("_gfetch_clock", None)
        if clock is not None:
            clock.handshaken()


def _connection_class(pool_class: type, own: type, green: type) -> type:
    """``green``, or the class a recorder put in place of ``pool_class.ConnectionCls``
    (``own``, urllib3's), so that its connections record and replay gfetch's requests too."""
    current: type = pool_class.ConnectionCls  # type: ignore[attr-defined]
    return green if current is own else current


class GreenHTTPConnectionPool(_NamedAsUrllib3, HTTPConnectionPool):
    QueueCls = GreenPoolQueue

    @property
    def ConnectionCls(self) -> type:  # type: ignore[override]  # noqa: N802 - urllib3's name
        return _connection_class(HTTPConnectionPool, HTTPConnection, GreenHTTPConnection)

    def _validate_conn(self, conn: Any) -> None:
        """Connect a new connection here, as urllib3's HTTPS pool does.

        Discussion: http.client would connect it inside ``send``, five
        frames deeper, and the deepest a greenlet's frames ever reach stays
        resident for as long as it waits: 4 KiB more per waiting request.
        Errors are mapped as urllib3 maps them for HTTPS. A recorder's
        connection connects when it decides to (a replay never does).
        """
        super()._validate_conn(conn)
        if isinstance(conn, GreenHTTPConnection) and conn.is_closed:
            conn.connect()


class GreenHTTPSConnectionPool(_NamedAsUrllib3, HTTPSConnectionPool):
    QueueCls = GreenPoolQueue

    @property
    def ConnectionCls(self) -> type:  # type: ignore[override]  # noqa: N802 - urllib3's name
        return _connection_class(HTTPSConnectionPool, HTTPSConnection, GreenHTTPSConnection)


POOL_CLASSES = {"http": GreenHTTPConnectionPool, "https": GreenHTTPSConnectionPool}
_RETRY_PARAMS = [p for p in inspect.signature(Retry.__init__).parameters if p != "self"]


class GreenRetry(Retry):
    """urllib3's Retry whose backoff and Retry-After sleeps park the greenlet."""

    def sleep_for_retry(self, response: Any) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after:
            sleep(retry_after)
            return True
        return False

    def _sleep_backoff(self) -> None:
        backoff = self.get_backoff_time()
        if backoff > 0:
            sleep(backoff)

    @classmethod
    def from_retry(cls, retry: Retry) -> GreenRetry:
        """The same policy (and history) as ``retry``, sleeping cooperatively."""
        if isinstance(retry, cls):
            return retry
        return cls(**{name: getattr(retry, name) for name in _RETRY_PARAMS})
