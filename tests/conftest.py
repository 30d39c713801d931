"""Shared fixtures: fd-leak and hub-cleanliness guards, local servers."""

from __future__ import annotations

import gc
import os

import pytest
import trustme

import gfetch
from gfetch.hub import get_hub
from gfetch.testserver import TestServer

_PROXY_AND_CA_VARS = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Machines here may set proxies and CA bundles, which requests honours."""
    for name in _PROXY_AND_CA_VARS:
        monkeypatch.delenv(name, raising=False)


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def clean_hub() -> None:
    """After each test nothing is left ready, timed or registered on the hub."""
    hub = get_hub()
    yield
    for _ in range(3):  # let kills and wake-ups already queued run
        gfetch.sleep(0)
    gc.collect()
    assert not hub._fds, f"fd waits left registered: {list(hub._fds)}"
    assert not hub._parked, "greenlets left parked on the hub"
    assert hub._thread_jobs == 0


@pytest.fixture
def no_fd_leak():
    """Fail the test if it leaves more file descriptors open than it found."""
    get_hub()  # the hub's own selector and wake socket are not a leak
    before = open_fds()
    yield
    after = open_fds()
    assert after <= before, f"file descriptors leaked: {before} before, {after} after"


@pytest.fixture(scope="module")
def server():
    """A keep-alive HTTP server on 127.0.0.1 (gfetch.testserver), per module."""
    with TestServer() as srv:
        yield srv


@pytest.fixture
def fresh_server():
    """A server of this test's own, so its connection counts are this test's."""
    with TestServer() as srv:
        yield srv


@pytest.fixture
def session():
    with gfetch.Session() as sess:
        yield sess


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A test certificate authority (trustme), for the TLS servers."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The path of a PEM file holding ``ca``'s certificate, for ``verify=``."""
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)
