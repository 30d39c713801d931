"""requests-toolbelt: the multipart encoder, BaseUrlSession and dump_all through gfetch
(these work today: keep them working)."""

from __future__ import annotations

from typing import Any

from _clients import BASELINE, Client, plugin

import gfetch

plugin("requests_toolbelt", "requests-toolbelt")
from requests_toolbelt import MultipartEncoder  # noqa: E402
from requests_toolbelt.sessions import BaseUrlSession  # noqa: E402
from requests_toolbelt.utils import dump  # noqa: E402

BOUNDARY = "gfetch-test-boundary"
FIELDS = {"name": "gfetch", "notes": ("notes.txt", "line 1\r\nline 2\n", "text/plain")}


class GfetchBaseUrlSession(BaseUrlSession, gfetch.Session):
    """toolbelt's BaseUrlSession on a gfetch.Session."""


def _multipart_posts(client: Client, url: str) -> list[dict[str, Any]]:
    """What the server received for three POSTs of a (fresh) MultipartEncoder."""
    sends = []
    for n in range(3):
        encoder = MultipartEncoder(FIELDS, boundary=BOUNDARY)
        headers = {"Content-Type": encoder.content_type}
        sends.append(("POST", f"{url}?n={n}", {"data": encoder, "headers": headers}))
    return [r.json() for r in client.send_all(sends)]


def test_multipart_encoder_sends_the_same_bytes(via: Client, server: Any) -> None:
    expected = MultipartEncoder(FIELDS, boundary=BOUNDARY).to_string().decode()
    baseline = _multipart_posts(BASELINE, server.url("/echo"))
    assert [echo["body"] for echo in baseline] == [expected] * 3
    assert baseline[0]["headers"]["content-length"] == str(len(expected))
    assert _multipart_posts(via, server.url("/echo")) == baseline


def test_base_url_session(via: Client, server: Any) -> None:
    for client in (BASELINE, via):
        with client.session(BaseUrlSession, GfetchBaseUrlSession, base_url=server.url("/")) as session:
            responses = client.get_all(["json?n=1", "/bytes/3"], session)
        assert [r.url for r in responses] == [server.url("/json?n=1"), server.url("/bytes/3")], client
        assert responses[0].json()["query"] == {"n": "1"} and responses[1].content == b"xxx", client


def test_dump_all_shows_the_same_exchange(via: Client, server: Any) -> None:
    urls = [server.url("/json?n=1"), server.url("/redirect/2")]
    baseline = [dump.dump_all(r) for r in BASELINE.get_all(urls)]
    # toolbelt's prefixes: "< " the request, "> " the response
    assert b"> HTTP/1.1 302 Found\r\n" in baseline[1] and b"< GET /json?n=1 HTTP/1.1\r\n" in baseline[0]
    assert [dump.dump_all(r) for r in via.get_all(urls)] == baseline
