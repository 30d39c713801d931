"""requests' cookie jar, made empty for next to nothing.

Imports requests (its jar) and the stdlib.

A request through a Session meets three jars that usually stay empty: the
one prepared into the request, the one of its Response and, without
``session=`` in a fan-out, the one of its Session view. ``CookieJar()``
makes a ``DefaultCookiePolicy`` (about twenty attributes) and an ``RLock``
for each, objects the cyclic garbage collector then visits for as long as
the response is kept. :func:`empty_jar` makes a ``RequestsCookieJar`` with
its (empty, so untracked) cookie store, that makes the policy and the lock
when first asked for them.
"""

from __future__ import annotations

import threading
from http.cookiejar import DefaultCookiePolicy
from typing import Any

from requests.cookies import RequestsCookieJar as _RequestsCookieJar

__all__ = ["empty_jar"]


class RequestsCookieJar(_RequestsCookieJar):
    """requests' RequestsCookieJar (and named so: ``repr()`` reads as requests'), whose
    policy and lock are made on first use (it takes no arguments).
    Everything else is requests' and the stdlib's."""

    def __init__(self) -> None:
        # Made at once: every request's jar is asked whether it is empty.
        self._cookies: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        # Only for what __init__ left out (instance attributes are found first).
        if name == "_policy":
            value: Any = DefaultCookiePolicy()
        elif name == "_cookies_lock":
            value = threading.RLock()
        else:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        object.__setattr__(self, name, value)  # in the instance's own layout: no __dict__ made
        return value

    def __getstate__(self) -> dict[str, Any]:
        # Made, so the state (and the lock requests drops from it) are all there.
        self._policy  # noqa: B018
        self._cookies_lock  # noqa: B018
        return super().__getstate__()  # type: ignore[misc]  # requests defines it; its stubs do not


empty_jar: type[_RequestsCookieJar] = RequestsCookieJar
"""``RequestsCookieJar()``, for less CPU and fewer objects for the garbage collector."""
