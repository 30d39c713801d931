"""Run by test_opentelemetry.py in a fresh interpreter, where import order is under control.

``python _otel_child.py INSTRUMENTORS ORDER BASE_URL [gfetch.otel]``: INSTRUMENTORS
is ``requests``, ``urllib3``, ``requests+urllib3`` or ``none``; ORDER ``before``
imports requests and instruments before anything imports gfetch (as
``opentelemetry-instrument`` does), ``after`` once gfetch's HTTP layers are
loaded (with ``gfetch.otel``, imported first of all) and its default session has
sent a request. Then every client of
``_clients`` (the baseline first) sends three requests to BASE_URL/echo inside
a caller's span, gfetch's on a Session with ``trace=gfetch.otel.tracing()``
when ``gfetch.otel`` is given; prints, as JSON, what each one produced: its
spans and whether each request's ``traceparent`` header named one of them.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def instrument(instrumentors: str) -> None:
    if "requests" in instrumentors.split("+"):
        from opentelemetry.instrumentation.requests import RequestsInstrumentor

        RequestsInstrumentor().instrument()
    if "urllib3" in instrumentors.split("+"):
        from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

        URLLib3Instrumentor().instrument()


def describe(span: ReadableSpan, caller: ReadableSpan, origin: str, port: int) -> list[Any]:
    """A span, comparable across clients and runs: the server's address as ORIGIN and PORT,
    and whether it is a child of the caller's span in the caller's trace."""
    attributes: dict[str, Any] = {}
    for name, value in (span.attributes or {}).items():
        if isinstance(value, str):
            value = value.replace(origin, "ORIGIN")
        attributes[name] = "PORT" if value == port else value
    return [
        span.name,
        span.kind.name,
        span.instrumentation_scope.name,
        sorted(attributes.items()),
        span.parent is not None and span.parent.span_id == caller.context.span_id,
        span.context.trace_id == caller.context.trace_id,
    ]


def main(instrumentors: str, order: str, base_url: str, spans_by: str = "instrumentors") -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if order == "before":
        import requests  # noqa: F401 - before gfetch, whether or not an instrumentor imports it

        instrument(instrumentors)
    if spans_by == "gfetch.otel":
        import gfetch.otel  # after: the first import of gfetch, and of requests
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _clients import BASELINE, VIAS

    import gfetch

    if order == "after":
        gfetch.map([base_url + "/json?warm-up=1"])  # gfetch's HTTP layers and default session exist
        instrument(instrumentors)
    exporter.clear()
    tracer = trace.get_tracer("caller")
    port = int(base_url.rsplit(":", 1)[1])
    observed = {}
    for client in (BASELINE, *VIAS):
        if client.transport is None:
            os.environ.pop("GFETCH_TRANSPORT", None)
        else:
            os.environ["GFETCH_TRANSPORT"] = client.transport
        session = None
        if client.gfetch and spans_by == "gfetch.otel":
            session = client.session(trace=gfetch.otel.tracing())
        with tracer.start_as_current_span("caller") as caller:
            responses = client.get_all([f"{base_url}/echo?n={n}" for n in range(3)], session)
            echoed = [r.json()["headers"] for r in responses]
        spans = [span for span in exporter.get_finished_spans() if span.name != "caller"]
        exporter.clear()
        ids = {format(span.context.span_id, "016x") for span in spans}
        trace_id = format(caller.get_span_context().trace_id, "032x")
        observed[str(client)] = {
            "spans": sorted(describe(span, caller, base_url, port) for span in spans),
            # traceparent: version-trace_id-parent_id-flags
            "traceparent": [
                (
                    h.get("traceparent", "---").split("-")[1] == trace_id,
                    h.get("traceparent", "---").split("-")[2] in ids,
                )
                for h in echoed
            ],
        }
    print(json.dumps(observed))


if __name__ == "__main__":
    main(*sys.argv[1:])
