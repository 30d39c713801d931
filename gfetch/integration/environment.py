"""What requests reads from the environment on every request, read once.

With ``trust_env`` (the default) requests scans all of
``os.environ`` for ``*_proxy`` variables, checks ``no_proxy`` and looks for
a ``.netrc`` file for every request it sends: about a quarter of its CPU
time per request. A fan-out sends thousands of requests to a handful of
hosts under an environment that does not change, so gfetch.Session asks
requests' own functions once per host and keeps the answers until the
session's ``refresh_environment()``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from requests import sessions as requests_sessions

__all__ = ["EnvironmentSnapshot"]

# A crawl may meet many hosts; past this many, start over rather than grow.
_MAX_HOSTS = 10_000


class EnvironmentSnapshot:
    """Environment proxy, netrc and CA-bundle settings as requests reads them.

    Discussion: requests' answers for a URL depend only on the environment
    (and the netrc file) and the URL's network location, plus the request's
    ``no_proxy`` override for proxies; so that is the cache key, and the
    values come from requests' own functions, the same by construction.
    """

    def __init__(self) -> None:
        self._proxies = _Answers("get_environ_proxies")
        self._netrc = _Answers("get_netrc_auth")
        self.ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        # The URL last asked about and its netloc (one tuple: threads read it whole).
        self._last: tuple[str | bytes | None, str | None] = (None, None)

    def proxies_for(self, url: str, no_proxy: str | None) -> dict[str, str]:
        """The environment's proxies for ``url`` (empty when bypassed).

        The returned dict is shared: read it, do not change it.
        """
        netloc = self._netloc(url)
        return self._proxies.get(None if netloc is None else (netloc, no_proxy), url, no_proxy=no_proxy)

    def netrc_auth(self, url: str | bytes) -> tuple[str, str] | None:
        """The (login, password) the netrc file holds for ``url``'s host."""
        return self._netrc.get(self._netloc(url), url)

    def _netloc(self, url: str | bytes) -> str | None:
        """:func:`_netloc` of ``url`` (None for bytes that are no UTF-8), remembered for the
        URL object last asked about: a request asks twice (netrc, then proxies) about one
        string, and a fan-out's URLs are often one string."""
        last, netloc = self._last
        if url is not last:
            try:
                netloc = _netloc(url.decode() if isinstance(url, bytes) else url)
            except UnicodeDecodeError:
                netloc = None
            self._last = (url, netloc)
        return netloc


# An http(s) URL's network location when urlsplit would clean nothing up
# (lower-case scheme, printable ASCII but brackets up to the first "/", "?" or "#"): then
# it is urlsplit's netloc, found without urlsplit's cost.
_plain_netloc = re.compile(r"https?://([^/?#[\]\x00-\x20\x7f-\U0010ffff]*)(?=[/?#]|\Z)").match


def _netloc(url: str) -> str | None:
    """urlsplit's netloc of ``url``; None when urlsplit rejects it."""
    match = _plain_netloc(url)
    if match is not None:
        return match.group(1)
    try:
        return urlsplit(url).netloc
    except ValueError:
        return None


class _Answers:
    """One of requests' environment functions' answers, by key.

    Discussion: the function is looked up where requests' Session looks it
    up, in ``requests.sessions``, at every call, so a test or a program that
    replaces it there (as requests' own tests do) is obeyed; the answers
    kept are dropped when it is replaced. The lookup costs one attribute
    read, keeping the cache's speed.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._function: Callable[..., Any] | None = None
        self._answers: dict[Any, Any] = {}

    def get(self, key: Any, url: str | bytes, **kwargs: Any) -> Any:
        """The function's answer for ``key``, computed for ``url`` once (never kept for key None)."""
        function = getattr(requests_sessions, self._name)
        if function is self._function and key is not None:
            try:
                return self._answers[key]
            except KeyError:
                pass
        value = function(url, **kwargs)
        if key is None:
            return value
        with self._lock:
            if function is not self._function or len(self._answers) >= _MAX_HOSTS:
                self._answers = {}
                self._function = function
            self._answers[key] = value
        return value
