"""The private names gfetch relies on in requests, urllib3 and the stdlib still exist.

docs/internals.md lists each seam with the behavioural tests that exercise it;
this file fails first, and by name, when an upgrade (or the oldest version
pyproject allows, ``bash scripts/dev oldest``) lacks one.
"""

from __future__ import annotations

import email.message
import email.parser
import http.client
import http.cookiejar
import inspect
import io
import pathlib
import queue
import re
import socket
import ssl
import types
from collections.abc import Callable

import pytest
import requests
import urllib3.connection
import urllib3.connectionpool
import urllib3.response
import urllib3.util.url
from requests.structures import CaseInsensitiveDict
from urllib3._collections import HTTPHeaderDict
from urllib3.util.retry import Retry

import gfetch.http11.rawresponse
import gfetch.integration.prepared
import gfetch.integration.responses


def _has_parameters(function: Callable[..., object], *names: str) -> bool:
    return set(names) <= set(inspect.signature(function).parameters)


def _placeholders(maxsize: int) -> list[None]:
    """What a new urllib3 pool's queue (of its QueueCls) holds: a None per slot."""
    pool = urllib3.connectionpool.HTTPConnectionPool("127.0.0.1", maxsize=maxsize)
    held = list(pool.pool.queue)  # type: ignore[union-attr]  # (a closed pool drains it: read it first)
    pool.close()
    return held


def _cookie_store_fills() -> bool:
    """A CookieJar's ``_cookies`` store is empty exactly when it holds no cookie."""
    jar = requests.cookies.RequestsCookieJar()
    empty = jar._cookies == {}
    jar.set("name", "value", domain="example.test")
    return empty and bool(jar._cookies)


def _bio_sslobject() -> ssl.SSLObject:
    """A stdlib SSLObject over memory BIOs, as gfetch's TLSSocket makes one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="example.com")


SEAMS: dict[str, Callable[[], object]] = {
    "urllib3 HTTPConnection._new_conn": lambda: callable(urllib3.connection.HTTPConnection._new_conn),
    "urllib3 HTTPConnection._dns_host": lambda: (
        vars(urllib3.connection.HTTPConnection("example.com."))["_dns_host"] == "example.com."
    ),
    "urllib3 HTTPConnection._response_options": lambda: (
        "_response_options" in vars(urllib3.connection.HTTPConnection("127.0.0.1"))
    ),
    "urllib3 HTTPConnectionPool._validate_conn": lambda: callable(
        urllib3.connectionpool.HTTPConnectionPool._validate_conn
    ),
    "urllib3 HTTPConnectionPool.QueueCls, placeholders": lambda: _placeholders(maxsize=2) == [None, None],
    "urllib3.connection._ssl_wrap_socket_and_match_hostname": lambda: _has_parameters(
        urllib3.connection._ssl_wrap_socket_and_match_hostname,
        "sock",
        "cert_reqs",
        "ssl_context",
        "server_hostname",
        "assert_hostname",
        "assert_fingerprint",
        "tls_in_tls",
    ),
    "urllib3.connection._get_default_user_agent": lambda: (
        urllib3.connection._get_default_user_agent().startswith("python-urllib3/")
    ),
    "urllib3.util.url._normalize_host": lambda: (
        urllib3.util.url._normalize_host("EXAMPLE.com", "http") == "example.com"
    ),
    "urllib3.util.url._encode_target": lambda: urllib3.util.url._encode_target("/a b?c") == "/a%20b?c",
    "urllib3 HTTPHeaderDict._container": lambda: HTTPHeaderDict({"A": "1"})._container == {"a": ["A", "1"]},
    "urllib3 Retry._sleep_backoff": lambda: callable(Retry._sleep_backoff),
    "urllib3 Retry.increment(_pool=, _stacktrace=)": lambda: _has_parameters(
        Retry.increment, "_pool", "_stacktrace"
    ),
    "urllib3 HTTPResponse(version_string=, sock_shutdown=)": lambda: _has_parameters(
        urllib3.response.HTTPResponse, "version_string", "sock_shutdown"
    ),
    "urllib3 HTTPResponse read internals": lambda: (
        all(hasattr(urllib3.response.HTTPResponse, name) for name in ("_init_decoder", "_raw_read"))
        and {"_decoder", "_decoded_buffer", "_original_response"}
        <= set(vars(urllib3.response.HTTPResponse()))
    ),
    "urllib3 PoolManager.pools": lambda: hasattr(urllib3.PoolManager().pools, "keys"),
    "http.client HTTPResponse._read_status": lambda: callable(http.client.HTTPResponse._read_status),
    "http.client HTTPResponse._method": lambda: (
        http.client.HTTPResponse(
            types.SimpleNamespace(makefile=lambda mode: io.BytesIO()), method="HEAD"
        )._method
        == "HEAD"
    ),
    "http.client._MAXLINE, _MAXHEADERS": lambda: (
        http.client._MAXLINE > 0  # type: ignore[attr-defined]
        and http.client._MAXHEADERS > 0
    ),  # type: ignore[attr-defined]
    "email Message._headers": lambda: email.message.Message()._headers == [],
    "email Parser(_class=)": lambda: _has_parameters(email.parser.Parser, "_class"),
    "http.cookiejar CookieJar._cookies, _policy, _cookies_lock": lambda: (
        _cookie_store_fills() and {"_policy", "_cookies_lock"} <= set(vars(http.cookiejar.CookieJar()))
    ),
    "requests HTTPAdapter._pool_connections, _pool_maxsize, _pool_block": lambda: (
        {"_pool_connections": 3, "_pool_maxsize": 4, "_pool_block": True}.items()
        <= vars(requests.adapters.HTTPAdapter(3, 4, pool_block=True)).items()
    ),
    "requests CaseInsensitiveDict._store": lambda: (
        CaseInsensitiveDict({"A": "1"})._store == {"a": ("A", "1")}
    ),
    "requests PreparedRequest._cookies": lambda: "_cookies" in vars(requests.PreparedRequest()),
    "requests Response._content_consumed": lambda: vars(requests.Response())["_content_consumed"] is False,
    "requests Response() attributes": gfetch.integration.responses.built_as_init,
    "requests PreparedRequest() attributes": gfetch.integration.prepared.built_as_init,
    "urllib3 HTTPResponse() attributes": gfetch.http11.rawresponse.built_as_init,
    "socket.socket._accept": lambda: callable(socket.socket._accept),  # type: ignore[attr-defined]
    "ssl.SSLObject._sslobj (read, write, pending)": lambda: all(
        callable(getattr(_bio_sslobject()._sslobj, name, None)) for name in ("read", "write", "pending")
    ),
    "queue.Queue._init, _put, _get, _qsize": lambda: all(
        callable(getattr(queue.LifoQueue, name)) for name in ("_init", "_put", "_get", "_qsize")
    ),
    "socket.socket._real_close, _io_refs, _decref_socketios": lambda: (
        callable(socket.socket._real_close)
        and callable(socket.socket._decref_socketios)
        and "_io_refs" in inspect.getsource(socket.socket.makefile)
    ),
}


@pytest.mark.parametrize("name", SEAMS)
def test_seam_exists(name: str) -> None:
    assert SEAMS[name](), f"{name} is gone or changed: see docs/internals.md"


def test_internals_doc_lists_every_seam() -> None:
    """docs/internals.md names each check as ``test_seam_exists[<seam>]``, and no check that is gone."""
    doc = (pathlib.Path(__file__).parent.parent / "docs" / "internals.md").read_text(encoding="utf-8")
    named = set(re.findall(r"test_seam_exists\[([^\]]+)\]`", doc))
    assert not SEAMS.keys() - named, f"docs/internals.md does not name {sorted(SEAMS.keys() - named)}"
    gone = sorted(named - SEAMS.keys())
    assert not gone, f"docs/internals.md names checks that are gone: {gone}"
