"""The fan-out API: grequests-compatible ``map``/``imap``, and more.

``import gfetch as grequests`` runs grequests scripts
unchanged; everything beyond grequests' signature is keyword-only.

Differences from grequests, all on purpose:

* items may be URL strings, AsyncRequests or ``requests.Request`` objects;
* requests without ``session=`` share one pooled Session per thread (its
  connections, not its cookies: each has a jar of its own, as in grequests);
* a default ``timeout`` of (10 s connect, 30 s read) applies to requests that
  set none (``timeout=None`` disables it);
* ``size=None`` means 100 at a time, not unbounded;
* ``gtimeout`` really cancels what is unfinished;
* failures are never silently lost: see ``return_exceptions``.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import requests

from gfetch.core.greenlets import Greenlet, spawn
from gfetch.core.sync import Pool
from gfetch.fanout.asyncrequest import AsyncRequest, require_requests
from gfetch.fanout.runner import DEFAULT_SIZE, DEFAULT_TIMEOUT, FanOut, ImapOptions, MapOptions, takes_options

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's from Python 3.11

__all__ = [
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
]

logger = logging.getLogger("gfetch")

P = ParamSpec("P")
R = TypeVar("R")

ExceptionHandler = Callable[[AsyncRequest, BaseException | None], Any]

get = functools.partial(AsyncRequest, "GET")
options = functools.partial(AsyncRequest, "OPTIONS")
head = functools.partial(AsyncRequest, "HEAD")
post = functools.partial(AsyncRequest, "POST")
put = functools.partial(AsyncRequest, "PUT")
patch = functools.partial(AsyncRequest, "PATCH")
delete = functools.partial(AsyncRequest, "DELETE")


def request(method: str, url: str, **kwargs: Any) -> AsyncRequest:
    """An unsent request; ``kwargs`` as for ``requests.request``."""
    return AsyncRequest(method, url, **kwargs)


def send(r: AsyncRequest, pool: Pool | None = None, stream: bool = False) -> Greenlet:
    """Start sending ``r`` in a greenlet (in ``pool`` if given); return the Greenlet.

    The greenlet's value is ``r`` itself, with ``response`` or ``exception`` set.
    """
    if pool is not None:
        return pool.spawn(r.send, stream=stream)
    return spawn(r.send, stream=stream)


def _outcome(
    request: AsyncRequest, exception_handler: ExceptionHandler | None, return_exceptions: bool
) -> tuple[bool, Any]:
    """``(deliver, value)`` for a finished request, per the failure options."""
    if request.response is not None:
        return True, request.response
    if exception_handler is not None:
        result = exception_handler(request, request.exception)
        return result is not None, result
    if return_exceptions:
        return True, request.exception
    return False, None


def _log_failure(request: AsyncRequest) -> None:
    """Warn that ``request`` failed and is reported as None, so it is never lost silently."""
    logger.warning(
        "%s %s failed: %r (pass exception_handler= or return_exceptions=True to receive failures)",
        request.method,
        request.url,
        request.exception,
    )


def _signature_of(model: Callable[P, Any]) -> Callable[[Callable[..., R]], Callable[P, R]]:
    """Give the decorated function ``model``'s parameters, for type checkers, ``help()`` and
    ``inspect`` alike: a function that passes its arguments on writes them once."""

    def decorate(func: Callable[..., R]) -> Callable[P, R]:
        returns = inspect.signature(func).return_annotation
        func.__signature__ = inspect.signature(model).replace(return_annotation=returns)  # type: ignore[attr-defined]
        func.__annotations__ = {**model.__annotations__, "return": returns}
        return func

    return decorate


@takes_options
def map(  # noqa: A001 - grequests' name
    requests: Iterable[Any],
    stream: bool = False,
    size: int | None = None,
    exception_handler: ExceptionHandler | None = None,
    gtimeout: float | None = None,
    *,
    return_exceptions: bool = False,
    **options: Unpack[MapOptions],
) -> list[requests.Response | None | Any]:
    """Send all ``requests`` concurrently; return their responses in input order.

    Args:
        requests: URL strings, AsyncRequests (``gfetch.get(...)``) or
            ``requests.Request`` objects, in any mix.
        stream: leave bodies unread (``stream=True`` in requests).
        size: requests in flight at once; None means 100.
        exception_handler: ``handler(request, exception)`` for each failure;
            its return value takes the failed item's place. If it raises,
            map raises that at once and cancels the unfinished requests.
            A ``callback`` that raises only fails its own request.
        gtimeout: seconds for the whole call; requests unfinished by then
            are cancelled and fail with ``RequestCancelled``.
        deadline: seconds for each request on its own, for items without
            their own ``deadline``: connect, send, response, body, retries
            and their waits, from when it is sent (after any per_host/rate
            wait). A request past it fails with ``RequestDeadlineExceeded``
            (a ``requests.Timeout``); the others carry on. With ``stream``,
            reading a body past it raises that error (and closes the
            connection).
        timeout: requests' ``timeout`` for items that set none; default
            (10, 30): 10 s to connect, 30 s between bytes. None: no timeout.
        per_host: at most this many requests in flight per scheme+host+port.
        rate / per_host_rate: requests per second, in all / per host.
        retries: re-send idempotent requests failing with a connection error,
            timeout or 429/500/502/503/504 up to this many times, with
            exponential backoff (0.5 s, 1 s, 2 s...) or the server's
            Retry-After. Or pass a :class:`gfetch.RetryPolicy`, or a
            ``urllib3.util.Retry``, followed as urllib3 follows it: when its
            re-sends run out on a status it retries, the item fails with
            requests' ``RetryError`` (unless ``raise_on_status=False``: then
            the last response), as in plain requests.
        session: the Session for items without their own (default: one
            pooled gfetch.Session per thread).
        progress: show a progress bar (tqdm if installed, else stderr).
        return_exceptions: put the exception in a failed item's place
            instead of None (when there is no exception_handler).
        pool: a gfetch.Pool to run in (its size then bounds concurrency).

    Returns:
        One entry per input: the Response, or for a failure None, the
        exception (``return_exceptions``), or the exception_handler's value.

    Raises:
        TypeError: ``requests`` is a single URL (str or bytes), not an iterable of them.
    """
    require_requests(requests)
    fanout = FanOut(stream=stream, size=size, gtimeout=gtimeout, **options)
    items = list(requests)
    results: list[Any] = [None] * len(items)
    for index, req in fanout.run(items, total=len(items), report_unsent=True, paced=False):
        if req.response is not None:  # _outcome's first case, without a call per response
            results[index] = req.response
            continue
        deliver, value = _outcome(req, exception_handler, return_exceptions)
        if deliver:
            results[index] = value
        elif exception_handler is None:
            _log_failure(req)
    return results


@takes_options
def imap_enumerated(
    requests: Iterable[Any],
    stream: bool = False,
    size: int | None = 2,
    exception_handler: ExceptionHandler | None = None,
    *,
    return_exceptions: bool = False,
    **options: Unpack[ImapOptions],
) -> Iterator[tuple[int, requests.Response | None | Any]]:
    """Yield ``(index, response)`` in completion order; see :func:`map` for the options.

    The input is read lazily (at most ``size`` in flight), so a generator of
    millions of URLs runs in flat memory. A failed item yields
    ``(index, None)``, or the exception (``return_exceptions``), or the
    exception_handler's value when it is not None (as grequests does). A
    single URL (str or bytes) for ``requests`` raises TypeError.
    """
    require_requests(requests)
    fanout = FanOut(stream=stream, size=size, **options)
    total = len(requests) if hasattr(requests, "__len__") else None  # type: ignore[arg-type]  # has __len__, checked
    for index, req in fanout.run(requests, total=total):
        deliver, value = _outcome(req, exception_handler, return_exceptions)
        if deliver:
            yield index, value
        elif exception_handler is None:
            _log_failure(req)
            yield index, None


@_signature_of(imap_enumerated)
def imap(*args: Any, **kwargs: Any) -> Iterator[requests.Response | Any]:
    """Yield responses in completion order; takes what :func:`imap_enumerated` takes,
    see :func:`map` for the options.

    ``size`` defaults to 2, as in grequests; raise it for real fan-out. The
    input is read lazily. A failure yields the exception_handler's value
    (when not None) or, with ``return_exceptions``, the exception; otherwise
    the failed item is skipped, as in grequests, but never silently: it is
    logged as a warning on the ``gfetch`` logger.
    """
    # A response is never None: None marks a failure imap_enumerated logged.
    return (value for _, value in imap_enumerated(*args, **kwargs) if value is not None)
