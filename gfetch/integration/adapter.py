"""The requests adapter: gfetch's own pool or urllib3's, and the Response built from either.

``HTTPAdapter`` is requests' adapter with cooperative pools: it sets the
urllib3 path's classes (gfetch.integration.urllib3_pools) on its
per-instance managers, picks gfetch's lean pool (gfetch.http11.pool) where
that behaves as urllib3 would, and never overrides ``send``, which
``responses`` patches. ``make_cooperative`` does the same for an adapter a
user mounted. While anything of urllib3 or http.client is patched (a
recorder, a tracer: gfetch.integration.patched), gfetch's own pool is left
aside, so plugins see every request.
"""

from __future__ import annotations

import os
import warnings
from typing import Any
from urllib.parse import urlparse

import requests
import requests.adapters
from requests.utils import DEFAULT_CA_BUNDLE_PATH, select_proxy
from urllib3 import PoolManager, ProxyManager
from urllib3.connection import _get_default_user_agent
from urllib3.util.retry import Retry
from urllib3.util.url import _normalize_host

from gfetch.http11.connection import HeadResponse
from gfetch.http11.pool import LeanPool
from gfetch.http11.poolqueue import GreenPoolQueue
from gfetch.integration.patched import urllib3_as_shipped
from gfetch.integration.responses import encoding_of, new_response
from gfetch.integration.urllib3_pools import POOL_CLASSES, GreenRetry
from gfetch.integration.urls import canonical_path_url, is_canonical
from gfetch.io.tlscontext import TLSSettings

__all__ = [
    "HTTPAdapter",
    "make_cooperative",
    "sets_no_cookies",
]


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
    gfetch's own HTTP/1.1 pool (:class:`gfetch.http11.pool.LeanPool`) and the rest
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
        self.poolmanager.pool_classes_by_scheme = dict(POOL_CLASSES)
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
        no plugin has patched urllib3 or http.client (gfetch.integration.patched).
        """
        retries = self.max_retries
        if (
            self.transport != "auto"
            or cert is not None
            or retries.total != 0
            or retries.status_forcelist
            or not _OWN_POOL_OPTIONS.issuperset(self.poolmanager.connection_pool_kw)
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
                scheme, host, port, tls, self._pool_maxsize, self._pool_block, _USER_AGENT
            )
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
                        f"Could not find a suitable TLS CA certificate bundle, invalid path: {location}"
                    )
                location = os.path.expanduser(location)
                in_dir = os.path.isdir(location)
                settings = TLSSettings(
                    cert_reqs="CERT_REQUIRED",
                    ca_certs=None if in_dir else location,
                    ca_cert_dir=location if in_dir else None,
                    checks_hostname=False,
                )
            self._tls_settings[verify] = settings
        return settings

    def request_url(self, request: Any, proxies: Any) -> str:
        """requests' choice of request target; without proxies, always the path."""
        if not proxies:
            url = request.url
            return canonical_path_url(url) if is_canonical(url) else request.path_url  # type: ignore[no-any-return]
        return super().request_url(request, proxies)  # type: ignore[no-any-return]

    def build_response(self, req: Any, resp: Any) -> requests.Response:
        """requests' Response, with ``timings`` (gfetch.core.timings: None for a response that did
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
        response = new_response(original.header_dict())
        response.status_code = resp.status
        response.encoding = encoding_of(response.headers)
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
                from gfetch.integration.socks import (
                    GreenSOCKSProxyManager,  # it subclasses this module's classes
                )

                self.proxy_manager[proxy] = GreenSOCKSProxyManager(
                    proxy,
                    num_pools=self._pool_connections,
                    maxsize=self._pool_maxsize,
                    block=self._pool_block,
                    **proxy_kwargs,
                )
            return self.proxy_manager[proxy]
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(POOL_CLASSES)
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
        if manager.pool_classes_by_scheme != POOL_CLASSES:
            manager.clear()  # pools of blocking connections, made before it was mounted
            manager.pool_classes_by_scheme = dict(POOL_CLASSES)
        return True
    kind = type(adapter)
    if kind not in _warned_adapters:
        _warned_adapters.add(kind)
        warnings.warn(
            f"{kind.__module__}.{kind.__qualname__} mounted on a gfetch.Session uses a "
            f"{type(manager).__name__}, whose blocking connections gfetch cannot make cooperative: its "
            "requests run one at a time. Derive the adapter from gfetch.HTTPAdapter instead.",
            RuntimeWarning,
            stacklevel=3,
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
