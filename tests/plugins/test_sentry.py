"""sentry-sdk: gfetch's requests make the spans, breadcrumbs and ``sentry-trace`` headers plain requests make.

Sentry's stdlib integration (on by default) wraps
``http.client.HTTPConnection.putrequest``/``getresponse`` (SEAMS.md §S9); its
scope (the current transaction, the breadcrumbs) lives in ContextVars.
Events go to an in-memory transport: nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _clients import BASELINE, Client, plugin

sentry_sdk = plugin("sentry_sdk", "sentry-sdk")
from sentry_sdk.integrations.stdlib import StdlibIntegration  # noqa: E402
from sentry_sdk.transport import Transport  # noqa: E402


class MemoryTransport(Transport):
    """Keeps the envelopes the client would send."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Any) -> None:
        self.events += [item.payload.json for item in envelope.items if item.type in ("event", "transaction")]


@pytest.fixture
def sentry() -> Iterator[MemoryTransport]:
    transport = MemoryTransport()
    sentry_sdk.init(
        dsn="http://key@127.0.0.1:9/1",
        transport=transport,
        traces_sample_rate=1.0,
        default_integrations=False,
        integrations=[StdlibIntegration()],
    )
    try:
        yield transport
    finally:
        sentry_sdk.get_client().close()
        # No DSN, no integration: the http.client Sentry patched passes through.
        sentry_sdk.init(default_integrations=False)


def _observe(client: Client, urls: list[str], sentry: MemoryTransport, origin: str) -> dict[str, Any]:
    """What Sentry saw of the requests, made in a transaction, with the server's address as ORIGIN:
    the spans (and whether they are children of the caller's transaction), the
    breadcrumbs, and whether each request's ``sentry-trace`` header names its span."""
    sentry.events.clear()
    with sentry_sdk.isolation_scope():
        with sentry_sdk.start_transaction(name="caller", op="test"):
            echoed = [r.json()["headers"] for r in client.get_all(urls)]
        sentry_sdk.capture_message("after the requests")
    (transaction,) = [e for e in sentry.events if e.get("type") == "transaction"]
    (message,) = [e for e in sentry.events if e.get("type") != "transaction"]
    trace = transaction["contexts"]["trace"]
    spans = transaction.get("spans", [])
    span_ids = {s["span_id"] for s in spans}
    return {
        "spans": sorted(
            (
                s["op"],
                s["description"].replace(origin, "ORIGIN"),
                s["data"]["http.query"],
                s["status"],
                s["parent_span_id"] == trace["span_id"],
                s["trace_id"] == trace["trace_id"],
            )
            for s in spans
        ),
        "breadcrumbs": sorted(
            (
                b["data"]["http.method"],
                b["data"]["url"].replace(origin, "ORIGIN"),
                b["data"]["http.query"],
                b["data"]["http.response.status_code"],
            )
            for b in message["breadcrumbs"]["values"]
            if b["category"] == "httplib"
        ),
        "sentry-trace": [
            (
                h.get("sentry-trace", "").split("-")[0] == trace["trace_id"],
                h.get("sentry-trace", "-").split("-")[1] in span_ids,
            )
            for h in echoed
        ],
    }


def test_spans_breadcrumbs_and_trace_headers(via: Client, server: Any, sentry: MemoryTransport) -> None:
    urls = [server.url(f"/echo?n={n}") for n in range(3)]
    baseline = _observe(BASELINE, urls, sentry, server.base_url)
    assert baseline == {
        "spans": [("http.client", "GET ORIGIN/echo", f"n={n}", "ok", True, True) for n in range(3)],
        "breadcrumbs": [("GET", "ORIGIN/echo", f"n={n}", 200) for n in range(3)],
        "sentry-trace": [(True, True)] * 3,
    }
    assert _observe(via, urls, sentry, server.base_url) == baseline
