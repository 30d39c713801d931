"""What a waiting fan-out request keeps: its saved C stack and its frames.

A fan-out's memory peaks while every request waits for its response, and
two per-greenlet costs dominate then, besides the objects of the request:

* the C stack greenlet copies aside at the switch: about 1 KiB for every
  C-level interpreter frame under the park (a ``f(**kwargs)`` call, a class
  instantiation running ``__init__``), and
* the pages of the greenlet's own Python frame stack (CPython 3.11+ gives
  each greenlet its chunk): every 4 KiB page touched before the park stays
  resident while it waits.

The tests measure both on real requests, calibrated on this interpreter.
"""

from __future__ import annotations

import gc
import platform
import sys
from collections.abc import Callable
from typing import Any

import greenlet
import pytest
import requests

import gfetch

PAGE = 4096
FRAME_SPECIALS = 9  # words of CPython's _PyInterpreterFrame before its locals (3.11-3.13)


def _parked_requests(server: Any, run: Callable[[list[str]], Any], count: int = 5) -> list[int]:
    """The saved C stack of ``count`` requests waiting on ``/delay/1``, taken while they wait."""
    found: list[int] = []

    def look() -> None:
        gfetch.sleep(0.4)
        found.extend(g._stack_saved for g in _waiting_greenlets() if _in_pool(g))

    looker = gfetch.spawn(look)
    run([server.url("/delay/1")] * count)
    looker.get(timeout=10)
    assert len(found) == count
    return found


def _waiting_greenlets() -> list[greenlet.greenlet]:
    current = greenlet.getcurrent()
    return [
        o
        for o in gc.get_objects()
        if isinstance(o, greenlet.greenlet) and o is not current and o.gr_frame is not None
    ]


def _in_pool(glet: greenlet.greenlet) -> bool:
    """Whether ``glet`` waits for a response head in gfetch's pool."""
    frame = glet.gr_frame
    while frame is not None:
        if frame.f_code.co_name == "read_head":
            return True
        frame = frame.f_back
    return False


def _frame_bytes(frame: Any) -> int:
    """The bytes of ``frame`` and those under it (CPython's layout: specials, locals, cells, stack)."""
    total = 0
    while frame is not None:
        code = frame.f_code
        cells = len(code.co_cellvars) + len(code.co_freevars)
        words = FRAME_SPECIALS + code.co_nlocals + cells + code.co_stacksize
        total += 8 * words
        frame = frame.f_back
    return total


def _one_nested_call_cost() -> int:
    """The C stack one ``f(**kwargs)`` call adds to a parked greenlet, on this interpreter."""

    def park() -> None:
        gfetch.sleep(0.05)

    def through_kwargs(**kwargs: Any) -> None:
        park()

    def plain() -> None:
        park()

    saved: dict[str, int] = {}

    def probe(name: str, call: Callable[[], None]) -> None:
        glet = gfetch.spawn(call)
        gfetch.sleep(0.01)
        saved[name] = glet._stack_saved
        glet.get(timeout=5)

    probe("plain", plain)
    probe("nested", lambda: through_kwargs(**{"a": 1}))
    return saved["nested"] - saved["plain"]


def test_a_waiting_fan_out_request_nests_one_c_level_call_at_most(fresh_server):
    """requests' ``Session.send`` calls ``adapter.send(request, **kwargs)``:
    that nesting is requests' own. Everything gfetch adds on the way (the
    fan-out, ``AsyncRequest``, ``Session.request``) calls plainly."""
    nest = _one_nested_call_cost()
    assert nest > 200  # the calibration measured something
    with gfetch.Session(transport="auto") as session:  # gfetch's pool, whatever GFETCH_TRANSPORT says
        fan_out = _parked_requests(fresh_server, lambda urls: gfetch.map(urls, session=session))
        bare = _parked_requests(
            fresh_server,
            lambda urls: gfetch.joinall(
                [
                    gfetch.spawn(session.send, session.prepare_request(requests.Request("GET", u)))
                    for u in urls
                ],
                timeout=10,
            ),
        )
    # A greenlet calling Session.send directly holds requests' one nesting.
    assert max(fan_out) < min(bare) + nest // 2


@pytest.mark.skipif(
    platform.python_implementation() != "CPython" or not (3, 11) <= sys.version_info[:2] <= (3, 13),
    reason="CPython 3.11-3.13 frame layout",
)
def test_a_fan_out_requests_frames_stay_within_one_page(fresh_server):
    """The deepest a request's frames reach before it ends (its park and the
    timer set under it included), plus the chunk's header, fits in the
    greenlet's first 4 KiB page."""
    deepest = [0]

    def track(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and greenlet.getcurrent().parent is not None:
            deepest[0] = max(deepest[0], _frame_bytes(frame))

    with gfetch.Session(transport="auto") as session:  # gfetch's pool, whatever GFETCH_TRANSPORT says
        session.get(fresh_server.url("/json"))  # the connection pool and the environment exist
        sys.setprofile(track)
        try:
            responses = gfetch.map([fresh_server.url("/delay/0.05")] * 3, session=session)
        finally:
            sys.setprofile(None)
    assert all(r is not None and r.status_code == 200 for r in responses)
    assert 2048 < deepest[0] <= PAGE - 64
