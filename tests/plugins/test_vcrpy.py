"""vcrpy: gfetch's requests are recorded, and replayed without touching the network.

vcrpy replaces http.client's and urllib3's connection classes, and the
pools' ``ConnectionCls``/``_get_conn``/``_new_conn``, while a cassette is in
use (SEAMS.md §S9); a replay builds socketless stub connections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _clients import BASELINE, Client, plugin
from _recording import RECORDED_PATHS, record_then_replay, replays_like_requests, sorted_by_url

vcr = plugin("vcr", "vcrpy")
from vcr.errors import CannotOverwriteExistingCassetteException  # noqa: E402

PATHS = RECORDED_PATHS


def test_record_then_replay_with_the_server_stopped(via: Client, tmp_path: Path) -> None:
    def run(client: Client, name: str) -> tuple[list[bytes], list[bytes], Any]:
        path = tmp_path / f"{name}.yaml"
        modes = {"record": "once", "replay": "none"}
        recorded, replayed, origin = record_then_replay(
            client, lambda mode: vcr.use_cassette(str(path), record_mode=modes[mode])
        )
        cassette = vcr.serializers.yamlserializer.deserialize(path.read_text().replace(origin, "ORIGIN"))
        return recorded, replayed, sorted_by_url(cassette["interactions"])

    replays_like_requests(via, run)


def test_sessions_made_before_the_cassette_are_recorded(via: Client, server: Any, tmp_path: Path) -> None:
    urls = [server.url(p) for p in PATHS]
    for client in (BASELINE, via):
        cassette = str(tmp_path / f"{client}.yaml")
        with client.session() as session:  # before the cassette, as an application makes it at start-up
            with vcr.use_cassette(cassette) as recording:
                client.get_all(urls, session)
            assert len(recording) == len(PATHS), f"{client}: the cassette holds {len(recording)} requests"
            served = server.requests_served
            with vcr.use_cassette(cassette, record_mode="none") as replay:
                client.get_all(urls, session)
            assert server.requests_served == served, f"{client}: the replay reached the server"
            assert replay.all_played


def test_replaying_a_plain_requests_cassette_never_reaches_the_network(
    via: Client, server: Any, tmp_path: Path
) -> None:
    """A cassette recorded with plain requests, replayed through gfetch with record_mode="none",
    with the server still up: nothing may reach it, and a request the cassette
    lacks fails as it does on plain requests."""
    cassette = str(tmp_path / "requests.yaml")
    urls = [server.url(p) for p in PATHS]
    with vcr.use_cassette(cassette):
        recorded = [r.content for r in BASELINE.get_all(urls)]
    served = server.requests_served

    for client in (BASELINE, via):
        with vcr.use_cassette(cassette, record_mode="none") as replay:
            replayed = [r.content for r in client.get_all(urls)]
            reached = server.requests_served - served
            assert reached == 0, f"{client}: {reached} requests reached the server behind the cassette"
            assert replayed == recorded, f"{client}: replayed other bodies"
            assert replay.all_played, f"{client}: replayed {replay.play_count} of {len(urls)}"
            with pytest.raises(CannotOverwriteExistingCassetteException):
                client.get(server.url("/json?not-recorded"))
        assert server.requests_served == served, f"{client}: a request the cassette lacks reached the server"


def test_a_cassette_left_restores_the_network(via: Client, server: Any, tmp_path: Path) -> None:
    """After the cassette is left, gfetch talks to the server again (vcrpy restored what it patched)."""
    with vcr.use_cassette(str(tmp_path / "c.yaml")):
        via.get(server.url("/json"))
    served = server.requests_served
    assert via.get(server.url("/json?after=1")).json()["query"] == {"after": "1"}
    assert server.requests_served == served + 1
