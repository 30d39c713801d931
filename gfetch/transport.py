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
"""

from __future__ import annotations

import inspect
import queue
import socket
import sys
import threading
import time
from collections import deque
from typing import Any

import requests.adapters
from requests.exceptions import InvalidSchema
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family
from urllib3.util.retry import Retry
from urllib3.util.ssl_ import create_urllib3_context, resolve_cert_reqs, resolve_ssl_version
from urllib3.util.url import parse_url

from gfetch.greenlets import sleep
from gfetch.httpparse import FastHTTPResponse
from gfetch.hub import Hub, Waiter, get_hub
from gfetch.sockets import create_connection
from gfetch.tls import GreenSSLContext, owned_context

__all__ = [
    "GreenHTTPConnection",
    "GreenHTTPConnectionPool",
    "GreenHTTPSConnection",
    "GreenHTTPSConnectionPool",
    "GreenPoolQueue",
    "GreenRetry",
    "HTTPAdapter",
]


class _GreenConnectionMixin:
    """``_new_conn`` on gfetch's cooperative ``create_connection``."""

    def _new_conn(self) -> socket.socket:
        conn: Any = self
        try:
            sock = create_connection(
                (conn._dns_host, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                family=allowed_gai_family(),
                socket_options=conn.socket_options,
            )
        except socket.gaierror as e:
            raise NameResolutionError(conn.host, conn, e) from e
        except socket.timeout as e:
            raise ConnectTimeoutError(
                conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
            ) from e
        except OSError as e:
            raise NewConnectionError(conn, f"Failed to establish a new connection: {e}") from e
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
        # Only once a request was sent (else urllib3 raises ResponseNotReady),
        # and under the read timeout urllib3 is about to give the socket.
        if getattr(conn, "_response_options", None) is not None and hasattr(sock, "wait_for_data"):
            sock.settimeout(conn.timeout)
            sock.wait_for_data()
        return super().getresponse()  # type: ignore[misc]


class GreenHTTPConnection(_GreenResponseMixin, _GreenConnectionMixin, HTTPConnection):
    """urllib3's HTTPConnection on a cooperative socket."""


class GreenHTTPSConnection(_GreenResponseMixin, _GreenConnectionMixin, HTTPSConnection):
    """urllib3's HTTPSConnection with a cooperative TLS handshake and I/O."""

    def _green_context(self) -> GreenSSLContext:
        if self.ssl_context is not None:
            return GreenSSLContext(self.ssl_context)
        key = (
            resolve_cert_reqs(self.cert_reqs),
            self.ssl_version,
            self.ssl_minimum_version,
            self.ssl_maximum_version,
            self.ca_certs,
            self.ca_cert_dir,
            self.ca_cert_data,
            self.cert_file,
            self.key_file,
            self.key_password,
            self.assert_hostname is not None or bool(self.assert_fingerprint),
        )
        return owned_context(key, self._build_context)

    def _build_context(self) -> Any:
        # Exactly as urllib3 builds its default: cert_reqs decides the order
        # of verify_mode/check_hostname (verify=False depends on it).
        context = create_urllib3_context(
            ssl_version=resolve_ssl_version(self.ssl_version),
            ssl_minimum_version=self.ssl_minimum_version,
            ssl_maximum_version=self.ssl_maximum_version,
            cert_reqs=resolve_cert_reqs(self.cert_reqs),
        )
        if self.ca_certs or self.ca_cert_dir or self.ca_cert_data:
            context.load_verify_locations(self.ca_certs, self.ca_cert_dir, self.ca_cert_data)
        else:
            # urllib3 only does this for contexts it creates itself.
            context.load_default_certs()
        return context

    def connect(self) -> None:
        original = self.ssl_context
        original_proxy_config = self.proxy_config
        green = self._green_context()
        self.ssl_context = green  # type: ignore[assignment]
        if original_proxy_config is not None:
            proxy_context = original_proxy_config.ssl_context
            self.proxy_config = original_proxy_config._replace(
                ssl_context=GreenSSLContext(proxy_context) if proxy_context is not None else green
            )
        try:
            super().connect()
        finally:
            self.ssl_context = original
            self.proxy_config = original_proxy_config


class GreenPoolQueue(queue.LifoQueue):  # type: ignore[type-arg]
    """The pool's connection queue; a blocking ``get`` parks the greenlet.

    Discussion: urllib3 only blocks on ``get`` with ``pool_block=True``; the
    stdlib queue would then put the whole OS thread to sleep while the
    greenlet holding the connection can never run to return it. Parked
    getters may belong to other threads' hubs (a Session shared by threads),
    so ``put`` wakes them through their own hub. Once a second thread has
    used the pool, a parked getter counts as an outstanding thread job of its hub:
    the connection may come back from another thread, and a hub that saw
    nothing else to wait for would raise LoopExit. In a pool used by one
    thread only, a getter nothing can serve still raises LoopExit.
    """

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self._green_getters: deque[tuple[Hub, Waiter]] = deque()
        self._getter_threads: set[int] = set()
        self._released = False
        self._placeholders = 0  # None entries in the queue

    def _put(self, item: Any) -> None:
        super()._put(item)
        self._placeholders += item is None

    def _get(self) -> Any:
        item = super()._get()
        self._placeholders -= item is None
        return item

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        with self.mutex:
            # urllib3 puts a None placeholder back whenever getting a
            # connection fails (a timeout, a kill, LoopExit), even though the
            # getter took nothing; the connection returned later would then
            # find the pool full. A real connection takes a placeholder's slot.
            if item is not None and self._placeholders and self._qsize() >= self.maxsize > 0:
                self.queue.remove(None)
                self._placeholders -= 1
        super().put(item, block=False)
        with self.mutex:
            getter = self._green_getters.popleft() if self._green_getters else None
        if getter is not None:
            _wake(*getter)

    def release_getters(self) -> None:
        """Wake every parked getter with None, so each opens a connection of its own.

        For a pool being closed: its queue gets no connection back any more,
        so nothing else would ever wake them.
        """
        with self.mutex:
            self._released = True
            getters = list(self._green_getters)
            self._green_getters.clear()
        for getter in getters:
            _wake(*getter)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        self._getter_threads.add(threading.get_ident())
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return super().get(block=False)
            except queue.Empty:
                if not block:
                    raise
            if self._released:
                return None  # the pool is closed: urllib3 opens a connection for this request
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise queue.Empty
            hub = get_hub()
            waiter = Waiter(hub)
            entry = (hub, waiter)
            with self.mutex:
                if self._qsize():
                    continue
                self._green_getters.append(entry)
                shared = len(self._getter_threads) > 1
            timer = None if remaining is None else hub.call_later(remaining, waiter.switch)
            if shared:
                hub.thread_job_started()
            try:
                waiter.get()
            finally:
                if shared:
                    hub.thread_job_finished()
                if timer is not None:
                    timer.cancel()
                with self.mutex:
                    if entry in self._green_getters:
                        self._green_getters.remove(entry)


def _wake(hub: Hub, waiter: Waiter) -> None:
    if hub.thread_ident == threading.get_ident():
        waiter.switch()
    else:
        hub.call_threadsafe(waiter.switch)


class GreenHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GreenHTTPConnection
    QueueCls = GreenPoolQueue

    def _validate_conn(self, conn: Any) -> None:
        """Connect a new connection here, as urllib3's HTTPS pool does.

        Discussion: http.client would connect it inside ``send``, five
        frames deeper, and the deepest a greenlet's frames ever reach stays
        resident for as long as it waits: 4 KiB more per waiting request.
        Errors are mapped as urllib3 maps them for HTTPS.
        """
        super()._validate_conn(conn)
        if conn.is_closed:
            conn.connect()


class GreenHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GreenHTTPSConnection
    QueueCls = GreenPoolQueue


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


def _hide_password(url: str) -> str:
    parsed = parse_url(url)
    if parsed.auth:
        user = parsed.auth.split(":", 1)[0]
        return parsed._replace(auth=f"{user}:***").url
    return url


class HTTPAdapter(requests.adapters.HTTPAdapter):
    """requests' HTTPAdapter whose pools use cooperative connections.

    Defaults are sized for fan-out: up to ``pool_maxsize`` (100) keep-alive
    connections per host and ``pool_connections`` (100) host pools. With
    ``pool_block=True`` a request waiting for a free connection parks only
    its greenlet. Integer or plain ``Retry`` ``max_retries`` become
    :class:`GreenRetry`, so backoff never blocks the hub.
    """

    def __init__(
        self,
        pool_connections: int = 100,
        pool_maxsize: int = 100,
        max_retries: int | Retry | None = 0,
        pool_block: bool = False,
    ) -> None:
        super().__init__(pool_connections, pool_maxsize, max_retries or 0, pool_block)
        self.max_retries = GreenRetry.from_retry(self.max_retries)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.max_retries = GreenRetry.from_retry(self.max_retries)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        # A new dict: PoolManager binds urllib3's module-level one, and
        # mutating that would change every PoolManager in the process.
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        if proxy.lower().startswith("socks"):
            raise InvalidSchema(
                f"SOCKS proxies are not supported by gfetch: {_hide_password(proxy)}; use an HTTP(S) proxy"
            )
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
        waiting for one (``pool_block``) opens its own.
        """
        managers = [self.poolmanager, *self.proxy_manager.values()]
        pools = [pool for manager in managers for pool in map(manager.pools.get, manager.pools.keys())]
        super().close()
        for pool in pools:
            if pool is not None:
                connections = pool.pool
                pool.close()
                if isinstance(connections, GreenPoolQueue):
                    connections.release_getters()
