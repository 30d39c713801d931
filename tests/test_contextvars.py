"""contextvars: what the caller set is what its requests' hooks see, under every fan-out.

OpenTelemetry's current span, Sentry's scope and many request-id loggers
live in ContextVars. asyncio copies the caller's context into each task;
a greenlet starts in an empty one unless it is given one (SEAMS.md §S9);
gfetch gives each the creating greenlet's, copied. No plugin needed: this
module runs in the default suite, against http.server.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import pytest
import requests

import gfetch

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
UNSET = "<unset>"


def _recording_hook(seen: list[str]) -> Callable[..., Any]:
    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        seen.append(request_id.get(UNSET))

    return hook


def _fan_out(api: str, urls: list[str], hook: Callable[..., Any], session: requests.Session | None) -> None:
    items = [gfetch.get(url, hooks={"response": hook}, session=session) for url in urls]
    if api == "map":
        results = gfetch.map(items, size=len(items), return_exceptions=True)
    elif api == "imap":
        results = list(gfetch.imap(items, size=len(items), return_exceptions=True))
    elif api == "imap_enumerated":
        enumerated = gfetch.imap_enumerated(items, size=len(items), return_exceptions=True)
        results = [value for _, value in enumerated]
    else:  # spawn: one greenlet per request, each sending on its session
        assert session is not None
        greenlets = [gfetch.spawn(session.get, url, hooks={"response": hook}) for url in urls]
        gfetch.joinall(greenlets, raise_error=True)
        results = [g.value for g in greenlets]
    assert [r.status_code for r in results] == [200] * len(urls), results


@pytest.mark.parametrize("transport", ["auto", "urllib3"])
@pytest.mark.parametrize("api", ["map", "imap", "imap_enumerated", "spawn"])
def test_hooks_see_the_callers_context(api: str, transport: str, server: Any) -> None:
    urls = [server.url(f"/json?n={n}") for n in range(3)]
    token = request_id.set("caller-42")
    try:
        baseline: list[str] = []
        with requests.Session() as plain:
            for url in urls:
                plain.get(url, hooks={"response": _recording_hook(baseline)})
        assert baseline == ["caller-42"] * 3

        seen: list[str] = []
        with gfetch.Session(transport=transport) as session:
            _fan_out(api, urls, _recording_hook(seen), session)
        assert seen == baseline, f"gfetch.{api} hooks saw {seen}"
    finally:
        request_id.reset(token)


@pytest.mark.parametrize("api", ["map", "imap", "imap_enumerated"])
def test_hooks_see_the_callers_context_without_a_session(api: str, server: Any) -> None:
    """The shared default session (``session=`` not given), as grequests scripts send."""
    seen: list[str] = []
    token = request_id.set("caller-7")
    try:
        _fan_out(api, [server.url("/json"), server.url("/bytes/10")], _recording_hook(seen), None)
    finally:
        request_id.reset(token)
    assert seen == ["caller-7", "caller-7"], f"gfetch.{api} hooks saw {seen}"
