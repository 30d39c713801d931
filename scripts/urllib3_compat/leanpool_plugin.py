"""pytest plugin: urllib3's connection pools, as urllib3's own tests build them, are gfetch's LeanPool.

Loaded with ``-p leanpool_plugin`` by scripts/urllib3_compat/compare.py for the
gfetch run (the baseline run does not load it). From ``pytest_configure`` on,
before any test module is imported:

* ``urllib3.HTTPConnectionPool`` and ``urllib3.HTTPSConnectionPool`` (also
  under ``urllib3.connectionpool``, and in the scheme table every PoolManager
  reads) are :class:`LeanHTTPConnectionPool` / :class:`LeanHTTPSConnectionPool`.
  Each builds its LeanPool by asking a ``gfetch.integration.adapter.HTTPAdapter`` (with
  ``pool_maxsize=maxsize``, ``pool_block=block``) for the pool of a request to
  its origin, ``lean_pool_for(request, verify, proxies=None, cert=None)``,
  exactly as the adapter does under ``requests``; ``verify`` is what
  requests would be given for the pool's ``cert_reqs``/``ca_certs``/
  ``ca_cert_dir``.
* ``urlopen`` passes on what requests passes (method, url, body, headers,
  retries, redirect, assert_same_host, timeout, chunked, preload_content,
  decode_content), filling in the pool-wide ``headers``, ``retries`` and
  ``timeout`` the test gave, as urllib3 does; requests gives them per request.
* The real classes refuse to be instantiated as themselves, so a path the
  rebinding missed fails its test instead of passing on urllib3 unnoticed.

What requests never asks of a pool raises :class:`NotApplicable` (a
``BaseException``, so no ``except Exception`` in a test can swallow it), with
what was asked: pool options besides ``maxsize``/``block``/TLS verification
(``socket_options``, ``source_address``, ``ssl_context``, client
certificates, proxies, ...), ``pool_timeout``, ``body_pos``, extra response
keywords, and on a response: a ``release_conn`` other than the default
(failures release the connection either way), a redirect to follow inside
``urlopen``, a retry on the status. The tests that need them
are listed in not_applicable.txt. Pool internals (``_get_conn``,
``num_connections``, ``ConnectionCls``, ...) are absent and fail with
AttributeError, except ``pool``: LeanPool's slots keep the contract of
urllib3's queue, which the tests read to check that a failed response gave
its connection back.
"""

from __future__ import annotations

import inspect
import json
import ssl
from types import SimpleNamespace
from typing import Any

import pytest
import urllib3
import urllib3.connectionpool
import urllib3.poolmanager
from urllib3._request_methods import RequestMethods
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import ConnectionPool
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry
from urllib3.util.ssl_ import resolve_cert_reqs
from urllib3.util.timeout import _DEFAULT_TIMEOUT, Timeout

from gfetch.integration.adapter import HTTPAdapter

_CONNECTION_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(HTTPSConnection.__init__).parameters.items()
}
_running = SimpleNamespace(built_a_pool=False)  # the running test
_built_a_pool: list[str] = []  # node ids


class NotApplicable(BaseException):
    """The test asked the pool for something requests never asks of one."""


class LeanHTTPConnectionPool(ConnectionPool, RequestMethods):
    """urllib3's ``HTTPConnectionPool(...)`` signature over the LeanPool gfetch's adapter builds."""

    scheme = "http"

    def __init__(
        self,
        host: str,
        port: int | None = None,
        timeout: Any = _DEFAULT_TIMEOUT,
        maxsize: int = 1,
        block: bool = False,
        headers: Any = None,
        retries: Any = None,
        _proxy: Any = None,
        _proxy_headers: Any = None,
        _proxy_config: Any = None,
        **conn_kw: Any,
    ) -> None:
        _running.built_a_pool = True
        ConnectionPool.__init__(self, host, port)
        RequestMethods.__init__(self, headers)
        if _proxy is not None:
            raise NotApplicable("a proxy: requests sends proxied requests through urllib3's pools")
        _refuse_options(conn_kw)
        self.timeout = timeout if isinstance(timeout, Timeout) else Timeout.from_float(timeout)
        self.retries = retries
        self._adapter = HTTPAdapter(pool_maxsize=maxsize, pool_block=block)
        authority = f"[{self.host}]" if ":" in self.host else self.host
        request = SimpleNamespace(url=f"{self.scheme}://{authority}:{self.port or self._default_port}/")
        self._lean = self._adapter.lean_pool_for(request, self._verify(), proxies=None, cert=None)
        if self._lean is None:
            raise AssertionError(
                f"gfetch's adapter would send {request.url} through urllib3 (GFETCH_TRANSPORT set?)"
            )

    _default_port = 80

    def _verify(self) -> Any:
        return True  # unused for http

    @property
    def pool(self) -> Any:
        """LeanPool's slots: ``qsize()`` as urllib3's queue answers it."""
        return self._lean.pool  # type: ignore[union-attr]

    def close(self) -> None:
        self._adapter.close()

    def urlopen(  # type: ignore[override]  # as urllib3's own
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: Any = None,
        retries: Any = None,
        redirect: bool = True,
        assert_same_host: bool = True,
        timeout: Any = _DEFAULT_TIMEOUT,
        pool_timeout: Any = None,
        release_conn: Any = None,
        chunked: bool = False,
        body_pos: Any = None,
        preload_content: bool = True,
        decode_content: bool = True,
        **response_kw: Any,
    ) -> BaseHTTPResponse:
        """LeanPool's ``urlopen`` with the pool-wide defaults filled in, as urllib3's fills them."""
        if pool_timeout is not None:
            raise NotApplicable("pool_timeout: requests never waits for a pool with a timeout")
        if body_pos is not None:
            raise NotApplicable("body_pos: requests never passes it")
        if response_kw:
            raise NotApplicable(f"response keywords {sorted(response_kw)}: requests passes none")
        if not isinstance(retries, Retry):
            retries = Retry.from_int(retries, redirect=redirect, default=self.retries)
        response = self._lean.urlopen(  # type: ignore[union-attr]
            method,
            url,
            body=body,
            headers=self.headers if headers is None else headers,
            retries=retries,
            redirect=redirect,
            assert_same_host=assert_same_host,
            timeout=self.timeout if timeout is _DEFAULT_TIMEOUT else timeout,
            chunked=chunked,
            preload_content=preload_content,
            decode_content=decode_content,
        )
        if redirect and response.get_redirect_location():
            refusal = "redirect=True on a redirect: requests passes redirect=False, follows redirects itself"
        elif retries.is_retry(method, response.status, bool(response.headers.get("Retry-After"))):
            refusal = "a retry on the response's status: the adapter sends such retries through urllib3"
        elif release_conn is not None and release_conn != preload_content:
            refusal = "release_conn other than preload_content: requests never passes it"
        else:
            return response
        response.drain_conn()
        response.release_conn()
        raise NotApplicable(refusal)


class LeanHTTPSConnectionPool(LeanHTTPConnectionPool):
    """urllib3's ``HTTPSConnectionPool(...)``: TLS options are those requests' ``verify`` sets."""

    scheme = "https"
    _default_port = 443

    def __init__(
        self,
        host: str,
        port: int | None = None,
        timeout: Any = _DEFAULT_TIMEOUT,
        maxsize: int = 1,
        block: bool = False,
        headers: Any = None,
        retries: Any = None,
        _proxy: Any = None,
        _proxy_headers: Any = None,
        key_file: Any = None,
        cert_file: Any = None,
        cert_reqs: Any = None,
        key_password: Any = None,
        ca_certs: Any = None,
        ssl_version: Any = None,
        ssl_minimum_version: Any = None,
        ssl_maximum_version: Any = None,
        assert_hostname: Any = None,
        assert_fingerprint: Any = None,
        ca_cert_dir: Any = None,
        **conn_kw: Any,
    ) -> None:
        _refuse_options(
            {
                "key_file": key_file,
                "cert_file": cert_file,
                "key_password": key_password,
                "ssl_version": ssl_version,
                "ssl_minimum_version": ssl_minimum_version,
                "ssl_maximum_version": ssl_maximum_version,
                "assert_hostname": assert_hostname,
                "assert_fingerprint": assert_fingerprint,
            }
        )
        self.cert_reqs = cert_reqs
        self.ca_certs = ca_certs
        self.ca_cert_dir = ca_cert_dir
        super().__init__(
            host, port, timeout, maxsize, block, headers, retries, _proxy, _proxy_headers, **conn_kw
        )

    def _verify(self) -> Any:
        """requests' ``verify`` that leads its adapter to these settings."""
        mode = resolve_cert_reqs(self.cert_reqs)
        if mode == ssl.CERT_NONE:
            return False
        if mode != ssl.CERT_REQUIRED:
            raise NotApplicable(f"cert_reqs={self.cert_reqs!r}: requests verifies, or not at all")
        if self.ca_certs and self.ca_cert_dir:
            raise NotApplicable("both ca_certs and ca_cert_dir: requests' verify names one of them")
        return self.ca_certs or self.ca_cert_dir or True


def _refuse_options(options: dict[str, Any]) -> None:
    """NotApplicable for options given other values than urllib3's connections default to
    (a PoolManager passes its ``blocksize``, for one)."""
    given = sorted(name for name, value in options.items() if value != _CONNECTION_DEFAULTS.get(name))
    if given:
        raise NotApplicable(f"pool options {given}: requests sends requests with them through urllib3")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("gfetch compat").addoption(
        "--leanpool-record", help="write the node ids of the tests that built a LeanPool to this JSON file"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Note whether the test built a pool."""
    _running.built_a_pool = False
    try:
        return (yield)
    finally:
        if _running.built_a_pool:
            _built_a_pool.append(item.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--leanpool-record")
    if path:
        with open(path, "w") as out:
            json.dump(_built_a_pool, out, indent=1)


def pytest_configure(config: pytest.Config) -> None:
    real = (urllib3.connectionpool.HTTPConnectionPool, urllib3.connectionpool.HTTPSConnectionPool)
    real_init = real[0].__init__

    def refuse_real_pool(self: Any, *args: Any, **kwargs: Any) -> None:
        if type(self) in real:
            raise AssertionError(
                f"a real urllib3 {type(self).__name__} was built: the LeanPool shim missed a path"
            )
        real_init(self, *args, **kwargs)

    real[0].__init__ = refuse_real_pool  # type: ignore[method-assign]
    for module in (urllib3, urllib3.connectionpool):
        for name, shim in (
            ("HTTPConnectionPool", LeanHTTPConnectionPool),
            ("HTTPSConnectionPool", LeanHTTPSConnectionPool),
        ):
            setattr(module, name, shim)
    # The module's dict itself: every PoolManager binds this one object.
    urllib3.poolmanager.pool_classes_by_scheme.update(
        http=LeanHTTPConnectionPool, https=LeanHTTPSConnectionPool
    )
