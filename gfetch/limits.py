"""Per-host concurrency, request rates and retry policy for the fan-out.

Layer 4 helpers. Imports requests and urllib3 (exception types, Retry),
gfetch.greenlets and gfetch.sync.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from urllib3.util.retry import Retry

from gfetch.greenlets import sleep
from gfetch.sync import Semaphore

__all__ = ["HostLimits", "RateLimiter", "RetryPolicy", "Urllib3RetryPolicy", "host_key", "retry_policy"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
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


class RetryPolicy:
    """When and how long to wait before re-sending a failed request.

    Retries idempotent methods only, on connection errors and timeouts and on
    429/500/502/503/504. Waits ``backoff * 2**attempt`` (capped at
    ``max_backoff``), or the server's Retry-After when it gives one (capped
    at ``max_retry_after``).
    """

    def __init__(
        self,
        retries: int,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
        statuses: frozenset[int] = RETRY_STATUSES,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.statuses = statuses

    def should_retry(self, method: str, response: Any, exception: BaseException | None, attempt: int) -> bool:
        if attempt >= self.retries or method.upper() not in IDEMPOTENT_METHODS:
            return False
        if exception is not None:
            return isinstance(exception, (requests.ConnectionError, requests.Timeout))
        return response is not None and response.status_code in self.statuses

    def delay(self, response: Any, attempt: int) -> float:
        retry_after = _retry_after_seconds(response) if response is not None else None
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return min(self.backoff * (2**attempt), self.max_backoff)


def _retry_after_seconds(response: Any) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²": isdigit() alone admits it, float() does not
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retry_policy(retries: int | RetryPolicy | Retry | None) -> RetryPolicy:
    """The RetryPolicy for the fan-out's ``retries=``.

    An int is a count for :class:`RetryPolicy`; a ``urllib3.util.Retry`` is
    followed as urllib3 would follow it (:class:`Urllib3RetryPolicy`).
    """
    if isinstance(retries, RetryPolicy):
        return retries
    if isinstance(retries, Retry):
        return Urllib3RetryPolicy(retries)
    return RetryPolicy(retries or 0)


class Urllib3RetryPolicy(RetryPolicy):
    """A ``urllib3.util.Retry``'s rules, applied by the fan-out's cooperative retry.

    Follows its total/connect/read/other/status counts, status_forcelist,
    allowed_methods, backoff_factor/backoff_max/backoff_jitter and
    respect_retry_after_header (Retry-After capped at its retry_after_max).
    Connection failures are retried for any method, as the request was
    never sent; read failures and statuses only for ``allowed_methods``.

    Discussion: the fan-out tells a policy how many times the request was
    re-sent, not for which failures, so each count is checked against all
    the re-sends so far: exact when one kind of failure repeats (a host that
    refuses, a server answering 503), stricter than urllib3 when kinds mix.
    """

    def __init__(self, retry: Retry) -> None:
        super().__init__(
            retries=0,
            backoff=retry.backoff_factor,
            max_backoff=retry.backoff_max,
            max_retry_after=getattr(retry, "retry_after_max", math.inf),
            statuses=frozenset(retry.status_forcelist or ()),
        )
        self.retry = retry

    def should_retry(self, method: str, response: Any, exception: BaseException | None, attempt: int) -> bool:
        retry = self.retry
        if exception is not None:
            kind = _failure_kind(exception)
            if kind is None or (kind != "connect" and not self._method_allowed(method)):
                return False
            return attempt < self._budget(getattr(retry, kind))
        has_retry_after = response is not None and "Retry-After" in response.headers
        if response is None or not retry.is_retry(method, response.status_code, has_retry_after):
            return False
        return attempt < self._budget(retry.status)

    def delay(self, response: Any, attempt: int) -> float:
        if response is not None and self.retry.respect_retry_after_header:
            retry_after = _retry_after_seconds(response)
            if retry_after is not None:
                return min(retry_after, self.max_retry_after)
        if attempt == 0:  # urllib3 re-sends at once after the first failure
            return 0.0
        backoff = self.backoff * 2**attempt + random.random() * getattr(self.retry, "backoff_jitter", 0.0)
        return max(0.0, min(self.max_backoff, backoff))

    def _method_allowed(self, method: str) -> bool:
        allowed = self.retry.allowed_methods
        return not allowed or method.upper() in allowed

    def _budget(self, count: int | bool | None) -> float:
        """Re-sends allowed for a failure with this count: the lower of it and total (None: no limit)."""
        limits = [int(limit) for limit in (self.retry.total, count) if limit is not None]
        return min(limits, default=math.inf)


def _failure_kind(exception: BaseException) -> str | None:
    """Which urllib3 Retry count a requests exception spends, or None if Retry would not retry it."""
    if isinstance(exception, requests.ConnectTimeout):
        return "connect"
    if isinstance(exception, requests.ReadTimeout):
        return "read"
    if not isinstance(exception, requests.ConnectionError):
        return None
    cause = exception.args[0] if exception.args else None
    reason = getattr(cause, "reason", cause)  # requests wraps urllib3's MaxRetryError
    if isinstance(reason, urllib3.exceptions.ProxyError):
        reason = reason.original_error
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):  # NewConnectionError among them
        return "connect"
    if isinstance(reason, (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError)):
        return "read"
    return "other"
