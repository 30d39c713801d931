"""gfetch.Session: requests behaviours, run through gfetch's transport.

Every server is a loopback server started by a fixture or by the test and
stopped by it. Timing asserts are generous bounds, not benchmarks.
"""

from __future__ import annotations

import inspect
import logging
import pickle
import socket
import threading
import time
import uuid

import pytest
import requests
import requests_mock
import responses
import trustme
import urllib3
from _backlog import full_backlog
from _servers import HTTPSServer, ProxyServer
from _ticker import Ticker
from urllib3.util.retry import Retry

import gfetch
import gfetch.io.sockets
from gfetch.core.hub import Hub, get_hub
from gfetch.integration.adapter import HTTPAdapter
from gfetch.integration.urllib3_pools import GreenHTTPConnectionPool, GreenRetry
from gfetch.io.sockets import GreenSocket
from gfetch.testing.raw import RawServer, head, script, send


def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def proxy():
    with ProxyServer() as p:
        yield p


@pytest.fixture
def refused_url():
    """An http URL on 127.0.0.1 whose port refuses connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    sock.close()


@pytest.fixture
def unanswered_url():
    """A listener whose backlog is full: new connections get no SYN-ACK."""
    with full_backlog() as port:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(0.2)
        try:
            probe.connect(("127.0.0.1", port))
        except (TimeoutError, OSError):
            reproducible = True
        else:
            reproducible = False
        finally:
            probe.close()
        if not reproducible:
            pytest.skip("this kernel accepts past the backlog: no unanswered connect on loopback")
        yield f"http://127.0.0.1:{port}/"


# -- plumbing ------------------------------------------------------------


def test_session_is_a_requests_session_with_gfetch_adapters(session):
    assert isinstance(session, requests.Session)
    for url in ("http://example.test/", "https://example.test/"):
        adapter = session.get_adapter(url)
        assert isinstance(adapter, HTTPAdapter)
        assert isinstance(adapter.max_retries, GreenRetry)
        assert adapter.poolmanager.pool_classes_by_scheme["http"] is GreenHTTPConnectionPool
    # never the module-level dict urllib3 shares with every PoolManager
    assert urllib3.poolmanager.pool_classes_by_scheme["http"] is urllib3.HTTPConnectionPool
    assert "send" not in vars(gfetch.Session) and "get_adapter" not in vars(gfetch.Session)
    assert "send" not in vars(HTTPAdapter)


def test_plain_requests_session_is_untouched(server):
    with gfetch.Session() as sess:
        sess.get(server.url("/json"))
    with requests.Session() as plain:
        adapter = plain.get_adapter("http://x/")
        assert type(adapter) is requests.adapters.HTTPAdapter
        assert plain.get(server.url("/json")).json()["ok"] is True


def test_pickle_round_trip_keeps_adapters_and_default_timeout(server):
    with gfetch.Session(timeout=7, max_retries=2) as sess:
        clone = pickle.loads(pickle.dumps(sess))
    try:
        assert clone.timeout == 7
        adapter = clone.get_adapter(server.url())
        assert isinstance(adapter, HTTPAdapter)
        assert isinstance(adapter.max_retries, GreenRetry)
        assert adapter.max_retries.total == 2
        assert adapter.poolmanager.pool_classes_by_scheme["http"] is GreenHTTPConnectionPool
        assert clone.get(server.url("/json")).status_code == 200
    finally:
        clone.close()


def test_max_retries_int_and_plain_retry_become_green_retry():
    for value, total in ((0, 0), (3, 3), (Retry(total=5, backoff_factor=0.5), 5), (None, 0)):
        adapter = HTTPAdapter(max_retries=value)
        try:
            assert type(adapter.max_retries) is GreenRetry
            assert adapter.max_retries.total == total
        finally:
            adapter.close()
    retry = Retry(total=4, status_forcelist=[503], backoff_factor=0.3, respect_retry_after_header=False)
    green = GreenRetry.from_retry(retry)
    assert green.status_forcelist == {503} or list(green.status_forcelist) == [503]
    assert (green.backoff_factor, green.respect_retry_after_header) == (0.3, False)
    assert type(green.new(total=1)) is GreenRetry


# -- requests features ------------------------------------------------------


def test_params_and_headers(session, server):
    r = session.get(server.url("/echo"), params={"q": "a b", "n": 1}, headers={"X-Test": "yes"})
    assert r.status_code == 200
    data = r.json()
    assert data["query"] == {"q": "a b", "n": "1"}
    assert data["headers"]["x-test"] == "yes"
    assert r.url == server.url("/echo?q=a+b&n=1")


def test_session_headers_merge(session, server):
    session.headers["X-Session"] = "s"
    data = session.get(server.url("/echo"), headers={"X-Request": "r"}).json()
    assert data["headers"]["x-session"] == "s"
    assert data["headers"]["x-request"] == "r"


def test_cookies_set_by_server_are_sent_back(session, server):
    r = session.get(server.url("/cookies/set"), params={"flavour": "oat"})
    assert r.cookies["flavour"] == "oat"
    assert session.cookies["flavour"] == "oat"
    assert session.get(server.url("/cookies")).json() == {"cookies": {"flavour": "oat"}}
    assert session.get(server.url("/cookies"), cookies={"extra": "1"}).json()["cookies"] == {
        "flavour": "oat",
        "extra": "1",
    }


def test_redirects_and_history(session, server):
    r = session.get(server.url("/redirect/3"))
    assert r.status_code == 200
    assert r.url == server.url("/json")
    assert [h.status_code for h in r.history] == [302, 302, 302]
    assert r.history[0].url == server.url("/redirect/3")
    r = session.get(server.url("/redirect/3"), allow_redirects=False)
    assert r.status_code == 302
    assert r.is_redirect and r.headers["Location"] == "/redirect/2"
    with pytest.raises(requests.TooManyRedirects):
        session.get(server.url("/redirect/40"))


def test_basic_auth_reaches_the_server(session, server):
    data = session.get(server.url("/echo"), auth=("user", "pass")).json()
    assert data["headers"]["authorization"] == "Basic dXNlcjpwYXNz"


def test_json_body(session, server):
    data = session.post(server.url("/echo"), json={"a": [1, 2]}).json()
    assert data["method"] == "POST"
    assert data["headers"]["content-type"] == "application/json"
    assert data["body"] == '{"a": [1, 2]}'


def test_form_body(session, server):
    data = session.put(server.url("/echo"), data={"a": "1", "b": "x y"}).json()
    assert data["method"] == "PUT"
    assert data["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert data["body"] == "a=1&b=x+y"


def test_files_body(session, server):
    files = {"upload": ("hello.txt", b"file-content", "text/plain")}
    data = session.post(server.url("/echo"), files=files, data={"field": "v"}).json()
    assert data["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert 'filename="hello.txt"' in data["body"]
    assert "file-content" in data["body"]
    assert 'name="field"' in data["body"]


def test_large_and_chunked_bodies(session, server):
    big = "x" * (3 * 1024 * 1024)
    assert session.post(server.url("/echo"), data=big).json()["body"] == big

    def gen():
        yield b"chunk-1;"
        yield b"chunk-2"

    data = session.post(server.url("/echo"), data=gen()).json()
    assert data["headers"]["transfer-encoding"] == "chunked"
    assert data["body"] == "chunk-1;chunk-2"


def test_head_and_delete(session, server):
    r = session.head(server.url("/bytes/10"))
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Length"] == "10"
    assert session.delete(server.url("/echo")).json()["method"] == "DELETE"


def test_stream_iter_content(session, server):
    with session.get(server.url("/bytes/200000"), stream=True) as r:
        assert r.status_code == 200
        sizes = [len(chunk) for chunk in r.iter_content(chunk_size=10000)]
    assert sum(sizes) == 200000
    assert max(sizes) <= 10000 and len(sizes) >= 20


def test_streamed_body_is_read_from_the_kernel_once_into_the_readers_buffer(monkeypatch):
    """On the urllib3 transport the cooperative socket adds no copy: every byte
    of a streamed body enters Python once, through recv_into into the buffer
    http.client gives it."""
    body = bytes(range(256)) * 8192  # 2 MiB
    reply = head(200, f"Content-Length: {len(body)}", "Content-Type: application/octet-stream") + body
    received = [0]
    real_recv_into = GreenSocket.recv_into

    def counting_recv_into(self, buffer, nbytes=0, flags=0):
        n = real_recv_into(self, buffer, nbytes, flags)
        received[0] += n
        return n

    def no_recv(self, *args):
        raise AssertionError("recv() allocates a new bytes object per read")

    monkeypatch.setattr(GreenSocket, "recv_into", counting_recv_into)
    monkeypatch.setattr(GreenSocket, "recv", no_recv)
    with RawServer(send(reply)) as raw, gfetch.Session(transport="urllib3") as sess:
        with sess.get(raw.url("/"), stream=True, timeout=10) as r:
            got = b"".join(r.iter_content(chunk_size=65536))
    assert got == body
    assert received[0] == len(reply)


def test_stream_iter_lines(session, server):
    with session.get(server.url("/"), stream=True) as r:
        lines = list(r.iter_lines(decode_unicode=True))
    assert lines == ["hello from gfetch's test server"]


def test_stream_raw_read_and_connection_reuse(fresh_server):
    with gfetch.Session() as sess:
        for _ in range(5):
            with sess.get(fresh_server.url("/bytes/5000"), stream=True) as r:
                assert r.raw.read(5000) == b"x" * 5000
        assert fresh_server.peak_connections == 1


@pytest.mark.parametrize("transport", ["auto", "urllib3"])
def test_streams_interleave_between_greenlets(transport):
    # The server paces each body (a piece every 0.1 s), so neither stream can
    # finish from data already buffered: only concurrent streaming interleaves.
    pieces, piece = 4, b"x" * 1000
    paced = script(
        send(head(200, f"Content-Length: {pieces * len(piece)}")),
        *[step for _ in range(pieces) for step in (lambda peer: peer.hold(0.1), send(piece))],
    )
    order: list[str] = []

    def consume(session: gfetch.Session, url: str, name: str) -> int:
        total = 0
        with session.get(url, stream=True, timeout=10) as r:
            for chunk in r.iter_content(chunk_size=len(piece)):
                order.append(name)
                total += len(chunk)
        return total

    with RawServer(paced) as raw, gfetch.Session(transport=transport) as sess:
        glets = [gfetch.spawn(consume, sess, raw.url("/"), n) for n in "ab"]
        gfetch.joinall(glets, timeout=10)
        assert [g.get() for g in glets] == [pieces * len(piece)] * 2
    assert sorted(order) == ["a"] * pieces + ["b"] * pieces
    assert set(order[:pieces]) == {"a", "b"}  # both streamed before either finished


def test_hooks(session, server):
    seen = []

    def on_response(r, *args, **kwargs):
        seen.append(("request", r.status_code))
        r.hooked = True
        return r

    r = session.get(server.url("/json"), hooks={"response": on_response})
    assert r.hooked is True
    session.hooks["response"].append(lambda r, *a, **k: seen.append(("session", r.url)))
    session.get(server.url("/json"))
    # as in requests, a request's own hooks replace the session's for that event
    session.get(server.url("/json"), hooks={"response": on_response})
    assert seen == [("request", 200), ("session", server.url("/json")), ("request", 200)]


def test_raise_for_status(session, server):
    session.get(server.url("/status/204")).raise_for_status()
    for code, text in ((404, "Client Error"), (503, "Server Error")):
        r = session.get(server.url(f"/status/{code}"))
        with pytest.raises(requests.HTTPError, match=text) as info:
            r.raise_for_status()
        assert info.value.response is r


def test_elapsed(session, server):
    r = session.get(server.url("/delay/0.2"))
    assert 0.19 <= r.elapsed.total_seconds() < 2


def test_connection_close_header(fresh_server):
    with gfetch.Session() as sess:
        for _ in range(3):
            r = sess.get(fresh_server.url("/json"), headers={"Connection": "close"})
            assert r.headers["Connection"] == "close"
        assert sess.get(fresh_server.url("/json")).status_code == 200
    assert fresh_server.requests_served == 4


# -- errors and timeouts -------------------------------------------------------


def test_connection_refused_is_connection_error(session, refused_url):
    with pytest.raises(requests.ConnectionError) as info:
        session.get(refused_url)
    assert not isinstance(info.value, requests.Timeout)
    assert isinstance(info.value.args[0].reason, urllib3.exceptions.NewConnectionError)
    assert "Connection refused" in str(info.value)


def test_unresolvable_host_is_connection_error(session):
    with pytest.raises(requests.ConnectionError) as info:
        session.get("http://no-such-host.invalid/", timeout=5)
    assert isinstance(info.value.args[0].reason, urllib3.exceptions.NameResolutionError)


def test_read_timeout(session, server):
    start = time.monotonic()
    with pytest.raises(requests.ReadTimeout, match=r"read timeout=0\.2"):
        session.get(server.url("/delay/2"), timeout=0.2)
    assert time.monotonic() - start < 0.4 + 0.2


def test_connect_timeout_on_unanswered_connect(session, unanswered_url):
    start = time.monotonic()
    with pytest.raises(requests.ConnectTimeout, match=r"connect timeout=0\.3"):
        session.get(unanswered_url, timeout=0.3)
    assert time.monotonic() - start < 0.6 + 0.2


def test_connect_timeout_mapping_without_a_network(session, server, monkeypatch):
    """Deterministic: the connect wait itself expires."""

    def expired(hub, fd, event, timeout=None, owned=False):
        raise TimeoutError("timed out")

    monkeypatch.setattr(Hub, "wait_fd", expired)
    monkeypatch.setattr(gfetch.io.sockets.GreenSocket, "connect_ex", lambda self, addr: 115)  # EINPROGRESS
    with pytest.raises(requests.ConnectTimeout):
        session.get(server.url("/json"), timeout=0.5)


def test_connect_read_timeout_tuple(session, server, unanswered_url):
    start = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        session.get(server.url("/delay/2"), timeout=(5, 0.2))
    assert time.monotonic() - start < 0.6
    start = time.monotonic()
    with pytest.raises(requests.ConnectTimeout):
        session.get(unanswered_url, timeout=(0.2, 5))
    assert time.monotonic() - start < 0.6
    # a generous read timeout does not cut a slow answer short
    assert session.get(server.url("/delay/0.3"), timeout=(0.2, 5)).status_code == 200


def test_session_default_timeout(server):
    with gfetch.Session(timeout=0.2) as sess:
        with pytest.raises(requests.ReadTimeout):
            sess.get(server.url("/delay/2"))
        assert sess.get(server.url("/delay/0.4"), timeout=5).status_code == 200
        # positional arguments of Session.request, timeout included
        r = sess.request("GET", server.url("/delay/0.4"), None, None, None, None, None, None, 5)
        assert r.status_code == 200
        with pytest.raises(requests.ReadTimeout):
            sess.request("GET", server.url("/delay/2"), None, None, None, None, None, None)


def test_request_signature_is_requests_own():
    """gfetch spells out requests' parameters (a plain call keeps waiting
    greenlets' stacks small): they must stay exactly requests'."""

    def parameters(function):
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    assert parameters(gfetch.Session.request) == parameters(requests.Session.request)


def test_timeout_does_not_stop_other_greenlets(session, server):
    ticker = Ticker(20)
    with pytest.raises(requests.ReadTimeout):
        session.get(server.url("/delay/2"), timeout=0.3)
    assert ticker.largest_gap() < 0.1


# -- retries ---------------------------------------------------------------------


def test_max_retries_with_backoff(server):
    retry = Retry(total=3, status_forcelist=[503], backoff_factor=0.1)
    with gfetch.Session(max_retries=retry) as sess:
        r = sess.get(server.url(f"/flaky/2?key={key()}"))
        assert r.status_code == 200
        assert r.json()["attempts"] == 3
        with pytest.raises(requests.exceptions.RetryError):
            sess.get(server.url(f"/flaky/10?key={key()}"))


def test_retry_after_and_backoff_sleep_cooperatively(server):
    retry = Retry(total=3, status_forcelist=[503], backoff_factor=0.2)
    n = 20
    with gfetch.Session(max_retries=retry) as sess:
        start = time.monotonic()
        glets = [gfetch.spawn(sess.get, server.url(f"/flaky/2?key={key()}")) for _ in range(n)]
        gfetch.joinall(glets, timeout=30)
        elapsed = time.monotonic() - start
    assert [g.get().json()["attempts"] for g in glets] == [3] * n
    # Each request sleeps 0.4 s of backoff (urllib3 skips the first); in
    # sequence that would be 8 s and more.
    assert elapsed < n * 0.6 / 4


def test_retries_on_refused_connections(refused_url):
    with gfetch.Session(max_retries=Retry(total=2, backoff_factor=0.05)) as sess:
        start = time.monotonic()
        with pytest.raises(requests.ConnectionError) as info:
            sess.get(refused_url)
        assert "Max retries exceeded" in str(info.value)
        assert time.monotonic() - start < 2


# -- proxies -----------------------------------------------------------------------


def test_http_through_forwarding_proxy(session, server, proxy):
    r = session.get(server.url("/echo?via=proxy"), proxies={"http": proxy.url})
    assert r.status_code == 200
    assert r.headers["Via"] == "1.1 test-proxy"
    assert r.json()["query"] == {"via": "proxy"}
    method, target, _ = proxy.seen[-1]
    assert (method, target) == ("GET", server.url("/echo?via=proxy"))


def test_https_through_connect_proxy(session, proxy, tmp_path):
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with HTTPSServer(ca.issue_cert("localhost", "127.0.0.1")) as https:
        for _ in range(2):  # the second request reuses the tunnel
            r = session.get(https.url("/tunnelled"), proxies={"https": proxy.url}, verify=str(ca_file))
            assert r.status_code == 200
            assert r.json()["path"] == "/tunnelled"
            assert r.json()["tls"].startswith("TLS")
        session.close()  # close the tunnel while the server still runs
    assert [(m, t) for m, t, _ in proxy.seen] == [("CONNECT", f"127.0.0.1:{https.port}")]


def test_proxy_credentials_are_sent_to_the_proxy(session, server, proxy):
    proxy_url = proxy.url.replace("http://", "http://user:secret@")
    r = session.get(server.url("/echo"), proxies={"http": proxy_url})
    assert r.status_code == 200
    headers = proxy.seen[-1][2]
    assert headers["proxy-authorization"] == "Basic dXNlcjpzZWNyZXQ="
    assert "proxy-authorization" not in r.json()["headers"]


def test_trust_env_proxy_variables(server, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with gfetch.Session() as sess:
        assert sess.get(server.url("/json")).headers.get("Via") == "1.1 test-proxy"
        assert len(proxy.seen) == 1
        sess.trust_env = False
        assert "Via" not in sess.get(server.url("/json")).headers
        assert len(proxy.seen) == 1
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with gfetch.Session() as sess:
        assert "Via" not in sess.get(server.url("/json")).headers
    assert len(proxy.seen) == 1


def test_trust_env_ca_bundle_variable_reaches_the_pool(server, monkeypatch, tmp_path):
    # REQUESTS_CA_BUNDLE only matters for https; check that requests resolves
    # it through gfetch's adapter the same way (merge_environment_settings).
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    with gfetch.Session() as sess:
        settings = sess.merge_environment_settings(server.url(), {}, None, None, None)
        assert settings["verify"] == str(bundle)
        sess.trust_env = False
        assert sess.merge_environment_settings(server.url(), {}, None, None, None)["verify"] is True


# -- pools and concurrency ------------------------------------------------------------


def test_pool_block_waits_cooperatively(fresh_server):
    with gfetch.Session(pool_maxsize=2, pool_block=True) as sess:
        start = time.monotonic()
        glets = [gfetch.spawn(sess.get, fresh_server.url("/delay/0.1")) for _ in range(10)]
        done = gfetch.joinall(glets, timeout=10)
        elapsed = time.monotonic() - start
    assert len(done) == 10
    assert all(g.get().status_code == 200 for g in glets)
    assert fresh_server.peak_connections <= 2
    assert 0.45 <= elapsed < 3  # five waves of two


def test_pool_block_with_nothing_to_return_a_connection_raises_loop_exit(fresh_server):
    with gfetch.Session(pool_maxsize=1, pool_block=True) as sess:
        held = sess.get(fresh_server.url("/bytes/10"), stream=True)
        with pytest.raises(gfetch.LoopExit):
            sess.get(fresh_server.url("/bytes/10"))
        held.close()
        assert sess.get(fresh_server.url("/bytes/10")).status_code == 200


def test_pool_block_shared_by_threads(fresh_server):
    """Connections come back from other threads; parked getters must wait for them."""
    results: list[object] = []
    with gfetch.Session(pool_maxsize=1, pool_block=True) as sess:

        def worker() -> None:
            try:
                glets = [gfetch.spawn(sess.get, fresh_server.url("/delay/0.02")) for _ in range(4)]
                gfetch.joinall(glets)  # no timeout: nothing else keeps this hub alive
                results.extend(g.exception or g.value.status_code for g in glets)
            finally:
                get_hub().close()

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert results == [200] * 12
    assert fresh_server.peak_connections == 1


def test_hundred_concurrent_requests_share_one_session(fresh_server, caplog):
    caplog.set_level(logging.WARNING, logger="urllib3")
    with gfetch.Session() as sess:
        start = time.monotonic()
        glets = [gfetch.spawn(sess.get, fresh_server.url(f"/delay/0.3?i={i}")) for i in range(100)]
        gfetch.joinall(glets, timeout=20)
        elapsed = time.monotonic() - start
        assert [g.get().json()["query"]["i"] for g in glets] == [str(i) for i in range(100)]
        # and a second wave reuses the kept-alive connections
        glets = [gfetch.spawn(sess.get, fresh_server.url("/json")) for i in range(100)]
        gfetch.joinall(glets, timeout=20)
        assert all(g.get().status_code == 200 for g in glets)
    assert elapsed < 1.5
    assert "Connection pool is full" not in caplog.text
    assert fresh_server.peak_connections <= 100


def test_session_shared_by_several_threads(server):
    results: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    with gfetch.Session() as sess:

        def worker(name: str) -> None:
            try:
                glets = [gfetch.spawn(sess.get, server.url(f"/delay/0.1?t={name}")) for _ in range(10)]
                gfetch.joinall(glets, timeout=20)
                results[name] = [g.get().status_code for g in glets]
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                get_hub().close()

        start = time.monotonic()
        threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        elapsed = time.monotonic() - start
    assert not errors
    assert results == {f"t{i}": [200] * 10 for i in range(4)}
    assert elapsed < 2


def test_plain_synchronous_use(server):
    # No greenlets spawned by the caller: the root greenlet drives the hub.
    with gfetch.Session() as sess:
        assert [sess.get(server.url("/json")).status_code for _ in range(3)] == [200] * 3


@responses.activate
def test_responses_mocks_gfetch_session():
    responses.add(responses.GET, "http://mocked.test/api", json={"mocked": True}, status=201)
    with gfetch.Session() as sess:
        r = sess.get("http://mocked.test/api")
    assert r.status_code == 201
    assert r.json() == {"mocked": True}
    assert len(responses.calls) == 1


def test_requests_mock_mocks_gfetch_session():
    # requests-mock replaces requests.Session.send: gfetch's shorter way from
    # request() to the adapter must step aside for it.
    with requests_mock.Mocker() as mock, gfetch.Session() as sess:
        mock.get("http://mocked.test/api", json={"mocked": True}, status_code=201)
        assert sess.get("http://mocked.test/api").json() == {"mocked": True}
        [response] = gfetch.map([gfetch.get("http://mocked.test/api", session=sess)])
        assert response is not None and response.status_code == 201
        assert mock.call_count == 2


def test_responses_passthrough_uses_gfetch_transport(server):
    with responses.RequestsMock() as mock:
        mock.add_passthru(server.base_url)
        mock.add(responses.GET, "http://mocked.test/", body="fake")
        with gfetch.Session() as sess:
            glets = [gfetch.spawn(sess.get, server.url("/delay/0.2")) for _ in range(10)]
            start = time.monotonic()
            gfetch.joinall(glets, timeout=10)
            assert time.monotonic() - start < 1.5  # concurrent: the green pools did the I/O
            assert all(g.get().status_code == 200 for g in glets)
            assert sess.get("http://mocked.test/").text == "fake"


def test_no_fd_leak_after_many_requests(no_fd_leak, fresh_server, refused_url):
    """500 requests mixing successes, HTTP errors, refusals and timeouts."""
    outcomes: dict[str, int] = {}
    sess = gfetch.Session(max_retries=0)
    try:
        urls = []
        for i in range(500):
            kind = i % 5
            if kind == 0:
                urls.append(("ok", fresh_server.url("/json"), None))
            elif kind == 1:
                urls.append(("404", fresh_server.url("/status/404"), None))
            elif kind == 2:
                urls.append(("refused", refused_url, None))
            elif kind == 3:
                urls.append(("timeout", fresh_server.url("/delay/1"), 0.05))
            else:
                urls.append(("stream", fresh_server.url("/bytes/100000"), None))

        def fetch(kind: str, url: str, timeout: float | None) -> None:
            try:
                if kind == "stream":
                    with sess.get(url, stream=True, timeout=timeout) as r:
                        next(r.iter_content(1000))  # abandon the body half-read
                else:
                    sess.get(url, timeout=timeout)
                outcomes[kind] = outcomes.get(kind, 0) + 1
            except requests.RequestException as exc:
                name = type(exc).__name__
                outcomes[name] = outcomes.get(name, 0) + 1

        pool = gfetch.Pool(50)
        for kind, url, timeout in urls:
            pool.spawn(fetch, kind, url, timeout)
        assert pool.join(timeout=60)
    finally:
        sess.close()
    assert outcomes == {"ok": 100, "404": 100, "ConnectionError": 100, "ReadTimeout": 100, "stream": 100}


def test_reader_is_built_only_when_the_reply_arrives(server, monkeypatch):
    """On the urllib3 transport a waiting request parks before http.client
    builds its 8 KiB reader."""
    session = gfetch.Session(transport="urllib3")
    readers: list[float] = []
    original = GreenSocket.makefile

    def recording_makefile(self, *args, **kwargs):
        readers.append(time.monotonic())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(GreenSocket, "makefile", recording_makefile)
    start = time.monotonic()
    waiting = gfetch.spawn(session.get, server.url("/delay/0.4"), timeout=5)
    gfetch.sleep(0.2)
    assert readers == []
    assert waiting.get(timeout=5).status_code == 200
    assert len(readers) == 1 and readers[0] - start >= 0.35
    session.close()
