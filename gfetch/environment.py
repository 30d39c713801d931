"""What requests reads from the environment on every request, read once.

Layer 3. With ``trust_env`` (the default) requests scans all of
``os.environ`` for ``*_proxy`` variables, checks ``no_proxy`` and looks for
a ``.netrc`` file for every request it sends: about a quarter of its CPU
time per request. A fan-out sends thousands of requests to a handful of
hosts under an environment that does not change, so gfetch.Session asks
requests' own functions once per host and keeps the answers until the
session's ``refresh_environment()``.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlsplit

from requests.utils import get_environ_proxies, get_netrc_auth

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
        self._lock = threading.Lock()
        self._proxies: dict[tuple[str, str | None], dict[str, str]] = {}
        self._netrc: dict[str, tuple[str, str] | None] = {}
        self.ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")

    def proxies_for(self, url: str, no_proxy: str | None) -> dict[str, str]:
        """The environment's proxies for ``url`` (empty when bypassed).

        The returned dict is shared: read it, do not change it.
        """
        try:
            key = (urlsplit(url).netloc, no_proxy)
        except ValueError:
            return get_environ_proxies(url, no_proxy=no_proxy)
        try:
            return self._proxies[key]
        except KeyError:
            return self._remember(self._proxies, key, get_environ_proxies(url, no_proxy=no_proxy))

    def netrc_auth(self, url: str | bytes) -> tuple[str, str] | None:
        """The (login, password) the netrc file holds for ``url``'s host."""
        try:
            key = urlsplit(url.decode() if isinstance(url, bytes) else url).netloc
        except (ValueError, UnicodeDecodeError):
            return get_netrc_auth(url)
        try:
            return self._netrc[key]
        except KeyError:
            return self._remember(self._netrc, key, get_netrc_auth(url))

    def _remember(self, cache: dict[Any, Any], key: Any, value: Any) -> Any:
        with self._lock:
            if len(cache) >= _MAX_HOSTS:
                cache.clear()
            cache[key] = value
        return value
