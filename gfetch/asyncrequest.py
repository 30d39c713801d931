"""AsyncRequest: an unsent request, grequests-compatible.

Layer 4. Imports requests, urllib3 (one exception type), gfetch.session,
gfetch.defaultsession, gfetch.requesterrors and gfetch.greenlets.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any

import requests
from urllib3.exceptions import LocationParseError

from gfetch.defaultsession import default_session, with_own_cookies
from gfetch.greenlets import Timeout
from gfetch.requesterrors import RequestDeadlineExceeded
from gfetch.session import Session

__all__ = ["AsyncRequest", "Deadline", "UnusableItem", "coerce_request", "require_requests"]


class AsyncRequest:
    """A request to send later: ``AsyncRequest(method, url, session=None, callback=None, *,
    deadline=None, **kwargs)``.

    ``kwargs`` are those of ``requests.Session.request``. ``callback`` is
    installed as a response hook, as grequests does. ``deadline`` (seconds)
    bounds the whole request: connect, send, response, body and, in a
    fan-out, its retries and their waits; past it the request fails with
    :class:`RequestDeadlineExceeded`. After :meth:`send`, exactly one of
    ``response`` and ``exception`` is set (``traceback`` holds the formatted
    traceback of the exception).
    """

    def __init__(
        self,
        method: str,
        url: str,
        session: requests.Session | None = None,
        callback: Callable[..., Any] | None = None,
        *,
        deadline: float | None = None,
        **kwargs: Any,
    ) -> None:
        if deadline is not None and deadline <= 0:
            raise ValueError(f"deadline must be > 0 seconds or None, got {deadline}")
        self.method = method
        self.url = url
        self.session = session
        self.callback = callback
        self.deadline = deadline
        if callback is not None:
            kwargs["hooks"] = {"response": _closing_on_error(callback)}
        self.kwargs = kwargs
        self.response: requests.Response | None = None
        self.exception: BaseException | None = None
        self.traceback: str | None = None

    def __repr__(self) -> str:
        return f"<AsyncRequest {self.method} {self.url}>"

    def send(self, **kwargs: Any) -> AsyncRequest:
        """Send now (parking only this greenlet), within the request's ``deadline``;
        ``kwargs`` override the request's.

        Never raises an ``Exception``: a failure is stored in ``exception``.
        """
        if self.deadline is None:
            return self.send_with(kwargs)
        with Deadline(self, self.deadline) as deadline:
            deadline.start()
            self.send_with(kwargs)
        return self

    def send_with(self, overrides: dict[str, Any]) -> AsyncRequest:
        """One attempt: :meth:`send` with the overrides as one dictionary,
        without the deadline (a fan-out applies it around all the attempts).

        Discussion: ``session.request(method, url, **options)`` is a plain
        call when the session's ``request`` is requests' own (or gfetch's,
        which has its signature): a ``**kwargs`` call nests a C-level
        interpreter frame, about 1 KiB of C stack that greenlet copies aside
        for as long as the request waits. Another ``request`` (a subclass's)
        may order its parameters differently, so it gets the keywords.
        """
        options = {**self.kwargs, **overrides}
        session = self.session if self.session is not None else with_own_cookies(default_session())
        try:
            if type(session).request in _REQUESTS_SIGNATURE and options.keys() <= _REQUEST_PARAMETERS:
                get = options.get
                self.response = session.request(
                    self.method, self.url, get("params"), get("data"), get("headers"), get("cookies"),
                    get("files"), get("auth"), get("timeout"), get("allow_redirects", True),
                    get("proxies"), get("hooks"), get("stream"), get("verify"), get("cert"), get("json"),
                )
            else:
                self.response = session.request(self.method, self.url, **options)
        except Exception as exc:
            self.fail(_as_request_error(exc, self.url))
        return self

    def fail(self, exc: BaseException) -> None:
        """Make ``exc`` this request's outcome, closing a response it may have got.

        Call it inside the ``except`` block, so ``traceback`` is the failure's.
        """
        if self.response is not None:
            self.response.close()
            self.response = None
        self.exception = exc
        self.traceback = traceback.format_exc()


# requests.Session.request's parameters after (method, url), and the methods that have them.
_REQUEST_PARAMETERS = frozenset({"params", "data", "headers", "cookies", "files", "auth", "timeout",
                                 "allow_redirects", "proxies", "hooks", "stream", "verify", "cert", "json"})
_REQUESTS_SIGNATURE = {requests.Session.request, Session.request}


class Deadline:
    """The deadline of one request, armed by :meth:`start`; use as ``with Deadline(...)``.

    Leaving the ``with`` block disarms it; if it fired inside, the block
    ends there and ``request`` fails with :class:`RequestDeadlineExceeded`.

    Discussion: the interruption is a :class:`gfetch.Timeout`, a
    BaseException, so urllib3 closes the connection on the way out (as for a
    kill) and no ``except Exception`` on the way can swallow it; it becomes
    a requests exception only here, at the top. A class rather than a
    generator-based context manager: a waiting request keeps no extra frame.
    """

    __slots__ = ("request", "seconds", "_timer")

    def __init__(self, request: AsyncRequest, seconds: float) -> None:
        self.request = request
        self.seconds = seconds
        self._timer = Timeout(seconds)

    def start(self) -> None:
        """Start counting, in the current greenlet; later calls do nothing."""
        if not self._timer.pending:
            self._timer.start()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        self._timer.cancel()
        if exc is not self._timer:
            return False
        request = self.request
        request.fail(RequestDeadlineExceeded(
            f"deadline={self.seconds} s expired before {request.method} {request.url} finished"
        ))
        return True


def _as_request_error(exc: Exception, url: str) -> Exception:
    """``exc``, or requests' InvalidURL when it says the URL's host cannot be used.

    Discussion: a DNS label over 63 characters fails while the host name is
    encoded for the resolver (a UnicodeError from the idna codec; urllib3
    wraps it as LocationParseError, which requests lets through): neither is
    a RequestException, yet it is the URL at fault.
    """
    if isinstance(exc, LocationParseError) or (isinstance(exc, UnicodeError) and "idna" in str(exc)):
        error = requests.exceptions.InvalidURL(f"Invalid URL {url!r}: {exc}")
        error.__cause__ = exc
        return error
    return exc


def _closing_on_error(callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback`` as a response hook that closes the response if it raises.

    Discussion: requests runs response hooks before it reads the body, so a
    hook that raises leaves the response, and its connection, checked out
    until the garbage collector finds them. The request has failed and
    nobody can reach that response any more: close it now.
    """

    @functools.wraps(callback)
    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> Any:
        try:
            return callback(response, *args, **kwargs)
        except BaseException:
            response.close()
            raise

    return hook


def coerce_request(item: Any) -> AsyncRequest:
    """An AsyncRequest from an AsyncRequest, a URL string or a ``requests.Request``."""
    if isinstance(item, AsyncRequest):
        return item
    if isinstance(item, str):
        return AsyncRequest("GET", item)
    if isinstance(item, bytes):
        return AsyncRequest("GET", item.decode())
    if isinstance(item, requests.Request):
        kwargs = {
            name: getattr(item, name)
            for name in ("headers", "files", "data", "json", "params", "auth", "cookies", "hooks")
            if getattr(item, name)
        }
        return AsyncRequest(item.method or "GET", item.url, **kwargs)  # type: ignore[arg-type]  # requests takes bytes URLs
    raise TypeError(
        f"cannot fetch {item!r}: pass URL strings, gfetch.AsyncRequest (gfetch.get(...)) "
        "or requests.Request objects"
    )


def require_requests(items: Any, expected: str = "expected an iterable of requests") -> None:
    """Refuse one URL (a str or bytes) where an iterable of requests is expected.

    Raises:
        TypeError: ``items`` is a str or bytes, saying to pass a list. Both are
            iterables themselves: each character (or byte) would be an item.
    """
    if isinstance(items, (str, bytes)):
        raise TypeError(f"{expected}, got a single {type(items).__name__} {items!r}: "
                        f"pass a list, e.g. [{items!r}]")


class UnusableItem(AsyncRequest):
    """A fan-out's input item that is no request, failed with why; never sent.

    Create it inside the ``except`` block that caught ``exc``.
    """

    def __init__(self, item: Any, exc: Exception) -> None:
        super().__init__("GET", repr(item))
        self.fail(exc)
