"""betamax: a session wrapped by Betamax records through its own adapters and replays offline.

Betamax mounts its BetamaxAdapter on the session in place of the session's
adapters, and records by calling those (gfetch's) adapters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _clients import BASELINE, Client, plugin
from _recording import record_then_replay, replays_like_requests, sorted_by_url

betamax = plugin("betamax", "betamax")


def test_record_then_replay_with_the_server_stopped(via: Client, tmp_path: Path) -> None:
    def run(client: Client, name: str) -> tuple[list[bytes], list[bytes], Any]:
        with client.session() as session:
            recorder = betamax.Betamax(session, cassette_library_dir=str(tmp_path))
            modes = {"record": "once", "replay": "none"}
            recorded, replayed, origin = record_then_replay(
                client, lambda mode: recorder.use_cassette(name, record=modes[mode]), session
            )
        cassette = json.loads((tmp_path / f"{name}.json").read_text().replace(origin, "ORIGIN"))
        for interaction in cassette["http_interactions"]:
            del interaction["recorded_at"]  # the time of recording
        return recorded, replayed, sorted_by_url(cassette["http_interactions"])

    replays_like_requests(via, run)


def test_an_unrecorded_request_fails_offline(via: Client, server: Any, tmp_path: Path) -> None:
    for client in (BASELINE, via):
        with client.session() as session:
            recorder = betamax.Betamax(session, cassette_library_dir=str(tmp_path))
            with recorder.use_cassette(f"one-{client}", record="once"):
                client.get(server.url("/json"), session)
            served = server.requests_served
            with recorder.use_cassette(f"one-{client}", record="none"):
                assert client.get(server.url("/json"), session).json()["ok"] is True
                with pytest.raises(betamax.BetamaxError):
                    client.get(server.url("/json?other=1"), session)
            assert server.requests_served == served, f"{client}: the replay reached the server"
