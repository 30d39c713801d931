"""The ways a plugin case sends its requests: plain requests (the baseline) and gfetch's.

Every case of the plugin suite runs first on ``BASELINE`` (a plain
``requests.Session``, one request after another), then on one of ``VIAS``:
a ``gfetch.Session``, or ``gfetch.map`` (all the requests at once), each on
gfetch's default transport and on ``transport="urllib3"``. The transport is
chosen the way a user without code changes would choose it, through the
``GFETCH_TRANSPORT`` environment variable (the ``via`` fixture sets it), so
sessions a plugin builds itself (a ``CacheMixin`` class, ``BaseUrlSession``)
get it too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
import requests

import gfetch

__all__ = ["BASELINE", "VIAS", "Client", "Send", "plugin"]

# One request: (method, url, keyword arguments of requests.Session.request).
Send = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class Client:
    """One way of sending requests; ``str()`` is its test id.

    ``gfetch``: a gfetch.Session rather than a requests.Session; ``fan_out``:
    through ``gfetch.map`` (``size`` = all the requests) rather than one after
    another; ``transport``: the ``GFETCH_TRANSPORT`` the case runs under (None:
    gfetch's default).
    """

    name: str
    gfetch: bool = True
    fan_out: bool = False
    transport: str | None = None

    def __str__(self) -> str:
        return self.name

    def session(
        self,
        requests_class: type[requests.Session] = requests.Session,
        gfetch_class: type[requests.Session] | None = None,
        **kwargs: Any,
    ) -> requests.Session:
        """A new session of this client's kind: ``requests_class`` for the baseline, else
        ``gfetch_class`` (default ``gfetch.Session``)."""
        if not self.gfetch:
            return requests_class(**kwargs)
        return (gfetch_class or gfetch.Session)(**kwargs)

    def send_all(
        self, sends: Sequence[Send], session: requests.Session | None = None
    ) -> list[requests.Response]:
        """Send each request and return the responses in order; the first failure is raised.

        Without ``session``, a new one of this client's kind is used and
        closed, except by a fan-out on gfetch's default transport, which sends
        without ``session=`` (gfetch's shared default session, made long
        before the case began), as grequests scripts do.
        """
        with contextlib.ExitStack() as stack:
            if session is None and not (self.fan_out and self.transport is None):
                session = stack.enter_context(self.session())
            if not self.fan_out:
                assert session is not None
                return [session.request(method, url, **kwargs) for method, url, kwargs in sends]
            items = [gfetch.request(method, url, **kwargs) for method, url, kwargs in sends]
            responses = []
            for result in gfetch.map(items, size=len(items), session=session, return_exceptions=True):
                if isinstance(result, BaseException):
                    raise result
                responses.append(result)
            return responses

    def get(self, url: str, session: requests.Session | None = None, **kwargs: Any) -> requests.Response:
        """One GET (see :meth:`send_all`)."""
        (response,) = self.send_all([("GET", url, kwargs)], session)
        return response

    def get_all(
        self, urls: Sequence[str], session: requests.Session | None = None, **kwargs: Any
    ) -> list[requests.Response]:
        """A GET of each URL, with the same ``kwargs`` (see :meth:`send_all`)."""
        return self.send_all([("GET", url, kwargs) for url in urls], session)


BASELINE = Client("requests", gfetch=False)
VIAS = (
    Client("Session"),
    Client("Session-urllib3", transport="urllib3"),
    Client("map", fan_out=True),
    Client("map-urllib3", fan_out=True, transport="urllib3"),
)


def plugin(module: str, distribution: str) -> ModuleType:
    """``import module``, or skip the test (or the module) saying what to install."""
    reason = f"{distribution} is not installed: bash scripts/dev plugins installs the pinned plugins"
    return pytest.importorskip(module, reason=reason)
