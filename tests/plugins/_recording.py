"""What the recorder cases (vcrpy, betamax) share: record on a server of the client's own,
stop the server, replay, and compare with plain requests."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import requests
from _clients import BASELINE, Client
from _stdlibserver import StdlibServer

__all__ = ["RECORDED_PATHS", "record_then_replay", "replays_like_requests", "sorted_by_url"]

RECORDED_PATHS = ("/json?n=1", "/bytes/5", "/status/404")
# cassette("record") and cassette("replay"): the recorder in use, recording or replaying only
Cassette = Callable[[str], AbstractContextManager[Any]]
# (bodies recorded, bodies replayed, the recorder's record with the server's address as ORIGIN)
Outcome = tuple[list[bytes], list[bytes], Any]


def record_then_replay(
    client: Client, cassette: Cassette, session: requests.Session | None = None
) -> tuple[list[bytes], list[bytes], str]:
    """Send RECORDED_PATHS to a new server inside ``cassette("record")``, stop the server, send
    them again inside ``cassette("replay")``; the bodies recorded and replayed, and the origin.

    A stopped server accepts no connection, but the threads of those already
    open (a pool's keep-alive ones) still answer: the replay must not reach them either.
    """
    with StdlibServer() as srv:
        with cassette("record"):
            recorded = [r.content for r in client.get_all([srv.url(p) for p in RECORDED_PATHS], session)]
        assert srv.requests_served == len(RECORDED_PATHS), f"{client}: {srv.requests_served} requests served"
        origin = srv.base_url
    with cassette("replay"):
        replayed = [r.content for r in client.get_all([origin + p for p in RECORDED_PATHS], session)]
    assert srv.requests_served == len(RECORDED_PATHS), f"{client}: the replay reached the server"
    return recorded, replayed, origin


def sorted_by_url(interactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A cassette's interactions in URL order: a fan-out records them in the order they finish."""
    return sorted(interactions, key=lambda interaction: interaction["request"]["uri"])


def replays_like_requests(via: Client, run: Callable[[Client, str], Outcome]) -> None:
    """``run(client, name)`` records and replays (see :func:`record_then_replay`) into a
    cassette of that name: ``via`` must get from it what plain requests gets."""
    baseline = run(BASELINE, "requests")
    recorded, replayed, _ = baseline
    assert replayed == recorded and b'"ok": true' in recorded[0]
    assert run(via, "gfetch") == baseline
