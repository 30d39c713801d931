"""URLs that requests' ``prepare_url`` returns unchanged, and their request target.

Imports the stdlib only.

A fan-out sends thousands of plain URLs (``http://host:port/path?query``).
For those, requests' URL preparation (``parse_url``, IDNA, ``requote_uri``,
``urlunparse``) and its ``path_url`` (``urlsplit``) give back what a regular
expression can tell: the URL itself, and everything from the path on.
tests/test_fast_paths.py checks the expression against requests' own
functions on generated URLs.
"""

from __future__ import annotations

import re
from typing import TypeGuard

__all__ = ["is_canonical", "canonical_path_url"]

# Lower-case http(s) scheme and host name (no IP literal, no user info, no
# leading dot), a port without a leading zero, a path of characters that need
# no quoting and no dot segment, an optional non-empty query, no fragment and
# no "%" (which requote_uri may rewrite). parse_url, requote_uri and urlunparse
# leave such a URL as it is.
_canonical = re.compile(
    r"https?://[a-z0-9][a-z0-9.-]*"
    r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    r"(?:/[A-Za-z0-9\-_~!$&'()*+,;=:@]*(?:\.+[A-Za-z0-9\-_~!$&'()*+,;=:@]+)*)+"
    r"(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]+)?"
).fullmatch


# The URL object last asked about and the answer (one tuple: threads read it whole).
_last: tuple[object, bool] = (None, False)


def is_canonical(url: object) -> TypeGuard[str]:
    """Whether requests' ``prepare_url(url, "")`` returns ``url`` as it is.

    The answer for the URL object last asked about is remembered: a request
    asks twice (gfetch.Session's preparation, the adapter's request target)
    about one string.
    """
    global _last
    last, answer = _last
    if url is not last:
        answer = isinstance(url, str) and _canonical(url) is not None
        _last = (url, answer)
    return answer


def canonical_path_url(url: str) -> str:
    """requests' ``PreparedRequest.path_url`` of a canonical ``url``: its path
    and query (a canonical URL has a path, and no fragment)."""
    return url[url.index("/", url.index("//") + 2) :]
