"""AsyncRequest: an unsent request, grequests-compatible.

Layer 4. Imports requests and gfetch.session.
"""

from __future__ import annotations

import functools
import threading
import traceback
from typing import Any, Callable

import requests
from requests.cookies import RequestsCookieJar

from gfetch.session import Session

__all__ = ["AsyncRequest", "RequestCancelled", "coerce_request", "default_session"]

_local = threading.local()
DEFAULT_POOL_MAXSIZE = 1000


def default_session() -> Session:
    """The Session shared by requests sent without ``session=`` on this thread.

    One per OS thread, so connections are reused across a whole fan-out
    (grequests opens a new Session, and TCP connection, per request). It
    keeps up to 1,000 idle connections per host, so a ``size=1000`` fan-out
    to one host reuses its connections instead of discarding them.
    Its cookie jar is not used by them: each is sent with a jar of its own
    (see :func:`_with_own_cookies`).
    """
    try:
        return _local.session  # type: ignore[no-any-return]
    except AttributeError:
        session = _local.session = Session(pool_maxsize=DEFAULT_POOL_MAXSIZE)
        return session


class RequestCancelled(requests.exceptions.Timeout):
    """The request was cancelled because the call's ``gtimeout`` expired."""


class AsyncRequest:
    """A request to send later: ``AsyncRequest(method, url, session=None, callback=None, **kwargs)``.

    ``kwargs`` are those of ``requests.Session.request``. ``callback`` is
    installed as a response hook, as grequests does. After :meth:`send`,
    exactly one of ``response`` and ``exception`` is set (``traceback`` holds
    the formatted traceback of the exception).
    """

    def __init__(
        self,
        method: str,
        url: str,
        session: requests.Session | None = None,
        callback: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.method = method
        self.url = url
        self.session = session
        self.callback = callback
        if callback is not None:
            kwargs["hooks"] = {"response": _closing_on_error(callback)}
        self.kwargs = kwargs
        self.response: requests.Response | None = None
        self.exception: BaseException | None = None
        self.traceback: str | None = None

    def __repr__(self) -> str:
        return f"<AsyncRequest {self.method} {self.url}>"

    def send(self, **kwargs: Any) -> AsyncRequest:
        """Send now (parking only this greenlet); ``kwargs`` override the request's.

        Never raises an ``Exception``: a failure is stored in ``exception``.
        """
        return self.send_with(kwargs)

    def send_with(self, overrides: dict[str, Any]) -> AsyncRequest:
        """:meth:`send` with the overrides as one dictionary.

        Discussion: a ``**kwargs`` call nests a C-level interpreter frame,
        about 1 KiB of C stack that greenlet copies aside for as long as the
        request waits; fan-outs call this, a plain call, instead.
        """
        merged = {**self.kwargs, **overrides}
        session = self.session if self.session is not None else _with_own_cookies(default_session())
        try:
            self.response = session.request(self.method, self.url, **merged)
        except Exception as exc:
            self.exception = exc
            self.traceback = traceback.format_exc()
        return self


def _with_own_cookies(session: Session) -> Session:
    """A view of ``session`` with an empty cookie jar of its own, for one request.

    Discussion: grequests sends each request without ``session=`` on a
    fresh Session, so a cookie one response sets is never sent by another
    request; scripts rely on that (and on the cookie reaching the redirects
    of its own request). The view shares everything else with ``session``
    by reference, the adapters and so their pooled connections above all.
    Session's per-session caches (the environment snapshot, the validated
    headers) are filled in ``session`` first, so that every view reads
    them instead of building its own for its one request.
    """
    session._snapshot()
    if session._session_headers is None:
        session._prepared_session_headers()
    view = Session.__new__(Session)
    view.__dict__.update(session.__dict__)
    view.cookies = RequestsCookieJar()
    return view


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
        return AsyncRequest(item.method or "GET", item.url, **kwargs)
    raise TypeError(
        f"cannot fetch {item!r}: pass URL strings, gfetch.AsyncRequest (gfetch.get(...)) "
        "or requests.Request objects"
    )
