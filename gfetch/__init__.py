"""gfetch: fetch many HTTP resources at once from synchronous code.

The requests API, run concurrently on greenlets, with no monkey-patching.

Layers, imports pointing down only:
    api (map, imap, AsyncRequest) -> session -> transport -> tls/socket/dns
    -> greenlets/sync -> hub
Nothing below ``transport`` imports requests or urllib3; nothing below
``api`` knows about fan-out. Importing gfetch changes no global state.
"""

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
from gfetch.crawl import crawl
from gfetch.errors import ConcurrentObjectUseError, GreenletExit, LoopExit
from gfetch.greenlets import Greenlet, Timeout, joinall, kill, killall, sleep, spawn, with_timeout
from gfetch.hub import get_hub, wait_readable, wait_writable
from gfetch.limits import RetryPolicy
from gfetch.request import AsyncRequest, RequestCancelled
from gfetch.resources import raise_fd_limit
from gfetch.session import Session
from gfetch.sync import BoundedSemaphore, Event, LifoQueue, Pool, Queue, Semaphore
from gfetch.transport import HTTPAdapter

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
    "RetryPolicy",
    "Semaphore",
    "Session",
    "Timeout",
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
