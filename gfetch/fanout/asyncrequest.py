"""AsyncRequest: an unsent request, grequests-compatible.

Imports requests, urllib3 (an exception type and the response class), gfetch.integration.session,
gfetch.integration.defaultsession, gfetch.fanout.requesterrors, gfetch.integration.patched and
gfetch.core.greenlets.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable, Generator
from typing import Any

import requests
from urllib3.exceptions import LocationParseError
from urllib3.response import HTTPResponse

from gfetch.core.greenlets import Timeout
from gfetch.fanout.requesterrors import RequestDeadlineExceeded
from gfetch.integration.defaultsession import default_session, with_own_cookies
from gfetch.integration.patched import requests_request_is_own
from gfetch.integration.session import Session

__all__ = [
    "AsyncRequest",
    "Deadline",
    "UnusableItem",
    "coerce_request",
    "require_deadline",
    "require_requests",
]


def require_deadline(deadline: float | None) -> None:
    """A request's or a fan-out call's ``deadline``: seconds above 0, or None.

    Raises:
        ValueError: 0 or less.
    """
    if deadline is not None and deadline <= 0:
        raise ValueError(f"deadline must be > 0 seconds or None, got {deadline}")


class AsyncRequest:
    """A request to send later: ``AsyncRequest(method, url, session=None, callback=None, *,
    deadline=None, **kwargs)``.

    ``kwargs`` are those of ``requests.Session.request``. ``callback`` is
    installed as a response hook, as grequests does. ``deadline`` (seconds)
    bounds the whole request: connect, send, response, body (also when a
    ``stream=True`` body is read later) and, in a fan-out, its retries and
    their waits; past it the request fails with
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
        if deadline is not None:
            require_deadline(deadline)
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
        options = {**self.kwargs, **overrides} if self.kwargs else overrides
        session = self.session
        if session is None:
            session = default_session()
            if type(session).request is not _GFETCH_REQUEST:  # a plugin's: it may use the jar itself
                session = with_own_cookies(session)
        try:
            request = type(session).request
            if (
                request is _GFETCH_REQUEST or requests_request_is_own(request)
            ) and options.keys() <= _REQUEST_PARAMETERS:
                get = options.get
                self.response = session.request(
                    self.method,
                    self.url,
                    get("params"),
                    get("data"),
                    get("headers"),
                    get("cookies"),
                    get("files"),
                    get("auth"),
                    get("timeout"),
                    get("allow_redirects", True),
                    get("proxies"),
                    get("hooks"),
                    get("stream"),
                    get("verify"),
                    get("cert"),
                    get("json"),
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


# requests.Session.request's parameters after (method, url), which gfetch's has too.
_GFETCH_REQUEST = Session.request
_REQUEST_PARAMETERS = frozenset(
    {
        "params",
        "data",
        "headers",
        "cookies",
        "files",
        "auth",
        "timeout",
        "allow_redirects",
        "proxies",
        "hooks",
        "stream",
        "verify",
        "cert",
        "json",
    }
)


class Deadline:
    """The deadline of one request, armed by :meth:`start`; use as ``with Deadline(...)``.

    Leaving the ``with`` block disarms it; if it fired inside, the block
    ends there and ``request`` fails with :class:`RequestDeadlineExceeded`.
    A response left with its body unread (``stream=True``) takes the rest
    of the deadline along for reading it (see :class:`BodyDeadline`).

    Discussion: the interruption is a :class:`gfetch.Timeout`, a
    BaseException, so urllib3 closes the connection on the way out (as for a
    kill) and no ``except Exception`` on the way can swallow it; it becomes
    a requests exception only here, at the top. A class rather than a
    generator-based context manager: a waiting request keeps no extra frame.
    """

    __slots__ = ("request", "seconds", "_timer", "_expires")

    def __init__(self, request: AsyncRequest, seconds: float) -> None:
        self.request = request
        self.seconds = seconds
        self._timer = Timeout(seconds)
        self._expires: float | None = None

    def start(self) -> None:
        """Start counting, in the current greenlet; later calls do nothing."""
        if self._expires is None:
            self._expires = time.monotonic() + self.seconds
            self._timer.start()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        self._timer.cancel()
        request = self.request
        if exc is not self._timer:
            response = request.response
            if exc is None and response is not None and self._expires is not None:
                BodyDeadline.bind(response, self._expires, self._message())
            return False
        request.fail(RequestDeadlineExceeded(self._message()))
        return True

    def _message(self) -> str:
        request = self.request
        return f"deadline={self.seconds} s expired before {request.method} {request.url} finished"


class BodyDeadline:
    """What is left of a request's deadline, for reading its streamed body.

    Bound to ``response.raw`` (urllib3's HTTPResponse, from either pool):
    every ``read``, ``read1`` and ``read_chunked`` step, and so
    ``iter_content``, ``.content`` and ``raw.read``, runs under a
    :class:`gfetch.Timeout` ending at the deadline, in whichever greenlet
    reads. Past it the read fails with :class:`RequestDeadlineExceeded`, as
    does every later one, and the connection is closed, never pooled half-read.
    A body read to its end before the deadline stays readable (what was
    buffered) after it.

    Discussion: the error cannot be raised under urllib3's reads, which
    turn every OSError (requests' exceptions are ones) into a ProtocolError;
    the Timeout, a BaseException, passes through them (closing the
    connection, as for a kill) and becomes the error here, above them. The
    reads are wrapped by giving this one response a subclass of its own
    class (cached per class); nothing is changed for other responses.
    """

    __slots__ = ("expires", "message", "exceeded")

    def __init__(self, expires: float, message: str) -> None:
        self.expires = expires
        self.message = message  # not the request: no reference cycle through the response
        self.exceeded = False

    @classmethod
    def bind(cls, response: requests.Response, expires: float, message: str) -> None:
        """Bound the reads of ``response``'s body, if some of it is still unread."""
        raw = response.raw
        if response._content_consumed or not isinstance(raw, HTTPResponse) or raw.closed:  # type: ignore[attr-defined]  # requests' private flag, not in its stubs
            return
        bound = _BOUND_CLASSES.get(type(raw))
        if bound is None:
            bound = _BOUND_CLASSES[type(raw)] = type(type(raw).__name__, (_DeadlineReads, type(raw)), {})
        raw.__class__ = bound
        raw._gfetch_deadline = cls(expires, message)  # type: ignore[attr-defined]

    def run(self, raw: HTTPResponse, read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``read(*args, **kwargs)``, failing at the deadline (see the class docstring)."""
        if not self.exceeded:
            if raw.closed:  # all of the body is in: a read only takes what is buffered
                return read(*args, **kwargs)
            remaining = self.expires - time.monotonic()
            if remaining > 0:
                timer = Timeout(remaining)
                timer.start()
                try:
                    return read(*args, **kwargs)
                except Timeout as exc:
                    if exc is not timer:
                        raise
                finally:
                    timer.cancel()
            self.exceeded = True
            raw.close()  # as requests' Response.close(): the connection is closed and handed back
            raw.release_conn()
        raise RequestDeadlineExceeded(self.message)


class _DeadlineReads(HTTPResponse):
    """The reads of a response whose body is bound by a :class:`BodyDeadline`."""

    _gfetch_deadline: BodyDeadline

    def read(self, *args: Any, **kwargs: Any) -> Any:
        return self._gfetch_deadline.run(self, super().read, *args, **kwargs)

    def read1(self, *args: Any, **kwargs: Any) -> Any:
        return self._gfetch_deadline.run(self, super().read1, *args, **kwargs)

    def read_chunked(self, *args: Any, **kwargs: Any) -> Generator[bytes, None, None]:
        chunks = super().read_chunked(*args, **kwargs)
        run = self._gfetch_deadline.run
        while (chunk := run(self, next, chunks, None)) is not None:
            yield chunk


_BOUND_CLASSES: dict[type, type] = {}


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
        raise TypeError(
            f"{expected}, got a single {type(items).__name__} {items!r}: pass a list, e.g. [{items!r}]"
        )


class UnusableItem(AsyncRequest):
    """A fan-out's input item that is no request, failed with why; never sent.

    Create it inside the ``except`` block that caught ``exc``.
    """

    def __init__(self, item: Any, exc: Exception) -> None:
        super().__init__("GET", repr(item))
        self.fail(exc)
