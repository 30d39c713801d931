"""gfetch[otel]: a span per request from gfetch's trace events, checked with the SDK's in-memory exporter.

Each test has a TracerProvider of its own (not the global one) exporting to
an InMemorySpanExporter, a caller's span, and ``gfetch.otel.tracing()`` on
the session; the server is http.server, whose /echo shows the traceparent it
got. The import orders and OpenTelemetry's own instrumentors, which need a
fresh interpreter each, are in test_opentelemetry.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from _clients import Client, plugin

import gfetch

plugin("opentelemetry.sdk", "opentelemetry-sdk")
from opentelemetry import context, trace  # noqa: E402
from opentelemetry.context import (  # noqa: E402
    _SUPPRESS_HTTP_INSTRUMENTATION_KEY,
    _SUPPRESS_INSTRUMENTATION_KEY,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

import gfetch.otel  # noqa: E402

_keys = itertools.count()


@dataclass
class Traced:
    """A test's tracing: the hook for its sessions, its finished spans, a caller's tracer."""

    hook: Any
    exporter: InMemorySpanExporter
    tracer: trace.Tracer

    def spans(self) -> list[ReadableSpan]:
        """The request spans finished so far (the caller's left out)."""
        return [span for span in self.exporter.get_finished_spans() if span.name != "caller"]


@pytest.fixture
def traced() -> Iterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    hook = gfetch.otel.tracing(provider)
    yield Traced(hook, exporter, provider.get_tracer("caller"))
    assert not hook.open, "a span was left open"
    provider.shutdown()


@pytest.fixture(params=[None, "urllib3"], ids=["default-transport", "urllib3"])
def session(request: pytest.FixtureRequest, traced: Traced) -> Iterator[gfetch.Session]:
    with gfetch.Session(trace=traced.hook, transport=request.param) as session:
        yield session


def traceparent(echoed: dict[str, Any]) -> tuple[int, int]:
    """(trace id, parent span id) of the traceparent header the server got."""
    _, trace_id, span_id, _ = echoed["headers"]["traceparent"].split("-")
    return int(trace_id, 16), int(span_id, 16)


def names(span: ReadableSpan) -> list[str]:
    return [event.name for event in span.events]


def phases(transport: str | None, fan_out: bool) -> list[str]:
    """The events of a request on a new connection to an IP address, by transport."""
    own = transport is None  # gfetch's pool: the whole lifecycle; urllib3's: what it lets gfetch see
    return [
        *(["request.queued"] if fan_out else []),
        "request.started",
        *(["connection.acquired"] if own else []),
        "connect.started",
        "connect.complete",
        *(["request.sent"] if own else []),
        "response.headers",
        *(["response.complete"] if own else []),
    ]


def test_a_request_is_a_client_span_with_the_http_conventions_attributes(
    server: Any, via: Client, traced: Traced
) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    url = server.url("/echo")
    with via.session(trace=traced.hook) as session, traced.tracer.start_as_current_span("caller") as caller:
        (response,) = via.send_all([("GET", url, {"params": {"n": 1, "X-Goog-Signature": "abc"}})], session)
        assert trace.get_current_span() is caller  # the request's span is current no longer
    (span,) = traced.spans()
    assert (span.name, span.kind) == ("GET", trace.SpanKind.CLIENT)
    assert span.instrumentation_scope.name == "gfetch.otel"
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": int(port),
        "url.full": f"http://127.0.0.1:{port}/echo?n=1&X-Goog-Signature=REDACTED",  # with params=, redacted
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    assert span.status.status_code == trace.StatusCode.UNSET
    assert span.parent is not None and span.parent.span_id == caller.get_span_context().span_id
    assert traceparent(response.json()) == (caller.get_span_context().trace_id, span.context.span_id)
    assert names(span) == phases(via.transport, via.fan_out)
    connected = next(event for event in span.events if event.name == "connect.complete")
    assert (connected.attributes or {})["connect"] >= 0
    headers = next(event for event in span.events if event.name == "response.headers")
    assert (headers.attributes or {})["status"] == 200


@pytest.mark.parametrize("transport", [None, "urllib3"], ids=["default-transport", "urllib3"])
def test_under_map_each_request_has_its_span_under_the_callers_and_its_traceparent_names_it(
    server: Any, traced: Traced, transport: str | None
) -> None:
    urls = [server.url(f"/echo?n={n}") for n in range(100)]
    with (
        gfetch.Session(trace=traced.hook, transport=transport) as session,
        traced.tracer.start_as_current_span("caller") as caller,
    ):
        responses = gfetch.map(urls, size=100, session=session)
    spans = {span.attributes["url.full"]: span for span in traced.spans()}  # type: ignore[index]
    assert sorted(spans) == sorted(urls)
    context = caller.get_span_context()
    for url, response in zip(urls, responses, strict=True):
        span = spans[url]
        assert span.parent is not None and span.parent.span_id == context.span_id
        assert traceparent(response.json()) == (context.trace_id, span.context.span_id)


def test_failures_are_error_spans(server: Any, session: gfetch.Session, traced: Traced) -> None:
    with traced.tracer.start_as_current_span("caller"):
        assert session.get(server.url("/status/503"), timeout=10).status_code == 503
        with pytest.raises(requests.ConnectionError):
            session.get("http://127.0.0.1:1/", timeout=10)
        outcomes = gfetch.map(
            [server.url("/delay/2?deadline"), server.url("/delay/2?gtimeout")],
            session=session,
            deadline=0.3,
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], gfetch.RequestDeadlineExceeded)
        (cancelled,) = gfetch.map(
            [server.url("/delay/2?gtimeout")], session=session, gtimeout=0.3, return_exceptions=True
        )
        assert isinstance(cancelled, gfetch.RequestCancelled)
    status, refused, deadline, _, killed = traced.spans()  # in the order they ended
    assert all(span.status.status_code == trace.StatusCode.ERROR for span in traced.spans())
    assert (status.attributes or {})["error.type"] == "503"
    assert (status.attributes or {})["http.response.status_code"] == 503
    assert (refused.attributes or {})["error.type"] == "ConnectionError"
    (exception,) = [event for event in refused.events if event.name == "exception"]
    assert str((exception.attributes or {})["exception.type"]).endswith("ConnectionError")
    assert (deadline.attributes or {})["error.type"] == "RequestDeadlineExceeded"
    assert names(deadline)[-2:] == ["deadline.expired", "exception"]
    assert (killed.attributes or {})["error.type"] == "RequestCancelled"  # ended when the gtimeout killed it


def test_retries_and_redirects_are_events_of_one_span(
    server: Any, session: gfetch.Session, traced: Traced
) -> None:
    (retried,) = gfetch.map([server.url(f"/flaky/1?key=otel-{next(_keys)}")], retries=1, session=session)
    redirected = session.get(server.url("/redirect/2"), timeout=10)
    assert retried.status_code == redirected.status_code == 200 and len(redirected.history) == 2
    retry, redirect = traced.spans()
    assert names(retry).count("request.started") == 2 and names(retry).count("retry.scheduled") == 1
    (scheduled,) = [event for event in retry.events if event.name == "retry.scheduled"]
    assert (scheduled.attributes or {})["attempt"] == 1 and (scheduled.attributes or {})["status"] == 503
    hops = [event.attributes or {} for event in redirect.events if event.name == "response.headers"]
    assert [hop["status"] for hop in hops] == [302, 302, 200]
    for span in (retry, redirect):
        assert (span.attributes or {})["http.response.status_code"] == 200
        assert span.status.status_code == trace.StatusCode.UNSET


def test_a_streamed_responses_span_ends_when_it_is_returned(
    server: Any, session: gfetch.Session, traced: Traced
) -> None:
    with session.get(server.url("/bytes/100000"), timeout=10, stream=True) as response:
        (span,) = traced.spans()  # ended already, with the body unread
        assert names(span)[-1] == "response.headers" and span.end_time is not None
        assert len(response.content) == 100000
    assert traced.spans() == [span] and names(span)[-1] == "response.headers"


@pytest.mark.parametrize(
    "key",
    [_SUPPRESS_INSTRUMENTATION_KEY, _SUPPRESS_HTTP_INSTRUMENTATION_KEY],
    ids=["suppress_instrumentation", "suppress_http_instrumentation"],
)
def test_no_span_where_instrumentation_is_suppressed(
    server: Any, session: gfetch.Session, traced: Traced, key: str
) -> None:
    """As opentelemetry.instrumentation.utils' suppress_instrumentation() and
    suppress_http_instrumentation() suppress it (an exporter's own requests, an HTTP span above)."""
    token = context.attach(context.set_value(key, True))
    try:
        echoed = [r.json() for r in gfetch.map([server.url("/echo")] * 3, session=session)]
        echoed.append(session.get(server.url("/echo"), timeout=10).json())
    finally:
        context.detach(token)
    assert traced.spans() == []
    assert not any("traceparent" in e["headers"] for e in echoed)


def test_spans_started_in_a_response_hook_are_children_of_the_requests_span(
    server: Any, session: gfetch.Session, traced: Traced
) -> None:
    def hook(response: Any, **kwargs: Any) -> None:
        with traced.tracer.start_as_current_span("in-hook"):
            pass

    with traced.tracer.start_as_current_span("caller") as caller:
        session.get(server.url("/json"), hooks={"response": hook}, timeout=10)
        gfetch.map([gfetch.get(server.url("/json"), hooks={"response": hook})], session=session)
        assert trace.get_current_span() is caller
    spans = traced.spans()
    requests_spans = [span for span in spans if span.name == "GET"]
    in_hook = [span for span in spans if span.name == "in-hook"]
    assert len(requests_spans) == len(in_hook) == 2
    assert {span.parent.span_id for span in in_hook if span.parent} == {
        span.context.span_id for span in requests_spans
    }


def test_credentials_are_redacted_and_an_unlisted_method_is_other(
    server: Any, session: gfetch.Session, traced: Traced
) -> None:
    url = server.url("/echo?sig=abc&AWSAccessKeyId=key&Signature=s&n=2").replace("//", "//user:secret@", 1)
    echoed = session.get(url, timeout=10).json()
    assert echoed["headers"]["authorization"].startswith("Basic ")
    assert session.request("PROPFIND", server.url("/echo"), timeout=10).status_code == 501  # http.server's
    get, propfind = traced.spans()
    redacted = server.url("/echo?sig=REDACTED&AWSAccessKeyId=REDACTED&Signature=REDACTED&n=2")
    assert (get.attributes or {})["url.full"] == redacted.replace("//", "//REDACTED:REDACTED@", 1)
    assert propfind.name == "HTTP"
    attributes = dict(propfind.attributes or {})
    assert attributes["http.request.method"] == "_OTHER"
    assert attributes["http.request.method_original"] == "PROPFIND"
    assert attributes["error.type"] == "501"


def test_a_url_that_cannot_be_sent_is_an_error_span_and_no_hook_failure(
    session: gfetch.Session, traced: Traced, caplog: pytest.LogCaptureFixture
) -> None:
    (failed,) = gfetch.map(["http://[::1/x"], session=session, return_exceptions=True)
    assert isinstance(failed, requests.exceptions.InvalidURL)
    (span,) = traced.spans()
    assert dict(span.attributes or {}) == {"http.request.method": "GET", "error.type": "InvalidURL"}
    assert not [record for record in caplog.records if "trace hook" in record.getMessage()]
