"""requests-cache: the CacheMixin recipe caches gfetch's requests; what install_cache() does to gfetch.

``CacheMixin`` is requests-cache's documented way to add caching to
another Session subclass: ``class CachedSession(CacheMixin, gfetch.Session)``.
``install_cache()`` rebinds ``requests.Session`` (and
``requests.sessions.Session``) to requests-cache's CachedSession until
``uninstall_cache()``; gfetch.Session subclassed the original class when
gfetch was imported and is left as it was (docs/plugins.md).
"""

from __future__ import annotations

from typing import Any

import requests
from _clients import BASELINE, Client, plugin

import gfetch

requests_cache = plugin("requests_cache", "requests-cache")


class CachedGfetchSession(requests_cache.CacheMixin, gfetch.Session):
    """requests-cache's recipe for caching another Session class."""


def test_cache_mixin_recipe_caches(via: Client, server: Any) -> None:
    urls = [server.url(f"/json?n={n}") for n in range(3)]
    for client in (BASELINE, via):
        cached = client.session(requests_cache.CachedSession, CachedGfetchSession, backend="memory")
        with cached as session:
            served = server.requests_served
            first = client.get_all(urls, session)
            assert server.requests_served == served + 3, client
            again = client.get_all(urls, session)
            assert server.requests_served == served + 3, f"{client}: the cached requests reached the server"
        queries = [{"n": str(n)} for n in range(3)]
        assert [(r.from_cache, r.json()["query"]) for r in first] == [(False, q) for q in queries], client
        assert [(r.from_cache, r.json()["query"]) for r in again] == [(True, q) for q in queries], client


def test_install_cache_reaches_the_fan_outs_default_session_only(server: Any) -> None:
    """What docs/plugins.md says: install_cache() caches ``requests.Session()`` (and
    ``requests.get``) and the fan-out's requests sent without ``session=``, as requests.get's
    are; a gfetch.Session made by hand stays uncached (use the CacheMixin recipe). While
    installed, ``requests.Session`` is another class, so ``isinstance(gfetch.Session(),
    requests.Session)`` is False. Uninstalled, the default session is plain again."""
    url = server.url("/json?install_cache=1")
    requests_cache.install_cache(backend="memory")
    try:
        plain = [requests.get(url) for _ in range(2)]
        assert [r.from_cache for r in plain] == [False, True]
        served = server.requests_served
        with gfetch.Session() as session:
            assert not isinstance(session, requests.Session)
            assert not hasattr(session.get(url), "from_cache")
        assert server.requests_served == served + 1
        mapped = gfetch.map([url, url], size=1)
        assert [r.from_cache for r in mapped] == [True, True]  # requests.get's cache holds it
        (fresh,) = gfetch.map([server.url("/json?install_cache=2")])
        assert fresh.from_cache is False and server.requests_served == served + 2
    finally:
        requests_cache.uninstall_cache()
    assert requests.Session is requests.sessions.Session and issubclass(gfetch.Session, requests.Session)
    (after,) = gfetch.map([url])
    assert not hasattr(after, "from_cache")
