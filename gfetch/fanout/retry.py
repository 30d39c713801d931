"""When and how long the fan-out waits before re-sending a failed request.

Imports requests and urllib3 (exception types, Retry) and
nothing of gfetch: the fan-out does the waiting.

Discussion: this is not the transport's ``GreenRetry`` (``Session(max_retries=)``).
That one is urllib3's Retry run inside one ``urlopen``, per connection
attempt; this one re-sends a whole request from the fan-out, outside its
per-host slot and within its deadline, and :class:`Urllib3RetryPolicy`
follows a ``urllib3.util.Retry`` given as ``retries=`` the same way.
"""

from __future__ import annotations

import math
import random
from typing import Any

import requests
import urllib3
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

__all__ = ["IDEMPOTENT_METHODS", "RETRY_STATUSES", "RetryPolicy", "Urllib3RetryPolicy", "retry_policy"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


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

    def final_error(self, method: str, response: Any) -> Exception | None:
        """What the request fails with once :meth:`should_retry` has said no to ``response``.

        None: the last response is the result, as it is for this policy.
        """
        return None


def _retry_after_seconds(response: Any) -> float | None:
    """The response's Retry-After in seconds, or None when it has none or none anyone can read.

    Read by urllib3's own parser, the one the transport's ``GreenRetry``
    uses, so both retry systems read the header alike; the caps are the
    policy's own.
    """
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(_RETRY_AFTER.parse_retry_after(value))
    except (urllib3.exceptions.InvalidHeader, ValueError, OverflowError):
        return None


_RETRY_AFTER = Retry(0)
_RETRY_AFTER.retry_after_max = math.inf  # type: ignore[assignment]  # uncapped (urllib3 >= 2.5 caps at 6 h)


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
        if response is None or not self._is_retry(method, response):
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

    def final_error(self, method: str, response: Any) -> Exception | None:
        """requests' ``RetryError`` when the re-sends ran out on a status the Retry
        retries and it has ``raise_on_status`` (urllib3's default), as plain
        requests raises with this Retry mounted; else None (the last response).

        The message is urllib3's: ``<pool>: Max retries exceeded with url: <path>
        (Caused by ResponseError('too many 503 error responses'))``.
        """
        if response is None or not self.retry.raise_on_status or not self._is_retry(method, response):
            return None
        reason = ResponseError(ResponseError.SPECIFIC_ERROR.format(status_code=response.status_code))
        raw = response.raw
        url = getattr(raw, "_request_url", None) or response.url
        error = MaxRetryError(getattr(raw, "_pool", None), url, reason)  # type: ignore[arg-type]  # a mock's raw has no pool
        error.__cause__ = reason
        return requests.exceptions.RetryError(error, request=response.request)

    def _is_retry(self, method: str, response: Any) -> bool:
        """Whether the Retry would re-send after ``response``, its counts aside (urllib3's test)."""
        return self.retry.is_retry(method, response.status_code, bool(response.headers.get("Retry-After")))

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
