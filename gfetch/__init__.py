"""gfetch: fetch many HTTP resources at once from synchronous code.

The requests API, run concurrently on greenlets, with no monkey-patching.

Layers, top-down; each module imports only those below it (README.md,
"Development", lists them; tests/test_layers.py checks the imports):

    command line   __main__, cli, demo, summary, failures
    OpenTelemetry  otel (the gfetch[otel] extra; nothing imports it)
    fan-out API    this package, crawler, api, fanout, limits, asyncrequest,
                   defaultsession, retry, requesterrors, progress
    Session        session, environment
    transport      socks, transport, pool, connection, poolqueue, tlscontext, rawresponse
    plugins        cookiejar, patched
    HTTP/1.1       framing, httpparse, http1_httptools, http1, urls
    test server    testserver
    I/O            sockets, tls, dns, threads
    primitives     sync, greenlets
    event loop     hub
    foundations    timings, resources, errors

Nothing below the transport imports requests or urllib3; nothing below
the fan-out API knows about fan-out. Importing gfetch changes no global state.
"""

import typing as _typing

from gfetch.errors import ConcurrentObjectUseError, GreenletExit, LoopExit
from gfetch.greenlets import Greenlet, Timeout, joinall, kill, killall, sleep, spawn, with_timeout
from gfetch.hub import get_hub, wait_readable, wait_writable
from gfetch.resources import raise_fd_limit
from gfetch.sync import BoundedSemaphore, Event, LifoQueue, Pool, Queue, Semaphore
from gfetch.timings import Timings

if _typing.TYPE_CHECKING:
    from gfetch.api import (
        DEFAULT_SIZE,
        DEFAULT_TIMEOUT,
        delete,
        get,
        head,
        imap,
        imap_enumerated,
        map,
        options,
        patch,
        post,
        put,
        request,
        send,
    )
    from gfetch.asyncrequest import AsyncRequest
    from gfetch.crawler import crawl
    from gfetch.requesterrors import RequestCancelled, RequestDeadlineExceeded
    from gfetch.retry import RetryPolicy
    from gfetch.session import Session
    from gfetch.transport import HTTPAdapter

# The HTTP layers import requests (~80 ms, most of an import of gfetch), so
# they load on first use of one of these names; the hub and its primitives
# do not need them.
_HTTP_NAMES = {
    "gfetch.api": (
        "DEFAULT_SIZE", "DEFAULT_TIMEOUT", "delete", "get", "head", "imap", "imap_enumerated",
        "map", "options", "patch", "post", "put", "request", "send",
    ),
    "gfetch.asyncrequest": ("AsyncRequest",),
    "gfetch.crawler": ("crawl",),
    "gfetch.requesterrors": ("RequestCancelled", "RequestDeadlineExceeded"),
    "gfetch.retry": ("RetryPolicy",),
    "gfetch.session": ("Session",),
    "gfetch.transport": ("HTTPAdapter",),
}


def __getattr__(name: str) -> _typing.Any:
    if not any(name in names for names in _HTTP_NAMES.values()):
        raise AttributeError(f"module 'gfetch' has no attribute {name!r}")
    import importlib

    for module_name, names in _HTTP_NAMES.items():
        module = importlib.import_module(module_name)
        globals().update({attr: getattr(module, attr) for attr in names})
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | {name for names in _HTTP_NAMES.values() for name in names})


__version__ = "0.1.0"

__all__ = [
    "AsyncRequest",
    "BoundedSemaphore",
    "ConcurrentObjectUseError",
    "DEFAULT_SIZE",
    "DEFAULT_TIMEOUT",
    "Event",
    "Greenlet",
    "GreenletExit",
    "HTTPAdapter",
    "LifoQueue",
    "LoopExit",
    "Pool",
    "Queue",
    "RequestCancelled",
    "RequestDeadlineExceeded",
    "RetryPolicy",
    "Semaphore",
    "Session",
    "Timeout",
    "Timings",
    "__version__",
    "crawl",
    "delete",
    "get",
    "get_hub",
    "head",
    "imap",
    "imap_enumerated",
    "joinall",
    "kill",
    "killall",
    "map",
    "options",
    "patch",
    "post",
    "put",
    "raise_fd_limit",
    "request",
    "send",
    "sleep",
    "spawn",
    "wait_readable",
    "wait_writable",
    "with_timeout",
]
