"""OpenTelemetry spans for gfetch's requests, made from its trace events: nothing is patched.

A plug-in that nothing in gfetch imports (the ``gfetch[otel]``
extra installs opentelemetry-api). Imports requests, opentelemetry,
gfetch.core.timings and the public API (the version). One line turns it on::

    import gfetch.otel
    session = gfetch.Session(trace=gfetch.otel.tracing())
    gfetch.map(urls, session=session)          # or session.get(url), ...

Each request the session sends, on its own or in a fan-out, is one span of
kind CLIENT, as OpenTelemetry's semantic conventions for HTTP clients have it:

* named after the method ("GET"; "HTTP" for a method they do not list,
  whose ``http.request.method`` is then "_OTHER");
* ``http.request.method``, ``server.address``, ``server.port`` and
  ``url.full`` (user and password, and the values of signature query
  parameters, replaced by "REDACTED") from its start;
  ``http.response.status_code`` and ``network.protocol.version`` of the last
  response; ``error.type``, and status ERROR, for a failure (the exception's
  class name, the exception recorded as an event) or a 4xx/5xx answer (the
  status code);
* a child of the span current where the request was made: under ``map``
  too, whose greenlets run in a copy of their creator's context. While the
  request runs, its span is the current one, so spans that response hooks
  start are its children, and OpenTelemetry's own HTTP instrumentations
  (urllib3's) stay quiet under it, as under the requests instrumentor's;
* the configured propagator (``traceparent``, ...) writes into the headers
  of each attempt (a fan-out's retries are events of the same span);
* every trace event of the request is a span event of the same name, with
  the record's plain fields (the phases in seconds, ``reused``, ``status``,
  ``attempt``...): the queue, DNS, connect, TLS, sending, the response head
  of each redirect hop, the body.

A span starts at the request's first event (``request.queued`` in a
fan-out, else ``request.started``) and ends at its last, exactly once:
``request.failed`` or ``request.returned``. With ``stream=True`` that is when
the response is returned, before its body is read, as the requests
instrumentor's span ends when ``send`` returns: no span waits on the caller
to read or drop a response, and none is left open. The body's time is in
``response.timings.receive`` (and a ``response.complete`` event, for a
hook of one's own).

It makes no span while OpenTelemetry's requests instrumentor is on (it wraps
``requests.Session.send``, which gfetch's Session then calls, and makes the
spans itself), nor where instrumentation is suppressed (OpenTelemetry's
suppress-instrumentation context keys): docs/plugins.md says which to use.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY, _SUPPRESS_INSTRUMENTATION_KEY
except ModuleNotFoundError as e:
    if (e.name or "").partition(".")[0] != "opentelemetry":
        raise  # OpenTelemetry is there but lacks a module of its own: that one is named
    raise ModuleNotFoundError(
        "gfetch.otel needs OpenTelemetry's API: pip install 'gfetch[otel]'", name=e.name
    ) from e

import requests

import gfetch
from gfetch.core.timings import TraceHook

__all__ = ["tracing"]

_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_VERSIONS = {10: "1.0", 11: "1.1"}
# Query parameters whose values are secrets (signed URLs), redacted in url.full as the conventions ask.
_SIGNATURE = re.compile(r"(?:^|(?<=&))(AWSAccessKeyId|Signature|sig|X-Goog-Signature)=[^&]*")
# Record fields that are no span event attribute: the request's own, or objects.
_NOT_ATTRIBUTES = frozenset({"request", "method", "url", "time", "headers", "prepared", "response", "error"})
_FIRST = frozenset({"request.queued", "request.started"})
_LAST = frozenset({"request.returned", "request.failed"})


def tracing(tracer_provider: Any = None) -> TraceHook:
    """A trace hook for ``gfetch.Session(trace=...)`` that makes a span of each request.

    ``tracer_provider``: the provider of its tracer (default: the global one,
    also when it is set later). Thread-safe: one hook may serve sessions in
    several threads.
    """
    return _Spans(trace.get_tracer(__name__, gfetch.__version__, tracer_provider))


class _Spans:
    """The hook :func:`tracing` returns: a span per request id, open from its first event to its last."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        # request id -> (span, its context, the token that made it current); None: no span of ours
        self.open: dict[int, tuple[trace.Span, Any, Any] | None] = {}

    def __call__(self, event: str, record: dict[str, Any]) -> None:
        key = record["request"]
        if key not in self.open:
            if event not in _FIRST:
                return  # after its end (a streamed body read later), or a request begun before this hook
            self.open[key] = self._begin(record)
        entry = self.open[key]
        if event in _LAST:
            del self.open[key]
            if entry is not None:
                self._end(entry, event, record)
            return
        if entry is None:
            return
        span, context, _ = entry
        if event == "request.started":
            span.set_attribute("url.full", _redacted(record["prepared"].url))  # with params= merged
            propagate.inject(record["headers"], context=context)
        elif event == "response.headers":
            span.set_attribute("http.response.status_code", record["status"])
        span.add_event(event, _event_attributes(record))

    def _begin(self, record: dict[str, Any]) -> tuple[trace.Span, Any, Any] | None:
        """The request's span, made current; None where it must have none of ours."""
        if (
            getattr(requests.Session.send, "opentelemetry_instrumentation_requests_applied", False)
            or otel_context.get_value(_SUPPRESS_INSTRUMENTATION_KEY)
            or otel_context.get_value(_SUPPRESS_HTTP_INSTRUMENTATION_KEY)
        ):
            return None
        method = record["method"]
        prepared = record.get("prepared")
        attributes = _request_attributes(method, record["url"] if prepared is None else prepared.url)
        span = self.tracer.start_span(
            "HTTP" if method not in _METHODS else method, kind=trace.SpanKind.CLIENT, attributes=attributes
        )
        context = trace.set_span_in_context(span)
        # Discussion: made current in the sending greenlet's context, where the last event comes too
        # (the fan-out's worker, or the Session.request call): urllib3's instrumentor then makes no
        # second span, and the requests instrumentor's protocol is kept.
        token = otel_context.attach(otel_context.set_value(_SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, context))
        return span, context, token

    @staticmethod
    def _end(entry: tuple[trace.Span, Any, Any], event: str, record: dict[str, Any]) -> None:
        span, _, token = entry
        try:
            if event == "request.failed":
                error = record["error"]
                span.record_exception(error)
                span.set_attribute("error.type", type(error).__qualname__)
                span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__qualname__}: {error}"))
            else:
                response = record["response"]
                span.set_attribute("http.response.status_code", response.status_code)
                version = _VERSIONS.get(getattr(response.raw, "version", None))  # type: ignore[arg-type]
                if version is not None:
                    span.set_attribute("network.protocol.version", version)
                if response.status_code >= 400:
                    span.set_attribute("error.type", str(response.status_code))
                    span.set_status(trace.Status(trace.StatusCode.ERROR))
        finally:
            otel_context.detach(token)
            span.end()


def _request_attributes(method: str, url: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {"http.request.method": method if method in _METHODS else "_OTHER"}
    if method not in _METHODS:
        attributes["http.request.method_original"] = method
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:  # no URL (a bracket unclosed, a bad port): the request fails, its span says so
        return attributes
    attributes["url.full"] = _redacted(url)
    if parts.hostname:
        attributes["server.address"] = parts.hostname
    if port is not None:
        attributes["server.port"] = port
    return attributes


def _redacted(url: str) -> str:
    """``url`` (one urlsplit takes) without its credentials and signature values, as url.full must be."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "REDACTED:REDACTED@" + netloc.rpartition("@")[2]
    query = _SIGNATURE.sub(r"\1=REDACTED", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _event_attributes(record: dict[str, Any]) -> dict[str, Any]:
    attributes = {
        name: value
        for name, value in record.items()
        if name not in _NOT_ATTRIBUTES and isinstance(value, (bool, int, float, str))
    }
    if record.get("error") is not None:  # a retry's cause
        attributes["error.type"] = type(record["error"]).__qualname__
    return attributes
