"""crawl: fan-out whose input grows from its own responses.

Imports requests (types), gfetch.fanout.runner, gfetch.fanout.asyncrequest and gfetch.core.sync.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag

import requests

from gfetch.core.sync import Queue
from gfetch.fanout.asyncrequest import AsyncRequest, coerce_request, require_requests
from gfetch.fanout.runner import FanOut, FanOutOptions, takes_options

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's from Python 3.11

__all__ = ["crawl"]

_STOP = object()


def _default_key(request: AsyncRequest) -> Any:
    return request.method.upper(), urldefrag(request.url)[0]


@takes_options
def crawl(
    seeds: Iterable[Any],
    follow: Callable[[requests.Response], Iterable[Any] | None],
    *,
    max_requests: int = 10_000,
    key: Callable[[AsyncRequest], Any] = _default_key,
    return_exceptions: bool = False,
    **options: Unpack[FanOutOptions],
) -> Iterator[Any]:
    """Fetch ``seeds``, then whatever ``follow(response)`` returns, and so on.

    Every request is fetched at most once (deduplicated by ``key``: method
    and URL without fragment), within the same limits as :func:`gfetch.map`
    (``size`` in flight, default 100; ``per_host``, ``rate``, ``retries``,
    ``deadline``, ``stream``...: the same options),
    and at most ``max_requests`` in all. Responses are yielded as they
    complete; ``follow`` runs in the iterating greenlet as each one is
    yielded, so it may parse JSON, inspect headers or stop early by
    returning nothing. Failures are skipped (or yielded as exceptions with
    ``return_exceptions=True``) and never followed.

    Raises:
        TypeError: ``seeds``, or what ``follow`` returned, is a single URL
            (str or bytes), not an iterable of them.
    """
    require_requests(seeds)
    fanout = FanOut(**options)
    if max_requests < 1:
        raise ValueError(f"max_requests must be >= 1, got {max_requests}")
    frontier = _Frontier(key, max_requests)
    frontier.add(seeds)
    if not frontier.queued:
        return
    for _, request in fanout.run(frontier.requests()):
        if request.response is not None:
            yield request.response
            followed = follow(request.response)
            require_requests(followed, "follow(response) must return an iterable of requests or None")
            frontier.add(followed)
        elif return_exceptions:
            yield request.exception
        frontier.finished()


class _Frontier:
    """The requests a crawl has yet to send: each at most once (by ``key``), ``max_requests`` in all."""

    def __init__(self, key: Callable[[AsyncRequest], Any], max_requests: int) -> None:
        self._key = key
        self._max_requests = max_requests
        self._queue: Queue[Any] = Queue()
        self._seen: set[Any] = set()
        self.queued = 0
        self._finished = 0

    def add(self, items: Iterable[Any] | None) -> None:
        for item in items or ():
            if self.queued >= self._max_requests:
                return
            request = coerce_request(item)
            identity = self._key(request)
            if identity in self._seen:
                continue
            self._seen.add(identity)
            self.queued += 1
            self._queue.put(request)

    def requests(self) -> Iterator[AsyncRequest]:
        """The requests as they are added, until the last one queued has finished."""
        while (request := self._queue.get()) is not _STOP:
            yield request

    def finished(self) -> None:
        """One request is done, and what it led to added: after the last, :meth:`requests` ends."""
        self._finished += 1
        if self._finished == self.queued:
            self._queue.put(_STOP)
