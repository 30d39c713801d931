"""responses and requests-mock: mocked requests never reach the network; the others reach it through gfetch.

responses patches ``requests.adapters.HTTPAdapter.send`` on the class;
requests-mock's Mocker patches ``requests.Session.send`` and, during a send,
``get_adapter`` (SEAMS.md §S2). gfetch overrides neither, so both mock its
requests. requests-mock's transport Adapter, mounted, answers as any adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from _clients import BASELINE, Client, plugin


class Mocking:
    """One library's mock of ``mocked`` (URL: JSON body), letting requests to URLs that
    start with ``passthrough`` (if given) reach the network.

    ``mock``: the library's object, a context manager; ``called``: the URLs it
    answered or passed; ``unmatched``: what a request it does not know raises.
    """

    def __init__(self, library: str, mocked: dict[str, Any], passthrough: str | None) -> None:
        if library == "responses":
            responses = plugin("responses", "responses")
            self.mock = responses.RequestsMock()
            if passthrough:
                self.mock.add_passthru(passthrough)
            self.called: Callable[[], list[str]] = lambda: [call.request.url for call in self.mock.calls]
            self.unmatched: type[Exception] = requests.ConnectionError  # responses' own words
        else:
            requests_mock = plugin("requests_mock", "requests-mock")
            self.mock = requests_mock.Mocker(real_http=passthrough is not None)
            self.called = lambda: [request.url for request in self.mock.request_history]
            self.unmatched = requests_mock.NoMockAddress
        for url, body in mocked.items():
            self.mock.get(url, json=body)


LIBRARIES = ["responses", "requests-mock"]


@pytest.mark.parametrize("library", LIBRARIES)
def test_mocked_requests_never_reach_the_server(library: str, via: Client, server: Any) -> None:
    urls = [server.url(f"/json?n={n}") for n in range(3)]
    for client in (BASELINE, via):
        served = server.requests_served
        mocking = Mocking(library, {url: {"mocked": n} for n, url in enumerate(urls)}, None)
        with mocking.mock:
            bodies = [r.json() for r in client.get_all(urls)]
            assert sorted(mocking.called()) == urls, client
            with pytest.raises(mocking.unmatched):
                client.get(server.url("/json?unmocked=1"))
        assert bodies == [{"mocked": n} for n in range(3)], client
        assert server.requests_served == served, f"{client}: a mocked request reached the server"


@pytest.mark.parametrize("library", LIBRARIES)
def test_passed_through_requests_reach_the_server(library: str, via: Client, server: Any) -> None:
    for client in (BASELINE, via):
        served = server.requests_served
        with Mocking(library, {server.url("/json?mocked=1"): {"mocked": True}}, server.url("/bytes/")).mock:
            mocked, real = client.get_all([server.url("/json?mocked=1"), server.url("/bytes/7")])
        assert (mocked.json(), real.content) == ({"mocked": True}, b"x" * 7), client
        assert server.requests_served == served + 1, client


def test_a_mounted_requests_mock_adapter_answers(via: Client) -> None:
    requests_mock = plugin("requests_mock", "requests-mock")
    for client in (BASELINE, via):
        adapter = requests_mock.Adapter()
        adapter.register_uri("GET", "mock://api/items", json=[1, 2])
        with client.session() as session:
            session.mount("mock://", adapter)
            responses = client.get_all(["mock://api/items"] * 2, session)
        assert [r.json() for r in responses] == [[1, 2], [1, 2]], client
        assert adapter.call_count == 2, client
