"""crawl: fan-out whose input grows from its own responses.

Layer 4. Imports gfetch.fanout, gfetch.asyncrequest, gfetch.limits and gfetch.sync.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urldefrag

import requests

from gfetch.asyncrequest import AsyncRequest, coerce_request
from gfetch.fanout import DEFAULT_TIMEOUT, FanOut
from gfetch.limits import RetryPolicy
from gfetch.sync import Queue

__all__ = ["crawl"]

_STOP = object()


def _default_key(request: AsyncRequest) -> Any:
    return request.method.upper(), urldefrag(request.url)[0]


def crawl(
    seeds: Iterable[Any],
    follow: Callable[[requests.Response], Iterable[Any] | None],
    *,
    size: int | None = None,
    max_requests: int = 10_000,
    timeout: Any = DEFAULT_TIMEOUT,
    per_host: int | None = None,
    rate: float | None = None,
    per_host_rate: float | None = None,
    retries: int | RetryPolicy | None = None,
    session: requests.Session | None = None,
    progress: bool = False,
    gtimeout: float | None = None,
    deadline: float | None = None,
    key: Callable[[AsyncRequest], Any] = _default_key,
    return_exceptions: bool = False,
) -> Iterator[Any]:
    """Fetch ``seeds``, then whatever ``follow(response)`` returns, and so on.

    Every request is fetched at most once (deduplicated by ``key``: method
    and URL without fragment), within the same limits as :func:`gfetch.map`
    (``size`` in flight, default 100; ``per_host``, ``rate``, ``retries``,
    ``deadline``...),
    and at most ``max_requests`` in all. Responses are yielded as they
    complete; ``follow`` runs in the iterating greenlet as each one is
    yielded, so it may parse JSON, inspect headers or stop early by
    returning nothing. Failures are skipped (or yielded as exceptions with
    ``return_exceptions=True``) and never followed.
    """
    if max_requests < 1:
        raise ValueError(f"max_requests must be >= 1, got {max_requests}")
    frontier: Queue[Any] = Queue()
    seen: set[Any] = set()
    counts = {"queued": 0, "finished": 0}

    def enqueue(items: Iterable[Any] | None) -> None:
        for item in items or ():
            if counts["queued"] >= max_requests:
                return
            request = coerce_request(item)
            identity = key(request)
            if identity in seen:
                continue
            seen.add(identity)
            counts["queued"] += 1
            frontier.put(request)

    def source() -> Iterator[Any]:
        while (request := frontier.get()) is not _STOP:
            yield request

    enqueue(seeds)
    if not counts["queued"]:
        return
    fanout = FanOut(size=size, timeout=timeout, gtimeout=gtimeout, deadline=deadline, per_host=per_host,
                    rate=rate, per_host_rate=per_host_rate, retries=retries, session=session,
                    progress=progress)
    for _, request in fanout.run(source()):
        counts["finished"] += 1
        if request.response is not None:
            yield request.response
            enqueue(follow(request.response))
        elif return_exceptions:
            yield request.exception
        if counts["finished"] == counts["queued"]:
            frontier.put(_STOP)
