"""Shared fixtures: fd-leak and hub-cleanliness guards, local servers."""

from __future__ import annotations

import gc
import os
import signal
import time

import pytest
import trustme
from _stdlibserver import StdlibServer

import gfetch
from gfetch.core.hub import get_hub
from gfetch.integration.defaultsession import default_session

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


@pytest.fixture
def own_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests of gfetch's own pool: the ``GFETCH_TRANSPORT`` CI sets to rerun the suite on the
    urllib3 path does not choose the transport of the Sessions they make."""
    monkeypatch.delenv("GFETCH_TRANSPORT", raising=False)


def pytest_configure(config: pytest.Config) -> None:
    # A job a non-interactive shell starts in the background ignores SIGINT, and
    # the programs it runs inherit that: the tests that press Ctrl-C in a child
    # (gfetch's CLI, the demo, map under load) would wait for nothing. A handler
    # here becomes the default in every child.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    config.addinivalue_line(
        "markers", "keeps_fds: the test may leave file descriptors open (opts out of the fd-leak check)"
    )


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _fd_targets() -> dict[str, str]:
    targets = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own fd, closed meanwhile
            pass
    return targets


FD_SETTLE_SECONDS = 10.0  # for server threads to see a client's close and close their end (longer under load)


@pytest.fixture(autouse=True)
def clean_hub() -> None:
    """After each test nothing is left ready, timed or registered on the hub."""
    hub = get_hub()
    yield
    for _ in range(3):  # let kills and wake-ups already queued run
        gfetch.sleep(0)
    if hub._fds or hub._parked or hub._thread_jobs:
        # Abandoned greenlets end (GreenletExit) when collected; the collection is slow, so only then.
        gc.collect()
    assert not hub._fds, f"fd waits left registered: {list(hub._fds)}"
    assert not hub._parked, "greenlets left parked on the hub"
    assert hub._thread_jobs == 0


@pytest.fixture(autouse=True)
def no_fd_leak(request: pytest.FixtureRequest):
    """Fail any test that leaves more file descriptors open than it found.

    Opt out with ``@pytest.mark.keeps_fds`` (say why). The shared default
    session's idle connections are closed first, and while the count is
    over, garbage is collected and the count may settle for a bounded
    moment: a loopback server's thread closes its end just after the client
    closes its own.
    """
    if request.node.get_closest_marker("keeps_fds"):
        yield
        return
    get_hub()  # the hub's own selector and wake socket are not a leak
    before_targets = _fd_targets()
    before = open_fds()
    yield
    # Idle keep-alive connections of the shared session (requests sent without
    # session=) are kept on purpose, not leaked: close them before counting.
    default_session().close()
    deadline = time.monotonic() + FD_SETTLE_SECONDS
    after = open_fds()
    while after > before and time.monotonic() < deadline:
        gc.collect()  # an unreachable socket closes when collected (slow: only when fds are over)
        after = open_fds()
        if after > before:
            time.sleep(0.02)
    if after > before:
        new = {fd: target for fd, target in _fd_targets().items() if before_targets.get(fd) != target}
        raise AssertionError(f"file descriptors leaked: {before} before, {after} after; new: {new}")


@pytest.fixture(scope="module")
def server():
    """A keep-alive HTTP server on 127.0.0.1, per module: the stdlib's http.server with
    gfetch.testing's routes, not written on gfetch, so a hub bug cannot hide on both sides
    (tests/test_testserver.py tests gfetch.testing's own TestServer)."""
    with StdlibServer() as srv:
        yield srv


@pytest.fixture
def fresh_server():
    """A server of this test's own, so its connection counts are this test's."""
    with StdlibServer() as srv:
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
