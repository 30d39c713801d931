"""gfetch.Session's fast paths give exactly requests' answers.

It reads proxy, netrc and CA settings once per session and merges settings
without requests' runtime Protocol checks; each test runs both paths on the
same inputs and compares.
"""

from __future__ import annotations

import http.cookiejar
import io
import itertools
import pickle
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import requests.adapters
import requests.hooks
import requests.models

import gfetch
from gfetch.http11.connection import HeadResponse
from gfetch.http11.httpparse import FastHTTPResponse
from gfetch.testing.raw import RawServer, pause, script, send

URLS = [
    "http://example.test/path?q=1",
    "https://example.test/",
    "https://api.example.test:8443/v1",
    "http://internal.corp.test/",
    "http://user:pw@internal.corp.test:8080/",
    "http://10.1.2.3/",
    "http://192.168.7.9:9000/",
    "http://[::1]:8080/",
    "http://localhost/",
    "file:///etc/hosts",
]

ENVIRONMENTS = [
    {},
    {"http_proxy": "http://proxy.test:3128", "https_proxy": "http://proxy.test:3129"},
    {
        "HTTP_PROXY": "http://upper.test:3128",
        "ALL_PROXY": "http://all.test:1080",
        "NO_PROXY": "corp.test,10.0.0.0/8",
    },
    {
        "http_proxy": "http://proxy.test:3128",
        "no_proxy": ".corp.test:8080, 192.168.7.9, localhost",
        "REQUESTS_CA_BUNDLE": "/tmp/bundle.pem",
    },
    {"https_proxy": "http://proxy.test:3129", "CURL_CA_BUNDLE": "/tmp/curl.pem", "no_proxy": "*"},
]

REQUEST_SETTINGS = [
    # (proxies, stream, verify, cert)
    ({}, None, None, None),
    ({"no_proxy": "example.test"}, False, True, None),
    ({"http": "http://explicit.test:1"}, True, False, "client.pem"),
    ({}, None, "/own/ca.pem", ("c.pem", "k.pem")),
]


@pytest.mark.parametrize("environ", ENVIRONMENTS)
def test_merge_environment_settings_matches_requests(monkeypatch, environ):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    ours, theirs = gfetch.Session(), requests.Session()
    for sess in (ours, theirs):
        sess.proxies = {"ftp": "http://session-ftp.test:21"}
        sess.verify = True
    # Twice over, so the second round is answered from the snapshot.
    for url, settings in itertools.product(URLS * 2, REQUEST_SETTINGS):
        proxies, stream, verify, cert = settings
        expected = theirs.merge_environment_settings(url, dict(proxies), stream, verify, cert)
        got = ours.merge_environment_settings(url, dict(proxies), stream, verify, cert)
        assert got == expected, (url, settings)


def test_trust_env_false_ignores_the_environment(monkeypatch):
    monkeypatch.setenv("http_proxy", "http://proxy.test:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/tmp/bundle.pem")
    sess = gfetch.Session()
    sess.trust_env = False
    settings = sess.merge_environment_settings("http://example.test/", {}, None, None, None)
    assert settings["proxies"] == {}
    assert settings["verify"] is True


def test_environment_is_read_once_until_refreshed(monkeypatch, server):
    sess = gfetch.Session()
    url = server.url("/")
    assert sess.get(url).status_code == 200  # takes the snapshot: no proxy
    monkeypatch.setenv("http_proxy", "http://proxy.test:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/tmp/bundle.pem")
    assert sess.merge_environment_settings(url, {}, None, None, None)["proxies"] == {}
    sess.refresh_environment()
    settings = sess.merge_environment_settings(url, {}, None, None, None)
    assert settings["proxies"]["http"] == "http://proxy.test:3128"
    assert settings["verify"] == "/tmp/bundle.pem"


def test_snapshot_is_not_pickled(monkeypatch):
    sess = gfetch.Session()
    sess.merge_environment_settings("http://example.test/", {}, None, None, None)
    monkeypatch.setenv("http_proxy", "http://proxy.test:3128")
    restored = pickle.loads(pickle.dumps(sess))
    settings = restored.merge_environment_settings("http://example.test/", {}, None, None, None)
    assert settings["proxies"]["http"] == "http://proxy.test:3128"


def _hook(response, **kwargs):
    return response


def _other_hook(response, **kwargs):
    return response


# (method, url, keywords): as Requests for prepare_request, as calls for Session.request.
CALLS = [
    ("GET", "http://example.test/a", {}),
    ("get", "http://example.test/a?x=1", {"params": {"y": "2", "z": None}}),
    ("POST", "https://example.test/", {"json": {"k": [1, 2]}, "headers": {"X-Own": "1"}}),
    ("PUT", "http://example.test/", {"data": {"a": "b"}, "headers": {"Accept": None}}),
    ("POST", "http://example.test/", {"files": {"f": ("f.txt", b"body")}}),
    ("GET", "http://example.test/", {"auth": ("me", "secret")}),
    ("GET", "http://example.test/", {"cookies": {"c": "1"}}),
    ("GET", "http://example.test/", {"hooks": {"response": [_other_hook]}}),
    ("GET", "http://example.test/", {"hooks": {"response": _other_hook}}),
    ("GET", "http://example.test/", {"hooks": {"response": []}}),
    ("GET", "http://machine.test:81/", {"params": [("p", "1"), ("p", "2")]}),
    ("GET", "http://example.test/a?x=1", {"params": ()}),
    ("GET", "http://example.test/", {"params": {"z": None}}),
    ("GET", b"http://machine.test/bytes", {}),
    ("GET", "http://example.test/", {"headers": []}),
    ("GET", "http://example.test/", {"headers": {}}),
    ("GET", "http://example.test/", {"headers": {"X-Session": None}}),
    ("DELETE", "http://example.test/", {}),  # no body: Content-Length: 0
    ("HEAD", "http://example.test/", {"data": []}),
    ("GET", "http://example.test/", {"data": "", "files": []}),
    ("GET", "http://example.test/", {"data": b"raw"}),
    ("GET", "http://example.test/", {"data": iter([b"chunk"])}),
    ("OPTIONS", "http://example.test/", {"data": ()}),
]
REQUESTS = [requests.Request(method, url, **keywords) for method, url, keywords in CALLS]


def _configure(sess: requests.Session, variant: int) -> requests.Session:
    if variant >= 1:
        sess.headers["X-Session"] = "s"
        sess.params = {"session": "1"}
        sess.cookies.set("sc", "2")
    if variant >= 2:
        sess.hooks["response"].append(_hook)
        sess.auth = ("session-user", "pw")
    if variant >= 3:
        sess.headers["Accept-Encoding"] = None  # None in the session's own headers: dropped
    return sess


def _observable(prepared: requests.PreparedRequest) -> tuple:
    """What a server or hook sees; multipart boundaries (random) masked."""
    headers, body = list(prepared.headers.items()), prepared.body
    boundary = prepared.headers.get("Content-Type", "").partition("boundary=")[2]
    if boundary:
        headers = [(k, v.replace(boundary, "B")) for k, v in headers]
        body = body.replace(boundary.encode(), b"B")
    return (
        prepared.method,
        prepared.url,
        headers,
        body,
        {event: list(hooks) for event, hooks in prepared.hooks.items()},
        sorted((c.name, c.value) for c in prepared._cookies),
    )


@pytest.mark.parametrize("variant", [0, 1, 2, 3])
def test_prepare_request_matches_requests(monkeypatch, tmp_path, variant):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine machine.test login robot password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    ours = _configure(gfetch.Session(), variant)
    theirs = _configure(requests.Session(), variant)
    for request in REQUESTS * 2:
        assert _observable(ours.prepare_request(request)) == _observable(theirs.prepare_request(request))


class _Recorder(requests.adapters.BaseAdapter):
    """An adapter that keeps what it is sent and answers an empty 200."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        response = requests.Response()
        response.status_code, response.url, response.request = 200, request.url, request
        response.raw, response._content = io.BytesIO(b""), b""
        return response

    def close(self) -> None:
        pass


@pytest.mark.parametrize("variant", [0, 1, 2, 3])
def test_session_request_prepares_what_requests_prepares(monkeypatch, tmp_path, variant):
    """Session.request prepares a request without building a Request when
    none of its hooks are given: the PreparedRequest sent is requests'."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine machine.test login robot password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    sent = {}
    for sess in (_configure(gfetch.Session(), variant), _configure(requests.Session(), variant)):
        recorder = sent[type(sess)] = _Recorder()
        for prefix in ("http://", "https://"):
            sess.mount(prefix, recorder)
        for method, url, keywords in CALLS * 2:
            sess.request(method, url, **keywords)
    ours, theirs = sent[gfetch.Session].sent, sent[requests.Session].sent
    assert len(ours) == len(theirs) == 2 * len(CALLS)
    assert [_observable(p) for p in ours] == [_observable(p) for p in theirs]


def _prepared_by(sess: requests.Session, method: str) -> requests.PreparedRequest:
    recorder = _Recorder()
    sess.mount("http://", recorder)
    sess.request(method, "http://example.test/")
    return recorder.sent[0]


@pytest.mark.parametrize("method", ["GET", "HEAD", "get", "POST", b"DELETE"])
def test_prepared_requests_have_exactly_requests_attributes(method):
    """Session.request builds a body-less request's PreparedRequest without
    ``__init__`` and ``prepare_body``: the same attributes, in the same order,
    of the same types and values, and a hooks dict of its own."""
    ours = _prepared_by(gfetch.Session(), method)
    theirs = _prepared_by(requests.Session(), method)
    assert list(vars(ours)) == list(vars(theirs))
    assert [(type(v), v) for v in vars(ours).values() if not isinstance(v, http.cookiejar.CookieJar)] == [
        (type(v), v) for v in vars(theirs).values() if not isinstance(v, http.cookiejar.CookieJar)
    ]
    assert ours.hooks is not _prepared_by(gfetch.Session(), method).hooks
    assert ours.hooks["response"] is not _prepared_by(gfetch.Session(), method).hooks["response"]


def test_a_get_skips_requests_preparation_steps_that_set_nothing():
    """What the shortcut saves: PreparedRequest.__init__ (and its default_hooks) and
    prepare_body do not run for a body-less GET."""
    skipped = {
        requests.models.PreparedRequest.__init__.__code__,
        requests.models.PreparedRequest.prepare_body.__code__,
        requests.hooks.default_hooks.__code__,
    }
    ran = set()

    def track(frame, event, arg):
        if event == "call":
            ran.add(frame.f_code)

    sess = gfetch.Session()
    _prepared_by(sess, "GET")  # the first validates the session's headers once, with a PreparedRequest()
    sys.setprofile(track)
    try:
        _prepared_by(sess, "GET")
    finally:
        sys.setprofile(None)
    assert not ran & skipped
    sys.setprofile(track)
    try:
        _prepared_by(sess, "POST")  # prepare_body sets Content-Length: 0 for it
    finally:
        sys.setprofile(None)
    assert requests.models.PreparedRequest.prepare_body.__code__ in ran


def test_replaced_preparation_steps_are_obeyed(monkeypatch):
    """A PreparedRequest.__init__ or prepare_body replaced on requests' class (as a
    tracer or a test may) runs: the shortcut holds only while they are requests' own."""
    calls = []
    for name in ("__init__", "prepare_body"):
        shipped = getattr(requests.models.PreparedRequest, name)

        def replaced(self, *args, _shipped=shipped, _name=name):
            calls.append(_name)
            return _shipped(self, *args)

        monkeypatch.setattr(requests.models.PreparedRequest, name, replaced)
    sess = gfetch.Session()
    _prepared_by(sess, "GET")  # the first also validates the session's headers with a PreparedRequest()
    calls.clear()
    ours = _prepared_by(sess, "GET")
    assert calls == ["__init__", "prepare_body"]
    assert _observable(ours) == _observable(_prepared_by(requests.Session(), "GET"))


def test_netrc_is_read_once_per_session(monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine machine.test login robot password hunter2\n")
    monkeypatch.setenv("NETRC", str(netrc))
    sess = gfetch.Session()
    request = requests.Request("GET", "http://machine.test/")
    first = sess.prepare_request(request).headers["Authorization"]
    netrc.write_text("machine machine.test login other password changed\n")
    assert sess.prepare_request(request).headers["Authorization"] == first
    sess.refresh_environment()
    assert sess.prepare_request(request).headers["Authorization"] != first


def test_netrc_lookup_replaced_in_requests_sessions_is_obeyed(monkeypatch, server):
    # requests' own test_basicauth_with_netrc replaces requests.sessions.get_netrc_auth.
    url = server.url()
    with gfetch.Session() as sess:
        assert "Authorization" not in sess.get(url).request.headers  # the cache now holds "no netrc"
        monkeypatch.setattr(requests.sessions, "get_netrc_auth", lambda url: ("user", "pass"))
        assert sess.get(url).request.headers["Authorization"] == requests.auth._basic_auth_str("user", "pass")


def test_environ_proxies_lookup_replaced_in_requests_sessions_is_obeyed(monkeypatch):
    sess = gfetch.Session()
    assert sess.merge_environment_settings("http://example.test/", {}, None, None, None)["proxies"] == {}
    monkeypatch.setattr(
        requests.sessions, "get_environ_proxies", lambda url, no_proxy: {"http": "http://p.test:1"}
    )
    settings = sess.merge_environment_settings("http://example.test/", {}, None, None, None)
    assert settings["proxies"] == {"http": "http://p.test:1"}


# -- response heads: gfetch's parser against http.client's, end to end --------
REPLIES = [
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
    b"Connection: close\r\n\r\n{}",
    b"HTTP/1.1 201 Created\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\nX-Dup: 1\r\nx-dup: 2\r\n"
    b"Content-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Folded: one\r\n two\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=latin-1\r\nX-Latin: caf\xe9\r\n\r\n"
    b"body to the close",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 206 Partial\r\nContent-Type: multipart/byteranges; boundary=x\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nNo colon here\r\nContent-Length: 1\r\n\r\nz",
    b"HTTP/1.1 200 OK\r\nX-Padded:\t padded value \t\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Dup: 1\r\nContent-Type: text/plain\r\nx-dup: 2\r\nX-DUP: 3\r\n"
    b"Content-Length: 0\r\n\r\n",
]


@pytest.mark.parametrize("reply", REPLIES, ids=range(len(REPLIES)))
@pytest.mark.parametrize(
    ("transport", "original_class"), [("auto", HeadResponse), ("urllib3", FastHTTPResponse)]
)
def test_response_heads_match_requests(reply, transport, original_class):
    """The same reply through gfetch (its own pool, or urllib3 with
    FastHTTPResponse) and through plain requests (http.client's parser)
    gives the same Response."""

    def seen(response):
        original = response.raw._original_response
        return (
            response.status_code,
            response.reason,
            list(response.headers.items()),
            list(response.raw.headers.items()),
            original.msg.items(),
            [type(defect) for defect in original.msg.defects],
            response.cookies.get_dict(),
            response.content,
            [r.status_code for r in response.history],
        )

    with (
        RawServer(send(reply)) as server,
        requests.Session() as plain,
        gfetch.Session(transport=transport) as green,
    ):
        url = server.url("/")
        expected = plain.get(url, timeout=5, allow_redirects=False)
        got = green.get(url, timeout=5, allow_redirects=False)
    assert type(got.raw._original_response) is original_class
    assert type(expected.raw._original_response) is not FastHTTPResponse
    assert seen(got) == seen(expected)


def _counting_raw_reads(reads: list[Any]) -> Callable[..., None]:
    """A response hook that has the response's ``raw.read`` note each ``amt`` in ``reads``."""

    def count_reads(response: requests.Response, **kwargs: Any) -> None:
        read = response.raw.read
        response.raw.read = lambda amt=None, *args, **kw: reads.append(amt) or read(amt, *args, **kw)

    return count_reads


def test_a_sized_body_still_arriving_is_read_in_one_piece():
    """``stream=False`` reads requests' ``content`` with one ``raw.read`` for the
    rest of a sized body that is not all there yet (requests' own chunk size,
    10240, is kept where a body needs decoding or has no length)."""
    body = bytes(range(256)) * 256  # 64 KiB
    whole = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    reads: list[Any] = []

    behaviour = script(
        send(whole[:1000]), pause(0.05), send(whole[1000:40_000]), pause(0.05), send(whole[40_000:])
    )
    with RawServer(behaviour) as server, gfetch.Session(transport="auto") as session:  # gfetch's own pool
        response = session.get(server.url("/"), timeout=5, hooks={"response": _counting_raw_reads(reads)})
    assert response.content == body
    assert reads == [len(body)]


def test_a_body_over_64_kib_received_with_its_head_is_taken_as_it_is():
    """A response of up to about 127 KiB is received in one read when it is all there: its
    body is taken from what was received, with no ``raw.read``. (The trace hook holds the
    client after its request is sent until the server has sent the whole reply.)"""
    body = bytes(range(256)) * 280  # 70 KiB: more than one 64 KiB read with its head
    whole = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    reads: list[Any] = []
    sent = threading.Event()

    def wait_for_the_reply(event: str, record: dict[str, Any]) -> None:
        if event == "request.sent":
            assert sent.wait(5)
            time.sleep(0.2)  # the reply crosses loopback

    def reply(peer: Any) -> None:
        peer.sock.sendall(whole)
        sent.set()

    with RawServer(reply) as server, gfetch.Session(transport="auto", trace=wait_for_the_reply) as session:
        response = session.get(server.url("/"), timeout=5, hooks={"response": _counting_raw_reads(reads)})
    assert response.content == body
    assert reads == []


def test_a_body_received_with_its_head_skips_http_clients_read_layers(monkeypatch):
    """The body a head arrived with is taken from the connection's buffer: http.client's
    ``read`` is not called for it (HeadResponse.read_held leaves the state it would leave,
    test_a_body_read_in_one_step_leaves_what_requests_reading_leaves)."""
    import http.client

    calls: list[Any] = []
    read = http.client.HTTPResponse.read
    monkeypatch.setattr(http.client.HTTPResponse, "read", lambda self, *a: calls.append(a) or read(self, *a))
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    with RawServer(send(reply)) as server, gfetch.Session(transport="auto") as session:
        response = session.get(server.url("/"), timeout=5)
    assert response.content == b"hello"
    assert response.raw._original_response.isclosed() and response.raw.closed
    assert calls == []


# -- URLs prepare_url leaves as they are ---------------------------------------
def test_canonical_urls_are_exactly_what_prepare_url_returns():
    """Session.prepare_request skips requests' prepare_url, and the adapter its
    path_url, for URLs prepare_url would return unchanged: every URL the check
    accepts must come back identical from requests' own prepare_url, with the
    same path_url, and the check must accept the plain ones."""
    from gfetch.integration.urls import canonical_path_url
    from gfetch.integration.urls import is_canonical as _canonical_url

    def prepared(url: str) -> str:
        request = requests.PreparedRequest()
        request.prepare_url(url, "")
        assert canonical_path_url(url) == request.path_url, url
        return request.url

    rng = random.Random(2)
    alphabet = "aZ0-._~!$&'()*+,;=:@/?%#. \t\xe9"
    hosts = ["example.com", "a.b", "127.0.0.1", "Example.com", "x-y.z", ".bad", "h", "a..b", "b.", "[::1]"]
    ports = ["", ":8080", ":80", ":0", ":08", ":65535", ":65536", ":99999", ":9999", ":12345"]
    accepted = 0
    for _ in range(30_000):
        scheme = rng.choice(["http://", "https://", "HTTP://", "ftp://"])
        path = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        url = scheme + rng.choice(hosts) + rng.choice(ports) + "/" + path
        if _canonical_url(url):
            accepted += 1
            assert prepared(url) == url, url
    assert accepted > 2_000
    for plain in ("http://127.0.0.1:8080/json", "https://api.example.org/items/42?page=2&sort=name"):
        assert _canonical_url(plain)
    for odd in (
        "http://Example.com/",
        "http://h/a/../b",
        "http://h/%7e",
        "http://h/a#frag",
        "http://h/a b",
        "http://h:0/",
        "http://user@h/",
        "http://[::1]/",
        "http://h/?",
        "http://h",
    ):
        assert not _canonical_url(odd), odd


def test_responses_have_exactly_requests_attributes(server):
    """gfetch's pool builds its Responses without ``Response.__init__``: the
    same attributes, of the same types, and they pickle as requests' do;
    ``timings`` is the one gfetch adds (last, and not pickled). ``r.raw`` has
    urllib3's attributes in order, its headers and decoded-bytes buffer made
    when first looked for (requests reads its own copy of the headers, and a
    body read in one piece needs no buffer), then equal to urllib3's. ``r.raw`` and its
    ``_original_response`` keep what urllib3 and http.client set in slots (gfetch.http11.slots),
    the rest in their ``__dict__``."""
    from gfetch.http11.slots import attributes_of

    url = server.url("/json")
    with gfetch.Session(transport="auto") as sess, requests.Session() as plain:
        ours, theirs = sess.get(url), plain.get(url)
    assert type(ours.raw._original_response) is HeadResponse  # the lean pool answered
    assert list(vars(ours)) == [*vars(theirs), "timings"]
    assert all(
        isinstance(value, type(vars(theirs)[name])) for name, value in vars(ours).items() if name != "timings"
    )
    assert "headers" not in vars(ours.raw)  # requests read its own copy
    assert len(ours.raw._decoded_buffer) == 0 and ours.raw.headers == theirs.raw.headers
    made_later = {"headers", "_decoded_buffer"}
    assert made_later == set(vars(ours.raw))  # the rest is in slots
    assert [n for n in attributes_of(ours.raw) if n not in made_later] == [
        n for n in vars(theirs.raw) if n not in made_later
    ]
    assert "status" not in vars(ours.raw._original_response)  # in a slot too
    restored = pickle.loads(pickle.dumps(ours))
    assert (restored.status_code, restored.headers, restored.content) == (200, ours.headers, ours.content)


def test_slots_are_left_to_what_the_library_defines_itself():
    """A name the library's class (or a base) defines, a property or a default, is not
    made a slot of gfetch's subclass, which would hide it."""
    import http.client

    from urllib3.response import HTTPResponse

    from gfetch.http11.slots import unclaimed

    assert unclaimed(HTTPResponse, ("status", "retries", "closed", "data", "x")) == ("status", "x")
    assert unclaimed(http.client.HTTPResponse, ("fp", "begin", "closed")) == ("fp",)


def test_response_headers_get_answers_as_urllib3s():
    from urllib3._collections import HTTPHeaderDict

    from gfetch.http11.rawresponse import ResponseHeaders

    rng = random.Random(3)
    names = ["Content-Length", "content-length", "Set-Cookie", "X-A", "x-a", "É"]
    for _ in range(300):
        fields = [(rng.choice(names), rng.choice(["1", "a b", ""])) for _ in range(rng.randint(0, 5))]
        ours, theirs = ResponseHeaders(), HTTPHeaderDict()
        for name, value in fields:
            ours.add(name, value)
            theirs.add(name, value)
        for key in [*names, "missing", b"x-a", b"content-length"]:
            assert ours.get(key) == theirs.get(key) and ours.get(key, 0) == theirs.get(key, 0), (fields, key)


def _head_of(fields):
    from gfetch.http11.parser import parse_response_head

    lines = "".join(f"{name}: {value}\r\n" for name, value in fields)
    head, _ = parse_response_head(f"HTTP/1.1 200 OK\r\n{lines}\r\n".encode("latin-1"), "GET")
    return head


def test_response_headers_of_a_parsed_head_behave_as_urllib3s():
    """raw.headers of gfetch's pool holds the parser's tuples when no name
    repeats; reading, copying, comparing and adding give urllib3's answers."""
    from urllib3._collections import HTTPHeaderDict

    from gfetch.http11.rawresponse import headers_of

    rng = random.Random(5)
    names = ["Content-Type", "content-type", "Set-Cookie", "X-A", "x-b", "Vary"]
    tuple_heads = 0
    for _ in range(300):
        values = ["1", "a b", "text/plain"]
        fields = [(rng.choice(names), rng.choice(values)) for _ in range(rng.randint(0, 5))]
        ours, theirs = headers_of(_head_of(fields)), HTTPHeaderDict(fields)
        tuple_heads += any(type(entry) is tuple for entry in ours._container.values())
        for step in range(3):
            assert ours == theirs and list(ours.items()) == list(theirs.items()), fields
            assert dict(ours.itermerged()) == dict(theirs.itermerged())
            for key in [*names, "missing"]:
                assert ours.getlist(key) == theirs.getlist(key) and type(ours.getlist(key)) is list
                assert ours.get(key) == theirs.get(key) and (key in ours) == (key in theirs)
            copied = ours.copy()
            assert copied == theirs and type(copied.getlist("Vary")) is list
            name, value = rng.choice(names), rng.choice(["2", "c"])
            if step == 0:
                ours.add(name, value)
                theirs.add(name, value)
            elif step == 1:
                ours.add(name, value, combine=True)
                theirs.add(name, value, combine=True)
            ours.extend([(name, value)])
            theirs.extend([(name, value)])
    assert tuple_heads > 100  # the tuple entries were exercised


def test_raw_responses_come_from_urllib3s_init_once_it_sets_other_attributes(monkeypatch):
    import urllib3.response

    from gfetch.http11.rawresponse import built_as_init

    assert built_as_init()
    original = urllib3.response.HTTPResponse.__init__

    def init_with_more(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.more = []

    monkeypatch.setattr(urllib3.response.HTTPResponse, "__init__", init_with_more)
    assert not built_as_init()


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/html",
        "text/html; charset=UTF-8",
        "application/json",
        "application/json; charset='latin-1'",
        'text/plain; charset="utf-16"',
        "image/png",
        "application/vnd.api+json",
        "TEXT/HTML",
        "text/html;charset=x",
    ],
)
def test_response_encoding_is_requests_answer_for_its_content_type(content_type):
    from requests.structures import CaseInsensitiveDict
    from requests.utils import get_encoding_from_headers

    from gfetch.integration.responses import encoding_of

    headers = CaseInsensitiveDict({} if content_type is None else {"Content-Type": content_type})
    for _ in range(2):  # computed, then remembered
        assert encoding_of(headers) == get_encoding_from_headers(headers)


def test_responses_come_from_requests_init_once_it_sets_other_attributes(monkeypatch):
    from gfetch.integration.responses import built_as_init

    assert built_as_init()
    original = requests.Response.__init__

    def init_with_more(self):
        original(self)
        self.more = []

    monkeypatch.setattr(requests.Response, "__init__", init_with_more)
    assert not built_as_init()


def test_environment_netloc_is_urlsplits():
    """The environment caches key on a URL's netloc, found by a regular
    expression for plain URLs: it must be urlsplit's (None where urlsplit
    refuses the URL) for any string, plain or not."""
    from urllib.parse import urlsplit

    from gfetch.integration.environment import _netloc

    rng = random.Random(4)
    alphabet = "ab:/?#@[]%.-_~ \t\n\x00\x7f\xe9\\1"
    for _ in range(30_000):
        url = rng.choice(["http://", "https://", "HTTP://", "http:/", "ftp://", " http://", ""]) + "".join(
            rng.choice(alphabet) for _ in range(rng.randint(0, 12))
        )
        try:
            expected = urlsplit(url).netloc
        except ValueError:
            expected = None
        assert _netloc(url) == expected, url


def test_the_empty_jar_behaves_as_requests_jar():
    """gfetch.integration.cookiejar's jar makes its policy and lock on first use: repr, pickling,
    copying, setting and reading cookies are requests' RequestsCookieJar's."""
    import http.cookiejar

    from requests.cookies import RequestsCookieJar

    from gfetch.integration.cookiejar import empty_jar

    ours, theirs = empty_jar(), RequestsCookieJar()
    assert isinstance(ours, RequestsCookieJar) and repr(ours) == repr(theirs) == "<RequestsCookieJar[]>"
    assert "_policy" not in vars(ours) and "_cookies_lock" not in vars(ours)  # nothing made yet
    restored = pickle.loads(pickle.dumps(ours))
    assert len(restored) == 0 and isinstance(restored.get_policy(), http.cookiejar.DefaultCookiePolicy)
    for jar in (ours, theirs):
        jar.set("a", "1", domain="example.org", path="/")
        jar.set("b", "2")
    assert ours.get_dict() == theirs.get_dict() and repr(ours) == repr(theirs)
    assert pickle.loads(pickle.dumps(ours)).get_dict() == theirs.get_dict()
    assert ours.copy().get_dict() == theirs.get_dict()
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        ours.missing  # noqa: B018


BODIES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Encoding: identity\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 25\r\nContent-Encoding: gzip\r\n\r\n"
    + __import__("gzip").compress(b"hi", mtime=0)[:25].ljust(25, b"\0"),
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",  # the rest never comes: read as urllib3 does
]


def _state(response):
    """What reading a body leaves, of a Response and its raw response (objects by type)."""
    from gfetch.http11.slots import attributes_of

    def plain(value):
        plain_types = (bytes, str, int, float, bool, type(None))
        return value if isinstance(value, plain_types) else type(value).__name__

    raw = response.raw
    original = raw._original_response
    raw._decoded_buffer  # noqa: B018 - made on first use (urllib3's reading makes it)
    raw.headers  # noqa: B018 - made on first use too
    return (
        {
            name: plain(value)
            for name, value in vars(response).items()
            if name not in ("elapsed", "timings", "url")
        },  # the url names each run's server
        {name: plain(value) for name, value in attributes_of(raw).items()},
        {name: plain(value) for name, value in attributes_of(original).items() if name != "url"},
        original.isclosed(),
        raw.closed,
        raw.tell(),
        raw.length_remaining,
    )


@pytest.mark.parametrize("reply", BODIES, ids=range(len(BODIES)))
def test_a_body_read_in_one_step_leaves_what_requests_reading_leaves(reply, monkeypatch):
    """Session's shortcut for a body already received (GreenHTTPResponse.read_buffered) leaves the
    Response and r.raw as requests' ``content`` through urllib3's ``stream()`` does."""
    from gfetch.http11.rawresponse import GreenHTTPResponse

    def read(shortcut):
        if not shortcut:
            monkeypatch.setattr(GreenHTTPResponse, "read_buffered", lambda self: None)
        try:
            with RawServer(send(reply)) as server, gfetch.Session() as session:
                response = session.get(server.url("/"), timeout=0.5)
                return response.content, _state(response)
        except requests.RequestException as exc:
            return type(exc), str(exc).split(":")[0]
        finally:
            monkeypatch.undo()

    assert read(shortcut=True) == read(shortcut=False)


_TRACKED_PER_RESPONSE = """
import gc
import gfetch
from gfetch.testing.raw import RawServer, keep_alive

reply = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 2\\r\\n\\r\\n{}"
with RawServer(keep_alive(lambda peer, request: (reply, False)), read_head=False) as server:
    urls = [server.url("/")] * 200
    with gfetch.Session(transport="auto") as session:  # gfetch's own pool, whatever GFETCH_TRANSPORT says
        gfetch.map(urls[:20], size=10, session=session)
        responses = gfetch.map(urls, size=10, session=session)
        assert all(r.content == b"{}" for r in responses)
        gc.collect()
        kept = len(gc.get_objects())
        del responses  # what goes with them is what they held (not, say, the hub's pending timers)
        gc.collect()
        print((kept - len(gc.get_objects())) / len(urls))
"""


def _tracked_per_response() -> float:
    """Objects the cyclic garbage collector visits, per response kept, after a fan-out
    (from a keep-alive server sending each response in one piece, as nginx does).

    In a fresh interpreter: CPython 3.11 keeps an instance's attributes
    without a dict of their own only while its class has met at most 30
    attribute names, which other tests' objects may use up.
    """
    result = subprocess.run(
        [sys.executable, "-c", _TRACKED_PER_RESPONSE], capture_output=True, text=True, timeout=60, check=True
    )
    return float(result.stdout)


def test_a_kept_response_holds_few_objects_for_the_garbage_collector() -> None:
    """Each object a kept response holds is visited by every full collection of the
    process: a fan-out's response holds 14 (the Response, its headers, request, raw
    response, http.client's response, timings, ...). The request's empty cookie jar
    makes no ``__dict__`` of its own, ``r.raw`` neither headers nor a buffer until
    asked for them (23 before these three), http.client's response keeps the head's
    fields (a tuple of strings) and not the parsed head, the response's and the
    request's header stores are dicts of strings, and the socket's ``shutdown`` is
    one per connection (19 before these five)."""
    assert _tracked_per_response() <= 14.2


@pytest.mark.parametrize("status", [200, 101, 204, 304, 404])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"Content-Length": "12", "Content-Encoding": "gzip"},
        {"Content-Length": "012"},
        {"Content-Length": "5, 5"},
        {"Content-Length": "5, 6"},
        {"Content-Length": "-1"},
        {"Content-Length": "١٢"},  # Arabic-Indic digits: int() reads them, isdigit() too
        {"Content-Length": "²"},
        {"Content-Length": " 7 "},
        {"Content-Length": "x"},
        {"Content-Length": "7", "Transfer-Encoding": "chunked"},
    ],
)
def test_raw_response_lengths_are_urllib3s(status: int, method: str, fields: dict[str, str]) -> None:
    """``length_remaining`` of a raw response built without urllib3's ``__init__`` is what
    urllib3's ``_init_length`` answers (or the same InvalidHeader), for every Content-Length."""
    from urllib3.exceptions import InvalidHeader

    from gfetch.http11.parser import HeadFields, parse_response_head
    from gfetch.http11.rawresponse import new_raw_response

    block = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    head, _ = parse_response_head(f"HTTP/1.1 {status} R\r\n{block}\r\n".encode(), method)

    class ReadToItsEnd(HeadFields):
        """An http.client response read to its end, keeping the head's fields."""

        def __init__(self) -> None:
            self.fields, self.first, self.message = head.fields, head.first, head.message

        def isclosed(self) -> bool:
            return True

    def build(preload: bool) -> Any:
        original = ReadToItsEnd()
        return new_raw_response(
            io.BytesIO(), head, preload, False, original, None, None, None, method, "/", None
        )  # fmt: skip

    try:
        expected: Any = build(preload=True).length_remaining  # urllib3's own __init__
    except InvalidHeader as e:
        expected = type(e)
    try:
        got: Any = build(preload=False).length_remaining
    except InvalidHeader as e:
        got = type(e)
    assert got == expected
