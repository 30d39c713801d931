"""OpenTelemetry: gfetch's requests make the spans plain requests make, under the caller's span.

The requests instrumentor assigns ``requests.Session.send``; the urllib3
one wraps ``HTTPConnectionPool.urlopen`` (SEAMS.md §S9). Each is tried
alone and with the other, instrumenting before ``import gfetch`` and after
gfetch has sent requests: import order matters, so each combination runs
in a fresh interpreter (``_otel_child.py``) against this module's server,
and reports, for every client, its spans (the SDK's InMemorySpanExporter)
and whether each request's ``traceparent`` header reached the server
naming one of them. The same runs with gfetch's sessions traced by
``gfetch.otel`` (test_gfetch_otel.py checks its spans in detail) show that
its spans do not depend on import order and that it makes none while the
requests instrumentor makes them.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _clients import BASELINE, Client, plugin

plugin("opentelemetry.sdk", "opentelemetry-sdk")
plugin("opentelemetry.instrumentation.requests", "opentelemetry-instrumentation-requests")
plugin("opentelemetry.instrumentation.urllib3", "opentelemetry-instrumentation-urllib3")

CHILD = Path(__file__).with_name("_otel_child.py")
CHILD_TIMEOUT = 60


@pytest.fixture(scope="module")
def observe(server: Any) -> Any:
    """``observe(instrumentors, order, spans_by)``: each client's observations from one child run (cached)."""

    @functools.cache
    def run(instrumentors: str, order: str, spans_by: str = "instrumentors") -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, str(CHILD), instrumentors, order, server.base_url, spans_by],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    return run


@pytest.mark.parametrize("order", ["before", "after"], ids=["before-import", "after-import"])
@pytest.mark.parametrize(
    "instrumentors",
    ["requests", "urllib3", "requests+urllib3"],
    ids=["otel-requests", "otel-urllib3", "otel-both"],
)
def test_spans_are_the_callers_children_and_traceparent_reaches_the_server(
    instrumentors: str, order: str, via: Client, observe: Any
) -> None:
    observed = observe(instrumentors, order)
    baseline = observed[str(BASELINE)]
    scopes = {span[2] for span in baseline["spans"]}
    assert (
        len(baseline["spans"]) == 3
        and len(scopes) == 1
        and scopes <= {"opentelemetry.instrumentation.requests", "opentelemetry.instrumentation.urllib3"}
    )
    assert all(span[1] == "CLIENT" and span[4:] == [True, True] for span in baseline["spans"])
    assert baseline["traceparent"] == [[True, True]] * 3
    assert observed[str(via)] == baseline


@pytest.mark.parametrize(
    "instrumentors",
    ["none", "requests", "urllib3", "requests+urllib3"],
    ids=["no-instrumentor", "otel-requests", "otel-urllib3", "otel-both"],
)
def test_gfetch_otel_spans_whatever_the_import_order_and_none_under_the_requests_instrumentor(
    instrumentors: str, via: Client, observe: Any
) -> None:
    before, after = (observe(instrumentors, order, "gfetch.otel") for order in ("before", "after"))
    assert before[str(via)] == after[str(via)]  # requests imported before gfetch or after it
    if "requests" in instrumentors.split("+"):
        assert before[str(via)] == before[str(BASELINE)]  # the instrumentor's spans, and no second span
        return
    own = observe("none", "before", "gfetch.otel")["Session"]
    assert before[str(via)] == own  # under urllib3's instrumentor too: it stays quiet under gfetch's span
    assert len(own["spans"]) == 3 and {span[2] for span in own["spans"]} == {"gfetch.otel"}
    assert all(span[:2] == ["GET", "CLIENT"] and span[4:] == [True, True] for span in own["spans"])
    assert own["traceparent"] == [[True, True]] * 3
