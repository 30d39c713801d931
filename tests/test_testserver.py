"""The test server's catalogue routes (/pages, /items), which the examples crawl and aggregate, and
/drip, a slow link (on gfetch's TestServer and on the stdlib one that serves the same routes)."""

from __future__ import annotations

import time

import pytest
import requests
from _stdlibserver import StdlibServer

from gfetch.testing import TestServer


def test_pages_link_every_item_once_then_stop(server: TestServer) -> None:
    url: str | None = server.url("/pages/1?per_page=4&total=10")
    pages, ids = [], []
    while url is not None:
        page = requests.get(url, timeout=5).json()
        pages.append(page["page"])
        ids += [item["id"] for item in page["items"]]
        assert all(item["url"] == server.url(f"/items/{item['id']}") for item in page["items"])
        url = page["next"]
    assert pages == [1, 2, 3]
    assert ids == list(range(10))


def test_pages_keep_the_delay_in_their_links(server: TestServer) -> None:
    page = requests.get(server.url("/pages/1?per_page=2&total=5&delay=0.01"), timeout=5).json()
    assert page["items"][0]["url"] == server.url("/items/0?delay=0.01")
    assert page["next"] == server.url("/pages/2?per_page=2&total=5&delay=0.01")


def test_pages_defaults_and_bad_numbers(server: TestServer) -> None:
    last = requests.get(server.url("/pages/10"), timeout=5).json()
    assert [item["id"] for item in last["items"]] == list(range(90, 95))
    assert last["next"] is None
    assert requests.get(server.url("/pages/0"), timeout=5).status_code == 400
    assert requests.get(server.url("/pages/x"), timeout=5).status_code == 400


def test_items_and_their_facets(server: TestServer) -> None:
    record = requests.get(server.url("/items/7"), timeout=5).json()
    assert record == {"id": 7, "name": "item 7", "category": "games"}
    for facet, keys in [
        ("price", {"price", "currency"}),
        ("stock", {"in_stock"}),
        ("reviews", {"rating", "count"}),
    ]:
        answer = requests.get(server.url(f"/items/7/{facet}"), timeout=5).json()
        assert answer.keys() == {"id"} | keys and answer["id"] == 7
    assert requests.get(server.url("/items/7/colour"), timeout=5).status_code == 404
    assert requests.get(server.url("/items/7/price/extra"), timeout=5).status_code == 404


def test_items_delay(server: TestServer) -> None:
    response = requests.get(server.url("/items/1/stock?delay=0.2"), timeout=5)
    assert response.ok and response.elapsed.total_seconds() >= 0.19


@pytest.mark.parametrize("kind", [TestServer, StdlibServer], ids=["gfetch", "stdlib"])
def test_drip_sends_its_body_slowly_in_pieces(kind: type) -> None:
    with kind() as srv:
        started = time.perf_counter()
        with requests.get(srv.url("/drip/10?duration=0.3&chunks=3"), stream=True, timeout=5) as response:
            pieces = list(iter(lambda: response.raw.read1(1024), b""))
        took = time.perf_counter() - started
        assert requests.get(srv.url("/drip/5?chunks=0"), timeout=5).status_code == 400
        assert requests.head(srv.url("/drip/5?duration=0"), timeout=5).headers["Content-Length"] == "5"
    assert response.headers["Content-Length"] == "10" and b"".join(pieces) == b"x" * 10
    assert len(pieces) == 3  # 3, 3 and 4 bytes, 0.1 s apart: each read gets one piece
    assert took >= 0.25
