"""SOCKS proxies (gfetch.integration.socks): SOCKS4/4a/5/5h through our own loopback proxy
(tests/_socksserver.py), by Session, map, the environment and the CLI; proxy
faults give the exceptions requests gives with PySocks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
import trustme
import urllib3
from _backlog import full_backlog
from _servers import HTTPSServer
from _socksserver import Seen, SOCKSServer
from _stdlibserver import StdlibServer
from _ticker import Ticker

import gfetch
from gfetch.integration.socks import (
    GreenSOCKSHTTPConnectionPool,
    GreenSOCKSHTTPSConnectionPool,
    GreenSOCKSProxyManager,
)
from gfetch.integration.urllib3_pools import GreenHTTPSConnection

# The address a local resolver gives for "localhost" first: what socks5:// and
# socks4:// send, so the target server listens there.
LOCALHOST = socket.getaddrinfo("localhost", 0, 0, socket.SOCK_STREAM)[0][4][0]


def _url(server: StdlibServer, path: str) -> str:
    return f"http://localhost:{server.port}{path}"


@pytest.fixture(scope="module")
def target():
    """The HTTP server behind the proxy, on the address "localhost" resolves to."""
    with StdlibServer(host=LOCALHOST) as srv:
        yield srv


@pytest.fixture(scope="module")
def https_target(ca: trustme.CA):
    with HTTPSServer(ca.issue_cert("localhost", "127.0.0.1", "::1"), host=LOCALHOST) as srv:
        yield srv


@pytest.fixture
def proxy():
    with SOCKSServer() as srv:
        yield srv


# scheme, what the proxy receives for "localhost": a name (remote DNS) or an address (local DNS)
DNS_CASES = [
    ("socks5h", "name", "localhost"),
    ("socks5", "ip6" if ":" in LOCALHOST else "ip4", LOCALHOST),
    ("socks4a", "name", "localhost"),
    ("socks4", "ip4", "127.0.0.1"),
]


@pytest.mark.parametrize("scheme,kind,host", DNS_CASES)
def test_http_through_each_scheme(scheme, kind, host, target, proxy, session):
    if scheme == "socks4" and LOCALHOST != "127.0.0.1":
        pytest.skip("SOCKS4 carries IPv4 addresses only, and localhost is not 127.0.0.1 here")
    r = session.get(_url(target, "/json?via=socks"), proxies={"http": proxy.url(scheme)}, timeout=5)
    assert r.status_code == 200 and r.json()["query"] == {"via": "socks"}
    version = int(scheme[5])
    assert proxy.seen == [Seen(version, kind, host, target.port, "" if version == 4 else None)]


@pytest.mark.parametrize("scheme", ["socks5h", "socks4a"])
def test_https_through_the_tunnel(scheme, https_target, proxy, session, ca_file):
    url = https_target.url("/json", host="localhost")
    r = session.get(url, proxies={"https": proxy.url(scheme)}, verify=ca_file, timeout=5)
    assert r.status_code == 200 and r.json()["tls"].startswith("TLS")
    assert [(s.kind, s.host) for s in proxy.seen] == [("name", "localhost")]


def test_adapter_uses_green_socks_pools(session):
    manager = session.get_adapter("http://x/").proxy_manager_for("socks5h://127.0.0.1:1080")
    assert isinstance(manager, GreenSOCKSProxyManager)
    assert manager.pool_classes_by_scheme == {
        "http": GreenSOCKSHTTPConnectionPool,
        "https": GreenSOCKSHTTPSConnectionPool,
    }
    assert urllib3.poolmanager.pool_classes_by_scheme["http"] is urllib3.HTTPConnectionPool
    pool = manager.connection_from_url("https://localhost:1/")
    assert issubclass(pool.ConnectionCls, GreenHTTPSConnection)


def test_keep_alive_reuses_the_tunnel(target, proxy, session):
    for _ in range(3):
        assert session.get(_url(target, "/json"), proxies={"http": proxy.url()}, timeout=5).ok
    assert len(proxy.seen) == 1


@pytest.mark.parametrize("scheme", ["socks5h", "socks5"])
def test_username_and_password(scheme, target, session):
    with SOCKSServer(username="alice", password="s3cret/%") as proxy:
        url = proxy.url(scheme, auth="alice:s3cret%2F%25")  # percent-encoded in the URL
        r = session.get(_url(target, "/json"), proxies={"http": url}, timeout=5)
        assert r.status_code == 200
        assert proxy.seen[0].user == "alice"


def test_socks4_user_id(target, proxy, session):
    r = session.get(_url(target, "/json"), proxies={"http": proxy.url("socks4a", auth="bob")}, timeout=5)
    assert r.status_code == 200
    assert proxy.seen[0].user == "bob"


def test_handshake_parks_only_its_greenlet(target, session):
    """A proxy that takes 0.5 s to answer each handshake: the hub keeps running
    meanwhile, and 10 handshakes overlap instead of taking 5 s in turn."""
    with SOCKSServer(delay=0.5) as proxy:
        ticker = Ticker(40)
        start = time.monotonic()
        reqs = [
            gfetch.get(_url(target, f"/json?n={i}"), session=session, proxies={"http": proxy.url()})
            for i in range(10)
        ]
        responses = gfetch.map(reqs, size=10, gtimeout=20)
        elapsed = time.monotonic() - start
        assert [r.json()["query"]["n"] for r in responses] == [str(i) for i in range(10)]
        assert elapsed < 3.0, f"10 handshakes of 0.5 s took {elapsed:.2f} s: serialised"
        assert ticker.largest_gap() < 0.3


def test_map_with_requests_in_flight_through_the_proxy(target, proxy):
    reqs = [
        gfetch.get(_url(target, "/delay/0.5"), proxies={"http": proxy.url()}, timeout=10) for _ in range(20)
    ]
    start = time.monotonic()
    responses = gfetch.map(reqs, size=20, gtimeout=30)
    elapsed = time.monotonic() - start
    assert [r.status_code for r in responses] == [200] * 20
    assert elapsed < 5.0, f"20 requests of 0.5 s took {elapsed:.2f} s: serialised"
    assert proxy.peak_tunnels >= 10


@pytest.mark.parametrize("variable", ["ALL_PROXY", "all_proxy", "HTTP_PROXY"])
def test_proxy_from_the_environment(variable, target, proxy, monkeypatch):
    monkeypatch.setenv(variable, proxy.url())
    with gfetch.Session() as sess:
        assert sess.get(_url(target, "/json"), timeout=5).status_code == 200
    assert [s.host for s in proxy.seen] == ["localhost"]


def test_https_proxy_from_the_environment(https_target, proxy, monkeypatch, ca_file):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    with gfetch.Session() as sess:
        assert sess.get(https_target.url("/json", host="localhost"), verify=ca_file, timeout=5).ok
    assert [s.host for s in proxy.seen] == ["localhost"]


# requests' own cases: {http,https,all}_proxy and their upper-case forms, for each scheme they cover
ENVIRONMENT_CASES = [
    (f"{prefix}_proxy", scheme)
    for prefix, schemes in [("http", ["http"]), ("https", ["https"]), ("all", ["http", "https"])]
    for scheme in schemes
]
ENVIRONMENT_CASES += [(variable.upper(), scheme) for variable, scheme in ENVIRONMENT_CASES]


@pytest.mark.parametrize("variable,scheme", ENVIRONMENT_CASES)
def test_requests_use_proxy_from_environment(variable, scheme, monkeypatch):
    """requests' tests/test_lowlevel.py::test_use_proxy_from_environment: a
    socks5:// proxy that reads the greeting and hangs up is a ConnectionError."""
    with SOCKSServer(fault="hangup") as proxy:
        monkeypatch.setenv(variable, proxy.url("socks5"))
        with gfetch.Session() as sess, pytest.raises(requests.ConnectionError) as info:
            sess.get(f"{scheme}://example.invalid", timeout=5)
    assert "closed the connection during the handshake" in str(info.value)


# -- faults: the exception class requests raises with PySocks -----------------------------------

FAULT_CASES = [
    # fault, scheme, words in the message
    ("refuse", "socks5h", "0x05: Connection refused"),
    ("refuse", "socks4a", "0x5b: Request rejected or failed"),
    ("garbage", "socks5h", "sent invalid data"),
    ("garbage", "socks4a", "sent invalid data"),
    ("hangup", "socks5", "closed the connection during the handshake"),
]


@pytest.mark.parametrize("fault,scheme,words", FAULT_CASES)
def test_proxy_faults_are_connection_errors(fault, scheme, words, target, session, no_fd_leak):
    with SOCKSServer(fault=fault) as proxy:
        with pytest.raises(requests.ConnectionError) as info:
            session.get(_url(target, "/json"), proxies={"http": proxy.url(scheme)}, timeout=5)
    assert type(info.value) is requests.ConnectionError
    assert words in str(info.value)
    session.close()


def test_wrong_password(target, session, no_fd_leak):
    with SOCKSServer(username="alice", password="right") as proxy:
        with pytest.raises(requests.ConnectionError, match="authentication failed") as info:
            session.get(_url(target, "/"), proxies={"http": proxy.url(auth="alice:wrong")}, timeout=5)
        assert type(info.value) is requests.ConnectionError
        with pytest.raises(requests.ConnectionError, match="rejected every authentication method") as info:
            session.get(_url(target, "/"), proxies={"http": proxy.url()}, timeout=5)
        assert type(info.value) is requests.ConnectionError
    assert "wrong" not in str(info.value)
    session.close()


def test_target_unreachable_through_the_proxy(proxy, session):
    closed = _closed_port()
    with pytest.raises(requests.ConnectionError, match="0x04: Host unreachable") as info:
        session.get(f"http://127.0.0.1:{closed}/", proxies={"http": proxy.url()}, timeout=5)
    assert type(info.value) is requests.ConnectionError


def test_proxy_port_closed(target, session, no_fd_leak):
    closed = _closed_port()
    with pytest.raises(requests.ConnectionError, match="Error connecting to SOCKS5 proxy") as info:
        session.get(_url(target, "/"), proxies={"http": f"socks5h://127.0.0.1:{closed}"}, timeout=5)
    assert type(info.value) is requests.ConnectionError


def test_unanswered_proxy_is_a_connect_timeout(target, session, no_fd_leak):
    """A proxy whose accept queue is full: either the connect or (on kernels
    that complete it anyway) the handshake outlives the connect timeout."""
    with full_backlog() as port:
        start = time.monotonic()
        with pytest.raises(requests.ConnectTimeout):
            session.get(_url(target, "/"), proxies={"http": f"socks5h://127.0.0.1:{port}"}, timeout=(0.5, 10))
        assert time.monotonic() - start < 3.0


@pytest.mark.parametrize("scheme", ["socks5h", "socks4a"])
def test_stalled_handshake_is_a_connect_timeout(scheme, target, session, no_fd_leak):
    with SOCKSServer(fault="stall") as proxy:
        start = time.monotonic()
        with pytest.raises(requests.ConnectTimeout):
            session.get(_url(target, "/"), proxies={"http": proxy.url(scheme)}, timeout=(0.5, 10))
        assert time.monotonic() - start < 3.0
    session.close()


def test_one_bad_proxy_fails_only_its_requests(target, proxy):
    with SOCKSServer(fault="garbage") as bad:
        reqs = [
            gfetch.get(
                _url(target, "/json"), proxies={"http": (bad if i % 5 == 0 else proxy).url()}, timeout=5
            )
            for i in range(20)
        ]
        responses = gfetch.map(reqs, size=20, return_exceptions=True, gtimeout=20)
    for i, r in enumerate(responses):
        if i % 5 == 0:
            assert type(r) is requests.ConnectionError
        else:
            assert r.status_code == 200


def test_unknown_socks_scheme(target, session):
    with pytest.raises(requests.exceptions.InvalidSchema, match="socks4, socks4a, socks5 or socks5h"):
        session.get(_url(target, "/"), proxies={"http": "socks6://127.0.0.1:1080"})


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` without the machine's proxy and CA-bundle variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if "proxy" not in k.lower() and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    }
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL
    )


_WITHOUT_SOCKSIO = """
import sys
sys.modules["socksio"] = None  # as if gfetch[socks] were not installed
import requests, gfetch
from gfetch.testing import TestServer
with TestServer() as server, gfetch.Session() as session:
    print(session.get(server.url("/json"), timeout=5).status_code)
    try:
        session.get(server.url("/json"), proxies={"http": "socks5h://alice:hunter2@127.0.0.1:1080"})
    except requests.exceptions.InvalidSchema as e:
        print(e)
"""


def test_without_socksio_a_socks_proxy_names_the_extra():
    result = _run_python("-c", _WITHOUT_SOCKSIO)
    assert result.returncode == 0, result.stderr
    status, message = result.stdout.splitlines()
    assert status == "200"  # plain requests work without the extra
    assert "pip install 'gfetch[socks]'" in message and "socksio" in message
    assert "hunter2" not in message and "alice:***@127.0.0.1:1080" in message


def test_cli_proxy_option(target, proxy):
    """Needs the CLI's --proxy option (another branch): fails until it is merged."""
    url = _url(target, "/json")
    result = _run_python("-m", "gfetch", "--proxy", proxy.url(), url)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.splitlines()[0])
    assert record["url"] == url and record["status"] == 200
    assert [s.host for s in proxy.seen] == ["localhost"]


def test_names_and_credentials_beyond_socks_limits(proxy, session):
    long_host = ".".join(["a" * 60] * 5)  # 304 bytes; SOCKS5 carries at most 255
    with pytest.raises(requests.ConnectionError, match="host name too long for SOCKS5") as info:
        session.get(f"http://{long_host}/", proxies={"http": proxy.url()}, timeout=5)
    assert type(info.value) is requests.ConnectionError
    with pytest.raises(requests.exceptions.InvalidProxyURL, match="at most 255 bytes"):
        session.get("http://localhost/", proxies={"http": proxy.url(auth="u:" + "p" * 256)}, timeout=5)
    assert proxy.seen == []
