"""gfetch: fetch many HTTP resources at once from synchronous code.

The requests API, run concurrently on greenlets, with no monkey-patching.

Floors, top-down; each folder imports only the folders below it (README.md,
"Development", lists their modules; tests/test_layers.py checks the imports):

    app/          the command line and its demo (and ``__main__.py``)
    (this file)   the public API; otel.py, the gfetch[otel] extra, beside it
    fanout/       map, imap, imap_enumerated, crawl: limits, rates, retries
    integration/  gfetch.Session (a requests.Session), the adapter, urllib3's pools
    http11/       HTTP/1.1 heads, framing, connections, gfetch's own pool
    testing/      the loopback servers of the demo, examples and tests
    io/           cooperative sockets, DNS and TLS
    core/         the hub (event loop), greenlets, sync, threads, errors, timings

Nothing below http11/ imports requests, and nothing below it urllib3 but
io/'s TLS contexts (urllib3's ssl helpers); nothing below fanout/ knows
about fan-out. Importing gfetch changes no global state.
"""

import typing as _typing

from gfetch.core.errors import ConcurrentObjectUseError, GreenletExit, LoopExit
from gfetch.core.greenlets import Greenlet, Timeout, joinall, kill, killall, sleep, spawn, with_timeout
from gfetch.core.hub import get_hub, wait_readable, wait_writable
from gfetch.core.resources import raise_fd_limit
from gfetch.core.sync import BoundedSemaphore, Event, LifoQueue, Pool, Queue, Semaphore
from gfetch.core.timings import Timings

if _typing.TYPE_CHECKING:
    from gfetch.fanout.api import (
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
    from gfetch.fanout.asyncrequest import AsyncRequest
    from gfetch.fanout.crawler import crawl
    from gfetch.fanout.requesterrors import RequestCancelled, RequestDeadlineExceeded
    from gfetch.fanout.retry import RetryPolicy
    from gfetch.integration.adapter import HTTPAdapter
    from gfetch.integration.session import Session

# The HTTP layers import requests (~80 ms, most of an import of gfetch), so
# they load on first use of one of these names; the hub and its primitives
# do not need them.
_HTTP_NAMES = {
    "gfetch.fanout.api": (
        "DEFAULT_SIZE",
        "DEFAULT_TIMEOUT",
        "delete",
        "get",
        "head",
        "imap",
        "imap_enumerated",
        "map",
        "options",
        "patch",
        "post",
        "put",
        "request",
        "send",
    ),
    "gfetch.fanout.asyncrequest": ("AsyncRequest",),
    "gfetch.fanout.crawler": ("crawl",),
    "gfetch.fanout.requesterrors": ("RequestCancelled", "RequestDeadlineExceeded"),
    "gfetch.fanout.retry": ("RetryPolicy",),
    "gfetch.integration.session": ("Session",),
    "gfetch.integration.adapter": ("HTTPAdapter",),
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
