"""urllib3 connections and pools on cooperative sockets, and the requests adapter.

Layer 3. The only module that subclasses urllib3 and requests classes. It
hooks small, stable methods (see shared/SEAMS.md) instead of copying
``connect()`` or ``send()``:

* ``response_class``: http.client's response with a faster header parser;
* ``GreenHTTPConnectionPool._validate_conn``: connects there, as the HTTPS
  pool does;
* ``_new_conn``: a GreenSocket from gfetch's ``create_connection``, with
  urllib3's own error mapping, so requests maps errors unchanged;
* ``GreenHTTPSConnection.connect``: swaps in a GreenSSLContext for the call;
* ``QueueCls``: a pool queue whose blocking ``get`` parks the greenlet;
* ``GreenRetry``: backoff and Retry-After sleeps on the hub;
* ``HTTPAdapter``: sets those classes on its (per-instance) managers and
  never overrides ``send``, which ``responses`` patches.

Plugins see this path as they see plain requests' (gfetch.patched): the
Green classes derive from urllib3's own (found even while a recorder has
replaced them), inherit whatever a tracer wraps on urllib3's and
http.client's classes, and the pools build the recorder's connections
while a recorder has swapped urllib3's ``ConnectionCls``. While anything
of urllib3 or http.client is patched, gfetch's own pool is left aside.
"""

from __future__ import annotations

import inspect
import os
import socket
import sys
import warnings
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import requests
import requests.adapters
import urllib3.connection
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_encoding_from_headers, select_proxy
from urllib3 import PoolManager, ProxyManager
from urllib3.connection import _get_default_user_agent
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family
from urllib3.util.retry import Retry
from urllib3.util.url import _normalize_host

from gfetch.connection import HeadResponse, require_encodable_host
from gfetch.cookiejar import empty_jar
from gfetch.greenlets import sleep
from gfetch.httpparse import FastHTTPResponse
from gfetch.patched import original_class, urllib3_as_shipped
from gfetch.pool import LeanPool
from gfetch.poolqueue import GreenPoolQueue
from gfetch.rawresponse import built_alike
from gfetch.sockets import create_connection
from gfetch.timings import CURRENT, ConnectClock, Timings, is_ip_literal, perf_counter
from gfetch.tls import GreenSSLContext
from gfetch.tlscontext import TLSSettings, green_context
from gfetch.urls import canonical_path_url, is_canonical

__all__ = [
    "GreenHTTPConnection",
    "GreenHTTPConnectionPool",
    "GreenHTTPSConnection",
    "GreenHTTPSConnectionPool",
    "GreenPoolQueue",
    "GreenRetry",
    "HTTPAdapter",
    "make_cooperative",
    "sets_no_cookies",
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
    its head with :class:`~gfetch.httpparse.FastHTTPResponse`.

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


_POOL_CLASSES = {"http": GreenHTTPConnectionPool, "https": GreenHTTPSConnectionPool}
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


TRANSPORTS = ("auto", "urllib3")
# The pool options init_poolmanager sets itself; any other (an ssl_context,
# socket_options, ...) was added by the user for urllib3: leave it to urllib3.
_OWN_POOL_OPTIONS = frozenset({"maxsize", "block"})
_MAX_ORIGINS = 10_000


def sets_no_cookies(raw: Any) -> bool:
    """Whether ``raw`` (a urllib3 response) came from gfetch's pool with no
    Set-Cookie header: requests' ``extract_cookies_to_jar`` would find nothing."""
    original = getattr(raw, "_original_response", None)
    return type(original) is HeadResponse and not original.sets_cookies()


class HTTPAdapter(requests.adapters.HTTPAdapter):
    """requests' HTTPAdapter on cooperative connections: gfetch's own pool, else urllib3's.

    Defaults are sized for fan-out: up to ``pool_maxsize`` (100) keep-alive
    connections per host and ``pool_connections`` (100) host pools. With
    ``pool_block=True`` a request waiting for a free connection parks only
    its greenlet. Integer or plain ``Retry`` ``max_retries`` become
    :class:`GreenRetry`, so backoff never blocks the hub.

    ``transport="auto"`` (the default, or the ``GFETCH_TRANSPORT``
    environment variable) sends plain http and https requests through
    gfetch's own HTTP/1.1 pool (:class:`gfetch.pool.LeanPool`) and the rest
    through urllib3: see :meth:`lean_pool_for`. ``"urllib3"`` sends
    everything through urllib3.
    """

    __attrs__ = [*requests.adapters.HTTPAdapter.__attrs__, "transport"]
    # requests' __init__ and __setstate__ set these; its stubs leave them out.
    _pool_connections: int
    _pool_maxsize: int
    _pool_block: bool

    def __init__(
        self,
        pool_connections: int = 100,
        pool_maxsize: int = 100,
        max_retries: int | Retry | None = 0,
        pool_block: bool = False,
        transport: str | None = None,
    ) -> None:
        self.transport = _transport(transport)
        super().__init__(pool_connections, pool_maxsize, max_retries or 0, pool_block)
        self.max_retries = GreenRetry.from_retry(self.max_retries)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)  # type: ignore[misc]  # requests defines it; its stubs do not
        self.transport = _transport(state.get("transport"))
        self.max_retries = GreenRetry.from_retry(self.max_retries)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        # A new dict: PoolManager binds urllib3's module-level one, and
        # mutating that would change every PoolManager in the process.
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        self._tls_settings: dict[Any, TLSSettings] = {}

    # -- choosing the pool ------------------------------------------------------
    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        """gfetch's own pool when :meth:`lean_pool_for` has one, else urllib3's, as requests does."""
        pool = self.lean_pool_for(request, verify, proxies, cert)
        if pool is not None:
            return pool
        return super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)

    def lean_pool_for(self, request: Any, verify: Any, proxies: Any, cert: Any) -> LeanPool | None:
        """The LeanPool for this request, or None when urllib3 must send it.

        gfetch's pool takes http and https requests sent directly (no proxy),
        without a client certificate, with requests' default ``max_retries``
        (0, or any Retry without retries that has no ``status_forcelist``),
        on an adapter whose urllib3 pool options were not customised, while
        no plugin has patched urllib3 or http.client (gfetch.patched).
        """
        retries = self.max_retries
        if (
            self.transport != "auto" or cert is not None or retries.total != 0 or retries.status_forcelist
            or self.poolmanager.connection_pool_kw.keys() - _OWN_POOL_OPTIONS
            or (proxies and select_proxy(request.url, proxies))
            or not urllib3_as_shipped()  # a plugin watches urllib3 or http.client: let it see this one
        ):
            return None
        origin = _origin(request.url)
        if origin is None:
            return None
        scheme, host, port = origin
        tls = self._tls_for(verify) if scheme == "https" else None
        # Kept among urllib3's pools (under keys of their own): one LRU of
        # ``pool_connections`` origins, closed by close() and counted as
        # requests counts them.
        key = ("gfetch", scheme, host, port, verify if tls is not None else None)
        pools = self.poolmanager.pools
        pool = pools.get(key)  # type: ignore[call-overload]  # our own key type
        if pool is None:
            pool = pools[key] = LeanPool(  # type: ignore[index,assignment]  # PoolManager.pools keyed by our tuple
                scheme, host, port, tls, self._pool_maxsize, self._pool_block, _USER_AGENT)
        return pool  # type: ignore[no-any-return]

    def _tls_for(self, verify: Any) -> TLSSettings:
        """requests' ``cert_verify`` decisions for ``verify``, checked once per value."""
        settings = self._tls_settings.get(verify)
        if settings is None:
            if not verify:
                settings = TLSSettings(cert_reqs="CERT_NONE", checks_hostname=False)
            else:
                location = DEFAULT_CA_BUNDLE_PATH if verify is True else verify
                if not location or not os.path.exists(location):
                    raise OSError(
                        f"Could not find a suitable TLS CA certificate bundle, invalid path: {location}")
                location = os.path.expanduser(location)
                in_dir = os.path.isdir(location)
                settings = TLSSettings(cert_reqs="CERT_REQUIRED", ca_certs=None if in_dir else location,
                                       ca_cert_dir=location if in_dir else None, checks_hostname=False)
            self._tls_settings[verify] = settings
        return settings

    def request_url(self, request: Any, proxies: Any) -> str:
        """requests' choice of request target; without proxies, always the path."""
        if not proxies:
            url = request.url
            return canonical_path_url(url) if is_canonical(url) else request.path_url  # type: ignore[no-any-return]
        return super().request_url(request, proxies)  # type: ignore[no-any-return]

    def build_response(self, req: Any, resp: Any) -> requests.Response:
        """requests' Response, with ``timings`` (gfetch.timings: None for a response that did
        not come from a connection of gfetch's); one of gfetch's pool without Set-Cookie skips
        the cookie jar.

        Discussion: requests' ``extract_cookies_to_jar`` wraps request and
        response in mock objects and takes the jar's lock only to find no
        Set-Cookie header: gfetch's pool knows that from the parsed head.
        """
        if not sets_no_cookies(resp):
            response = super().build_response(req, resp)
            response.timings = getattr(getattr(resp, "_original_response", None), "timings", None)  # type: ignore[attr-defined]
            return response
        original = resp._original_response
        response = _new_response(original.header_dict())
        response.status_code = resp.status
        response.encoding = _encoding(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url
        response.request = req
        response.connection = self
        response.timings = original.timings  # type: ignore[attr-defined]  # gfetch's one addition
        return response

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """requests' check for urllib3's pools; a LeanPool was checked when it was made."""
        if not isinstance(conn, LeanPool):
            super().cert_verify(conn, url, verify, cert)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        if proxy.lower().startswith("socks"):
            if proxy not in self.proxy_manager:
                from gfetch.socks import GreenSOCKSProxyManager  # it subclasses this module's classes

                self.proxy_manager[proxy] = GreenSOCKSProxyManager(
                    proxy,
                    num_pools=self._pool_connections,
                    maxsize=self._pool_maxsize,
                    block=self._pool_block,
                    **proxy_kwargs,
                )
            return self.proxy_manager[proxy]
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager

    def close(self) -> None:
        """Close every idle pooled connection now, then forget the pools.

        Discussion: urllib3 2's ``PoolManager.clear()`` only forgets its
        pools; their idle connections close when a pool is garbage
        collected. Every Response (``raw._pool``), and every exception whose
        traceback reaches one, keeps its pool alive, so after
        ``Session.close()`` a fan-out's results kept each host's idle
        keep-alive sockets open. A connection still in use is closed when
        its response releases it into the closed pool, and a request parked
        waiting for one (``pool_block``) opens its own. Managers that are not
        urllib3 PoolManagers (a test's mocks) are left to requests' own close.
        """
        managers = [self.poolmanager, *self.proxy_manager.values()]
        pools = [
            pool
            for manager in managers
            if isinstance(manager, PoolManager)
            for pool in map(manager.pools.get, manager.pools.keys())
        ]
        super().close()
        for pool in pools:
            if pool is not None:
                connections = pool.pool
                pool.close()
                if isinstance(connections, GreenPoolQueue):
                    connections.release_getters()


def make_cooperative(adapter: Any) -> None:
    """Let a requests ``HTTPAdapter`` mounted on a gfetch Session send on cooperative connections.

    requests' HTTPAdapter (and what derives from it: a Retry policy,
    toolbelt's adapters, one given a truststore context through
    ``init_poolmanager``) builds pools of blocking connections, which would
    hold the hub during every request: a fan-out through it would run one
    request at a time. This adapter instance (nothing else) gets gfetch's
    pool classes on its PoolManager and on the ProxyManagers it makes, its
    pools of another kind closed, and a Retry that sleeps on the hub; what
    it passes to its pools (``ssl_context``, ``source_address``,
    ``socket_options``) works as before. gfetch's own adapters, and adapters
    that are not requests' (a mock's), are left as they are. A manager of
    another kind (a SOCKSProxyManager, a PoolManager subclass building its
    own pools) cannot be made cooperative: gfetch warns once per adapter
    class, naming the fix.
    """
    if isinstance(adapter, HTTPAdapter) or not isinstance(adapter, requests.adapters.HTTPAdapter):
        return
    if not _cooperative_manager(adapter.poolmanager, adapter):
        return
    for manager in adapter.proxy_manager.values():
        _cooperative_manager(manager, adapter)
    adapter.max_retries = GreenRetry.from_retry(adapter.max_retries)
    make_proxy_manager = adapter.proxy_manager_for

    def proxy_manager_for(proxy: str, **proxy_kwargs: Any) -> Any:
        manager = make_proxy_manager(proxy, **proxy_kwargs)
        _cooperative_manager(manager, adapter)
        return manager

    adapter.proxy_manager_for = proxy_manager_for  # type: ignore[method-assign]  # this instance's only


def _cooperative_manager(manager: Any, adapter: Any) -> bool:
    """Give ``manager`` gfetch's pool classes, if it is a plain urllib3 Pool/ProxyManager;
    else warn (once per adapter class) and answer False."""
    if type(manager) in (PoolManager, ProxyManager):
        if manager.pool_classes_by_scheme != _POOL_CLASSES:
            manager.clear()  # pools of blocking connections, made before it was mounted
            manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return True
    kind = type(adapter)
    if kind not in _warned_adapters:
        _warned_adapters.add(kind)
        warnings.warn(
            f"{kind.__module__}.{kind.__qualname__} mounted on a gfetch.Session uses a "
            f"{type(manager).__name__}, whose blocking connections gfetch cannot make cooperative: its "
            "requests run one at a time. Derive the adapter from gfetch.HTTPAdapter instead.",
            RuntimeWarning, stacklevel=3,
        )
    return False


_warned_adapters: set[type] = set()


_USER_AGENT = _get_default_user_agent()
_origins: dict[str, tuple[str, str, int] | None] = {}


def _transport(transport: str | None) -> str:
    transport = transport or os.environ.get("GFETCH_TRANSPORT") or "auto"
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
    return transport


_encodings: dict[str | None, str | None] = {}  # Content-Type value -> requests' encoding for it
_MAX_CONTENT_TYPES = 1000


def _encoding(headers: CaseInsensitiveDict[str]) -> str | None:
    """requests' ``get_encoding_from_headers(headers)``, remembered per Content-Type value."""
    field = headers._store.get("content-type")  # type: ignore[attr-defined]  # requests' private store, not in its stubs
    content_type = None if field is None else field[1]
    try:
        return _encodings[content_type]
    except KeyError:
        pass
    encoding = get_encoding_from_headers(headers)
    if len(_encodings) >= _MAX_CONTENT_TYPES:
        _encodings.clear()
    _encodings[content_type] = encoding
    return encoding


def _new_response(headers: CaseInsensitiveDict[str]) -> requests.Response:
    """``requests.Response()`` with ``headers``: :func:`_built_response` when it
    makes what ``Response()`` makes, else ``Response()`` itself."""
    if _BUILT_AS_INIT:
        return _built_response(headers)
    response = requests.Response()
    response.headers = headers
    return response


def _built_response(headers: CaseInsensitiveDict[str]) -> requests.Response:
    """What ``Response.__init__`` sets, set directly, with ``headers``.

    Discussion: ``__init__`` builds a header dict to be replaced and an
    empty jar through ``cookiejar_from_dict`` (which iterates it), two
    thirds of its time. The attributes are set in ``__init__``'s order, so
    CPython keeps them in the class's shared-key layout.
    """
    response = requests.Response.__new__(requests.Response)
    response._content = False  # type: ignore[assignment]  # requests' "not read yet"; its stubs say bytes | None
    response._content_consumed = False  # type: ignore[attr-defined]  # private, not in requests' stubs
    response._next = None  # type: ignore[attr-defined]  # private, not in requests' stubs
    response.status_code = None  # type: ignore[assignment]  # as __init__ sets it
    response.headers = headers
    response.raw = None
    response.url = None  # type: ignore[assignment]
    response.encoding = None
    response.history = []
    response.reason = None  # type: ignore[assignment]
    response.cookies = empty_jar()
    response.elapsed = _NO_TIME
    response.request = None  # type: ignore[assignment]
    return response


def built_as_init() -> bool:
    """Whether :func:`_built_response` makes what ``requests.Response()`` does (:func:`built_alike`)."""
    return built_alike(requests.Response(), _built_response(CaseInsensitiveDict()))


_NO_TIME = timedelta(0)
_BUILT_AS_INIT = built_as_init()


def _origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of a prepared URL as urllib3 keys its pools; None: not for LeanPool.

    Cached per ``scheme://netloc`` prefix: a fan-out parses each origin once.
    """
    scheme_end = url.find("://")
    path_start = url.find("/", scheme_end + 3) if scheme_end > 0 else -1
    prefix = url[:path_start] if path_start >= 0 else url
    try:
        return _origins[prefix]
    except KeyError:
        pass
    origin = None
    try:
        parsed = urlparse(prefix)
        scheme = parsed.scheme.lower()
        if scheme in ("http", "https") and parsed.hostname and not parsed.username and not parsed.password:
            port = parsed.port or (443 if scheme == "https" else 80)
            origin = (scheme, _normalize_host(parsed.hostname.lower(), scheme), port)
    except (ValueError, UnicodeError):  # urllib3's path reports it as requests does
        origin = None
    if len(_origins) >= _MAX_ORIGINS:
        _origins.clear()
    _origins[prefix] = origin
    return origin
