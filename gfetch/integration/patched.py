"""Whether plugins patched what gfetch's fast paths skip.

Imports requests, urllib3 and http.client (to look at them; it changes nothing).

Recorders (vcrpy), tracers (OpenTelemetry, Sentry) and mocks wrap or
replace methods and classes of requests, urllib3 and http.client, before
or after gfetch is imported, for a while (a cassette) or for good. Two of
gfetch's shortcuts skip some of those: ``Session.request`` calls the
adapter itself while requests' ``Session.send`` is in place, and gfetch's
own HTTP/1.1 pool (gfetch.http11.pool) uses none of urllib3's pools and
connections, nor http.client. A shortcut may be taken only while what it
skips is as its library shipped it; this module tells, for next to nothing
per request.

Discussion: "as shipped" is decided from the object itself, never from
what was in place when gfetch was imported (a wrapper may be there
already). A function is the library's own when it is a plain function whose
globals are the library module's namespace: a wrapper made with
``functools.wraps`` carries the wrapped function's name and
``__wrapped__``, but the globals of the module that wrote it, and a
``wrapt`` proxy is not a plain function at all (it proxies ``__code__``
and ``__module__``, not its type). A class is the library's own when it is
a plain class defined in that module under that name. The objects seen last
and the verdict are remembered, so a request costs one attribute lookup and
one identity comparison per hook point.
"""

from __future__ import annotations

import http.client
import sys
from collections.abc import Callable
from operator import is_
from types import FunctionType, ModuleType
from typing import Any

import requests.adapters
import requests.sessions
import urllib3.connection
import urllib3.connectionpool

__all__ = ["is_own", "original_class", "own_function", "urllib3_as_shipped"]


def is_own(obj: Any, module: ModuleType, name: str) -> bool:
    """Whether ``obj``, found as ``name`` of ``module`` or of one of its classes, is
    the one ``module`` defines (see the module docstring)."""
    if type(obj) is FunctionType:
        return obj.__globals__ is module.__dict__
    if type(obj) is type:
        return obj.__module__ == module.__name__ and obj.__qualname__ == name
    return False


def original_class(module: ModuleType, name: str, *subclasses: type) -> type:
    """The class ``module`` defines as ``name``, even while a plugin has replaced it there
    (as vcrpy does with urllib3's and http.client's connections in a cassette): the
    attribute or one of its bases, or a base of one of ``subclasses``.

    Raises:
        TypeError: none of those is that class.
    """
    current = getattr(module, name)
    for candidate in (current, *subclasses):
        for cls in getattr(candidate, "__mro__", ()):
            if is_own(cls, module, name):
                return cls  # type: ignore[no-any-return]
    raise TypeError(f"{module.__name__}.{name} is {current!r}, which does not derive from the module's own")


def own_function(module: ModuleType) -> Callable[[Any], bool]:
    """A check, for one hook point holding functions of ``module``, that remembers the
    last object seen: ``check(obj)`` is whether ``obj`` is ``module``'s own."""
    last: list[tuple[Any, bool]] = [(None, False)]  # the object last seen and the verdict, one tuple

    def check(obj: Any) -> bool:
        seen, verdict = last[0]
        if obj is not seen:
            verdict = is_own(obj, module, "")
            last[0] = (obj, verdict)
        return verdict

    return check


# What gfetch's own pool skips of urllib3 and http.client and a tracer or
# recorder is known to wrap or swap (shared/SEAMS.md §S9, and the APM agents'
# documented hook points): owner, name, the module the value must come from
# and, for a class, the name it must have there.
_pool = urllib3.connectionpool
_URLLIB3_CONNECTION = original_class(urllib3.connection, "HTTPConnection")
# vcrpy's http.client stand-ins derive from nothing of http.client's: find it through urllib3's.
_HTTP_CLIENT_CONNECTION = original_class(http.client, "HTTPConnection", _URLLIB3_CONNECTION)
_HOOKS: list[tuple[Any, str, ModuleType, str]] = [
    *(
        (_HTTP_CLIENT_CONNECTION, method, http.client, "")
        for method in (
            "putrequest",
            "putheader",
            "endheaders",
            "_send_output",
            "send",
            "request",
            "getresponse",
            "connect",
        )
    ),
    (http.client, "HTTPConnection", http.client, "HTTPConnection"),
    (http.client, "HTTPSConnection", http.client, "HTTPSConnection"),
    (_URLLIB3_CONNECTION, "request", urllib3.connection, ""),
    (_URLLIB3_CONNECTION, "getresponse", urllib3.connection, ""),
    (urllib3.connection, "HTTPConnection", urllib3.connection, "HTTPConnection"),
    (urllib3.connection, "HTTPSConnection", urllib3.connection, "HTTPSConnection"),
    (urllib3.connection, "VerifiedHTTPSConnection", urllib3.connection, "HTTPSConnection"),
    (_pool, "is_connection_dropped", sys.modules["urllib3.util.connection"], ""),
    *((_pool.HTTPConnectionPool, method, _pool, "") for method in ("urlopen", "_make_request")),
    *(
        (pool_class, method, _pool, "")
        for pool_class in (_pool.HTTPConnectionPool, _pool.HTTPSConnectionPool)
        for method in ("_get_conn", "_new_conn")
    ),
    (_pool.HTTPConnectionPool, "ConnectionCls", urllib3.connection, "HTTPConnection"),
    (_pool.HTTPSConnectionPool, "ConnectionCls", urllib3.connection, "HTTPSConnection"),
]
_OWNERS = [owner for owner, _, _, _ in _HOOKS]
_NAMES = [name for _, name, _, _ in _HOOKS]
# The values last looked at and the verdict on them, one tuple (threads read it whole).
_last: tuple[tuple[Any, ...], bool] = ((None,) * len(_HOOKS), False)


def urllib3_as_shipped() -> bool:
    """Whether urllib3's pools and connections and http.client are as shipped: nothing a
    plugin watches or records there is skipped when gfetch's own pool sends a request."""
    seen, verdict = _last
    # By identity (a wrapt proxy compares equal to the function it wraps), in one pass.
    if all(map(is_, map(getattr, _OWNERS, _NAMES), seen)):
        return verdict
    return _look_again()


def _look_again() -> bool:
    global _last
    seen = tuple(map(getattr, _OWNERS, _NAMES))
    verdict = all(
        is_own(value, module, name) for value, (_, _, module, name) in zip(seen, _HOOKS, strict=True)
    )
    _last = (seen, verdict)
    return verdict


requests_send_is_own = own_function(requests.sessions)  # of a Session class's ``send``
requests_request_is_own = own_function(requests.sessions)  # of a Session class's ``request``
adapter_send_is_own = own_function(requests.adapters)  # of an adapter class's ``send``
