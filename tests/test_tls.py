"""TLS through gfetch.Session: verification, client certs, cooperative
handshakes, timeouts, and the SSLContext contract.

The HTTPS servers are stdlib threaded servers on 127.0.0.1 with trustme
certificates, started and stopped by fixtures here.
"""

from __future__ import annotations

import socket
import ssl
import time

import pytest
import requests
import urllib3
from _servers import HTTPSServer
from _ticker import Ticker

import gfetch
import gfetch.io.tls
from gfetch.integration.adapter import HTTPAdapter
from gfetch.io.tls import GreenSSLContext, TLSSocket


@pytest.fixture(scope="module")
def https_server(ca):
    with HTTPSServer(ca.issue_cert("localhost", "127.0.0.1", "::1")) as srv:
        yield srv


@pytest.fixture
def stalled_url():
    """Accepts TCP (the kernel does, from the backlog) and never speaks TLS."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"https://127.0.0.1:{sock.getsockname()[1]}/"
    sock.close()


# -- verification -------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_verify_with_ca_file(session, https_server, ca_file, host):
    r = session.get(https_server.url("/hello", host=host), verify=ca_file)
    assert r.status_code == 200
    assert r.json()["path"] == "/hello"
    assert r.json()["tls"] in ("TLSv1.2", "TLSv1.3")


def test_ipv6_loopback(session, ca, ca_file):
    try:
        srv = HTTPSServer(ca.issue_cert("::1"), host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    with srv:
        r = session.get(f"https://[::1]:{srv.port}/v6", verify=ca_file)
        assert r.json()["path"] == "/v6"


def test_default_verification_rejects_unknown_ca(session, https_server):
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        session.get(https_server.url("/"))


def test_verify_false_works_and_warns(session, https_server):
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        r = session.get(https_server.url("/insecure"), verify=False)
    assert r.json()["path"] == "/insecure"


def test_hostname_mismatch_fails(session, ca, ca_file):
    with HTTPSServer(ca.issue_cert("other.example")) as srv:
        with pytest.raises(requests.exceptions.SSLError, match="(?i)hostname|match"):
            session.get(srv.url("/"), verify=ca_file)


def test_ca_bundle_from_environment(https_server, ca_file, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    with gfetch.Session() as sess:
        assert sess.get(https_server.url("/env")).status_code == 200
        sess.trust_env = False
        sess.close()  # no reuse of the verified connection
        with pytest.raises(requests.exceptions.SSLError):
            sess.get(https_server.url("/env"))


def test_client_certificate(ca, ca_file, tmp_path):
    client = ca.issue_cert("client@example.test", common_name="gfetch-client")
    combined = tmp_path / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(combined))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    client.cert_chain_pems[0].write_to_path(str(cert_file))
    client.private_key_pem.write_to_path(str(key_file))
    with HTTPSServer(ca.issue_cert("127.0.0.1"), client_ca=ca) as srv:
        with gfetch.Session() as sess:
            r = sess.get(srv.url("/whoami"), verify=ca_file, cert=str(combined))
            assert r.json()["client_cert"]["commonName"] == "gfetch-client"
            r = sess.get(srv.url("/whoami"), verify=ca_file, cert=(str(cert_file), str(key_file)))
            assert r.json()["client_cert"]["commonName"] == "gfetch-client"
        with gfetch.Session() as sess:
            # Without a certificate the server refuses (with TLS 1.3 the alert
            # comes after the client's handshake, on the first read).
            with pytest.raises(requests.ConnectionError):
                sess.get(srv.url("/whoami"), verify=ca_file)


# -- bodies over TLS ---------------------------------------------------------------


def test_large_body_both_ways(session, https_server, ca_file):
    body = "y" * (2 * 1024 * 1024)
    r = session.post(https_server.url("/upload"), data=body, verify=ca_file)
    assert r.json()["body"] == body


def test_connection_is_reused_and_close_is_clean(session, https_server, ca_file):
    before = https_server.handshakes
    for _ in range(5):
        assert session.get(https_server.url("/reuse"), verify=ca_file).status_code == 200
    assert https_server.handshakes - before == 1
    r = session.get(https_server.url("/close"), verify=ca_file, headers={"Connection": "close"})
    assert r.status_code == 200
    assert session.get(https_server.url("/after"), verify=ca_file).status_code == 200


# -- cooperation -----------------------------------------------------------------


def test_handshakes_do_not_block_other_greenlets(https_server, ca_file):
    before = https_server.handshakes
    with gfetch.Session() as sess:
        ticker = Ticker(2000)
        gfetch.sleep(0.02)
        glets = [gfetch.spawn(sess.get, https_server.url(f"/hs/{i}"), verify=ca_file) for i in range(50)]
        gfetch.joinall(glets, timeout=30)
        ticker.stop()
        ticker.join()
        assert all(g.get().status_code == 200 for g in glets)
    assert https_server.handshakes - before == 50
    assert len(ticker.ticks) > 3
    assert ticker.largest_gap() < 0.5


def test_stalled_handshake_times_out(session, stalled_url):
    start = time.monotonic()
    with pytest.raises((requests.Timeout, requests.ConnectionError)):
        session.get(stalled_url, timeout=0.3)
    assert time.monotonic() - start < 0.6 + 0.2


def test_stalled_handshake_does_not_block_other_greenlets(session, stalled_url, server):
    glet = gfetch.spawn(session.get, stalled_url, timeout=1)
    gfetch.sleep(0.05)
    start = time.monotonic()
    assert session.get(server.url("/json")).status_code == 200
    assert time.monotonic() - start < 0.5
    with pytest.raises((requests.Timeout, requests.ConnectionError)):
        glet.get(timeout=5)


# -- the SSLContext contract ------------------------------------------------------------


class SpyContext(ssl.SSLContext):
    """Counts the calls gfetch makes on a caller's context."""

    calls: list[str]

    def wrap_socket(self, *args, **kwargs):
        self.calls.append("wrap_socket")
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args, **kwargs):
        self.calls.append("wrap_bio")
        return super().wrap_bio(*args, **kwargs)


class ContextAdapter(HTTPAdapter):
    def __init__(self, ssl_context, **kwargs):
        self._ctx = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        super().init_poolmanager(connections, maxsize, block, ssl_context=self._ctx, **pool_kwargs)


def _state(ctx: ssl.SSLContext) -> tuple:
    return (
        ctx.verify_mode,
        ctx.check_hostname,
        ctx.options,
        ctx.minimum_version,
        ctx.maximum_version,
        ctx.sslsocket_class,
        ctx.sslobject_class,
        len(ctx.get_ca_certs()),
        {k: v for k, v in vars(ctx).items() if k != "calls"},
    )


def test_callers_context_is_used_but_not_mutated(https_server, ca, ca_file):
    ctx = SpyContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.calls = []
    ctx.load_verify_locations(ca_file)
    before = _state(ctx)
    with gfetch.Session() as sess:
        sess.mount("https://", ContextAdapter(ctx))
        for _ in range(3):
            r = sess.get(https_server.url("/ctx"), verify=ca_file, headers={"Connection": "close"})
            assert r.status_code == 200
    assert _state(ctx) == before
    # the caller's context did the TLS, through wrap_bio: never the blocking wrap_socket
    assert ctx.calls == ["wrap_bio"] * 3
    assert not any(isinstance(v, GreenSSLContext) for v in gfetch.io.tls._cache.values() if v._context is ctx)


def test_callers_context_without_the_ca_fails_verification(https_server):
    ctx = ssl.create_default_context()  # system CAs only: our test CA is unknown
    with gfetch.Session() as sess:
        sess.mount("https://", ContextAdapter(ctx))
        with pytest.raises(requests.exceptions.SSLError):
            sess.get(https_server.url("/"), verify=True)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


class CountingSSLObject(ssl.SSLObject):
    """An ``sslobject_class`` of a caller's own, which records the data calls made on it."""

    calls: list[str] = []

    def read(self, *args):
        CountingSSLObject.calls.append("read")
        return super().read(*args)

    def write(self, data):
        CountingSSLObject.calls.append("write")
        return super().write(data)


def test_a_callers_sslobject_class_does_the_reads_and_writes(https_server, ca_file):
    """For a stdlib SSLObject gfetch calls what its read and write forward to; a context's
    own ``sslobject_class`` may do more there, so its methods are the ones called."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.sslobject_class = CountingSSLObject
    CountingSSLObject.calls.clear()
    with gfetch.Session() as sess:
        sess.mount("https://", ContextAdapter(ctx))
        r = sess.get(https_server.url("/own-class"), verify=ca_file)
    assert r.status_code == 200 and b"/own-class" in r.content
    assert {"read", "write"} <= set(CountingSSLObject.calls)


def test_owned_contexts_are_cached_per_configuration(https_server, ca_file, monkeypatch):
    monkeypatch.setattr(gfetch.io.tls, "_cache", {})
    for _ in range(3):
        with gfetch.Session() as sess:
            for _ in range(3):
                r = sess.get(https_server.url("/cache"), verify=ca_file, headers={"Connection": "close"})
                assert r.status_code == 200
    assert len(gfetch.io.tls._cache) == 1
    (green,) = gfetch.io.tls._cache.values()
    assert isinstance(green, GreenSSLContext)
    # urllib3 asks to load the CA file on every connection; it is loaded once
    assert len(green._loaded) == 1
    with gfetch.Session() as sess, pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        sess.get(https_server.url("/cache"), verify=False)
    assert len(gfetch.io.tls._cache) == 2


def test_tls_socket_surface(https_server, ca_file):
    """What urllib3 and http.client reach for on the TLS object."""
    ctx = ssl.create_default_context(cafile=ca_file)
    raw = gfetch.io.sockets.create_connection(("127.0.0.1", https_server.port), timeout=5)
    tls = GreenSSLContext(ctx).wrap_socket(raw, server_hostname="localhost")
    try:
        assert isinstance(tls, TLSSocket)
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.cipher() and tls.getpeercert()["subjectAltName"]
        assert tls.selected_alpn_protocol() is None
        assert tls.gettimeout() == 5 and tls.fileno() == raw.fileno()
        assert tls.getpeername()[1] == https_server.port
        assert tls.getsockname() == raw.getsockname() and (tls.family, tls.type) == (raw.family, raw.type)
        assert tls.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM
        # The raw socket's API is read through properties: a __getattr__ would keep CPython
        # from specialising every attribute read of the TLS socket.
        assert "__getattr__" not in vars(TLSSocket) and not hasattr(tls, "missing")
        for flagged in (tls.send, tls.sendall, tls.recv):  # as ssl.SSLSocket refuses flags
            with pytest.raises(ValueError, match="non-zero flags"):
                flagged(b"x" if flagged is not tls.recv else 1, socket.MSG_DONTWAIT)
        tls.sendall(b"GET /surface HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        with tls.makefile("rb") as f:
            assert f.readline().startswith(b"HTTP/1.1 200")
            assert b'"/surface"' in f.read()
    finally:
        tls.close()
    assert raw.fileno() == -1
