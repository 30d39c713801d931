"""Per-host concurrency and request rates for the fan-out.

Imports requests (one exception type), gfetch.core.greenlets and
gfetch.core.sync.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from urllib.parse import urlsplit

import requests

from gfetch.core.greenlets import sleep
from gfetch.core.sync import Semaphore

__all__ = ["HostLimits", "RateLimiter", "host_key"]

_UNLIMITED: AbstractContextManager[None] = nullcontext()


def host_key(url: str) -> str:
    """``scheme://host:port`` of ``url``, the unit of per-host limits.

    Raises:
        requests.exceptions.InvalidURL: the URL cannot be split (a port out
            of range, an unclosed IPv6 bracket), as requests would say.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise requests.exceptions.InvalidURL(f"Invalid URL {url!r}: {exc}") from exc
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class RateLimiter:
    """Spaces acquisitions ``1/rate`` seconds apart (no burst), cooperatively."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests per second, got {rate}")
        self.interval = 1.0 / rate
        self._next = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            sleep(slot - now)


class HostLimits:
    """The concurrency and rate limits one fan-out call applies per request."""

    def __init__(
        self, per_host: int | None = None, rate: float | None = None, per_host_rate: float | None = None
    ) -> None:
        if per_host is not None and per_host < 1:
            raise ValueError(f"per_host must be >= 1 or None, got {per_host}")
        self._per_host = per_host
        self._semaphores: defaultdict[str, Semaphore] = defaultdict(lambda: Semaphore(per_host or 1))
        self._rate = RateLimiter(rate) if rate else None
        self._per_host_rate = per_host_rate
        self._host_rates: dict[str, RateLimiter] = {}

    def slot(self, url: str) -> AbstractContextManager[None]:
        """Hold a per-host slot (waiting for the rates) around one attempt."""
        if self._per_host is None and self._rate is None and not self._per_host_rate:
            return _UNLIMITED  # nothing to hold: no generator frame kept by a waiting request
        return self._limited_slot(url)

    @contextmanager
    def _limited_slot(self, url: str) -> Iterator[None]:
        key = host_key(url) if (self._per_host or self._per_host_rate) else ""
        semaphore = self._semaphores[key] if self._per_host else None
        if semaphore is not None:
            semaphore.acquire()
        try:
            if self._per_host_rate:
                limiter = self._host_rates.get(key)
                if limiter is None:
                    limiter = self._host_rates[key] = RateLimiter(self._per_host_rate)
                limiter.wait()
            if self._rate is not None:
                self._rate.wait()
            yield
        finally:
            if semaphore is not None:
                semaphore.release()
