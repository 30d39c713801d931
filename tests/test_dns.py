"""gfetch.dns: numeric fast path, resolver threads, timeouts, late results."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from _ticker import Ticker

import gfetch
import gfetch.dns
from gfetch.dns import getaddrinfo
from gfetch.hub import get_hub
from gfetch.threads import run_in_thread

_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def no_threads(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("numeric hosts must not use the resolver threads")

    monkeypatch.setattr(gfetch.dns, "run_in_thread", fail)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "10.1.2.3", "fe80::1%1"])
def test_numeric_hosts_resolve_without_threads(no_threads, host):
    if host.startswith("fe80") and not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        infos = getaddrinfo(host, 443, 0, socket.SOCK_STREAM)
    except socket.gaierror:
        if "%" in host:
            pytest.skip("no interface 1 for a scoped address")
        raise
    assert infos
    assert all(info[4][1] == 443 for info in infos)
    assert infos[0][4][0].split("%")[0] == host.split("%")[0]


@pytest.mark.parametrize(
    "args",
    [
        ("127.0.0.1", 80, socket.AF_INET, socket.SOCK_STREAM),
        ("127.0.0.1", "8080"),
        ("127.0.0.1", None),
        ("::1", 443, 0, socket.SOCK_STREAM),
        ("::1", 443, socket.AF_INET6, 0, socket.IPPROTO_TCP),
        ("10.1.2.3", 0, 0, socket.SOCK_DGRAM),
    ],
)
def test_numeric_fast_path_matches_stdlib(no_threads, args):
    """Same entries, enums included, as the stdlib's getaddrinfo."""
    expected = _real_getaddrinfo(*args, flags=socket.AI_NUMERICHOST)
    got = getaddrinfo(*args)
    assert got == expected
    assert [tuple(map(type, info)) for info in got] == [tuple(map(type, info)) for info in expected]


def test_localhost_resolves():
    infos = getaddrinfo("localhost", 80, 0, socket.SOCK_STREAM, timeout=5)
    addresses = {info[4][0] for info in infos}
    assert addresses & {"127.0.0.1", "::1"}
    assert get_hub()._thread_jobs == 0


def test_unresolvable_name_raises_gaierror_quickly():
    start = time.monotonic()
    with pytest.raises(socket.gaierror):
        getaddrinfo("no-such-host.invalid", 80, timeout=10)
    assert time.monotonic() - start < 5


def test_resolver_errors_reach_the_caller(monkeypatch):
    def broken(*args):
        if len(args) > 5 and args[5] & socket.AI_NUMERICHOST:
            return _real_getaddrinfo(*args)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", broken)
    with pytest.raises(socket.gaierror, match="not known"):
        getaddrinfo("example.test", 80, timeout=5)


class SlowResolver:
    """A stand-in for ``socket.getaddrinfo`` that holds names until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.finished = threading.Semaphore(0)
        self.calls = 0

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        if flags & socket.AI_NUMERICHOST:
            return _real_getaddrinfo(host, port, family, type, proto, flags)
        self.calls += 1
        try:
            self.release.wait(5)
            return _real_getaddrinfo("127.0.0.1", port, family, type, proto, flags)
        finally:
            self.finished.release()


def test_dns_is_bounded_by_timeout_while_the_hub_keeps_running(monkeypatch):
    slow = SlowResolver()
    monkeypatch.setattr(socket, "getaddrinfo", slow)
    ticker = Ticker(30)
    start = time.monotonic()
    with pytest.raises(socket.timeout):
        getaddrinfo("slow.example", 80, timeout=0.2)
    elapsed = time.monotonic() - start
    assert 0.18 <= elapsed < 0.4
    gap = ticker.largest_gap()
    assert len(ticker.ticks) == 30
    assert gap < 0.1
    assert get_hub()._thread_jobs == 0

    # The late result is dropped: it must not wake this greenlet's next wait.
    slow.release.set()
    start = time.monotonic()
    gfetch.sleep(0.2)
    assert time.monotonic() - start >= 0.19
    assert slow.finished.acquire(timeout=5)
    gfetch.sleep(0.02)  # let the hub drain the stale wake-up
    # and resolution still works afterwards
    assert getaddrinfo("after.example", 81, timeout=5)[0][4][1] == 81


def test_concurrent_lookups_run_in_parallel_threads(monkeypatch):
    def slowish(host, port, family=0, type=0, proto=0, flags=0):
        if flags & socket.AI_NUMERICHOST:
            return _real_getaddrinfo(host, port, family, type, proto, flags)
        time.sleep(0.2)
        return _real_getaddrinfo("127.0.0.1", port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", slowish)
    start = time.monotonic()
    glets = [gfetch.spawn(getaddrinfo, f"host{i}.example", 80, timeout=5) for i in range(20)]
    gfetch.joinall(glets, timeout=10)
    elapsed = time.monotonic() - start
    assert all(g.successful() for g in glets)
    # 20 x 0.2 s on at most MAX_WORKERS threads: about 0.4 s, never 4 s
    assert elapsed < 20 * 0.2 / 2


def test_gfetch_timeout_interrupts_a_lookup(monkeypatch):
    slow = SlowResolver()
    monkeypatch.setattr(socket, "getaddrinfo", slow)
    try:
        with pytest.raises(gfetch.Timeout):
            with gfetch.Timeout(0.1):
                getaddrinfo("slow.example", 80)
        assert get_hub()._thread_jobs == 0
    finally:
        slow.release.set()
        assert slow.finished.acquire(timeout=5)
        gfetch.sleep(0.02)


def test_run_in_thread_returns_value_and_raises_errors():
    assert run_in_thread(sum, [1, 2, 3]) == 6
    with pytest.raises(ZeroDivisionError):
        run_in_thread(divmod, 1, 0)
    assert threading.current_thread() is threading.main_thread()
