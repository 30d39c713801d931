"""spawn, joinall, sleep, kill, Timeout: the gevent tutorial contracts."""

from __future__ import annotations

import threading
import time

import pytest

import gfetch
from gfetch import Greenlet, GreenletExit, Timeout


def test_tutorial_headline_sync_vs_async() -> None:
    def task() -> None:
        gfetch.sleep(0.2)

    started = time.monotonic()
    gfetch.joinall([gfetch.spawn(task) for _ in range(10)])
    concurrent = time.monotonic() - started
    # One after another would take 10 x 0.2 = 2 s.
    assert concurrent < 0.5


def test_spawn_does_not_run_until_caller_yields() -> None:
    trace: list[str] = []
    glet = gfetch.spawn(trace.append, "child")
    trace.append("parent")
    assert trace == ["parent"]
    gfetch.sleep(0)
    assert trace == ["parent", "child"]
    assert glet.ready()


def test_sleep_zero_interleaves_fifo() -> None:
    trace: list[tuple[str, int]] = []

    def loop(name: str) -> None:
        for i in range(3):
            trace.append((name, i))
            gfetch.sleep(0)

    gfetch.joinall([gfetch.spawn(loop, "a"), gfetch.spawn(loop, "b")])
    assert trace == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]


def test_ten_thousand_greenlets() -> None:
    glets = [gfetch.spawn(lambda i: (gfetch.sleep(0.01), i)[1], i) for i in range(10_000)]
    done = gfetch.joinall(glets, timeout=30)
    assert len(done) == 10_000
    assert sum(g.value for g in glets) == sum(range(10_000))


def test_get_returns_value_or_reraises() -> None:
    ok = gfetch.spawn(lambda: 42)
    bad = gfetch.spawn(lambda: 1 / 0)
    assert ok.get() == 42
    assert ok.successful()
    with pytest.raises(ZeroDivisionError):
        bad.get()
    assert isinstance(bad.exception, ZeroDivisionError)
    assert bad.ready() and not bad.successful()


def test_get_with_timeout_raises_timeout() -> None:
    glet = gfetch.spawn(gfetch.sleep, 5)
    with pytest.raises(Timeout):
        glet.get(timeout=0.05)
    glet.kill()


def test_kill_delivers_greenlet_exit() -> None:
    seen: list[BaseException] = []

    def worker() -> None:
        try:
            gfetch.sleep(10)
        except BaseException as exc:
            seen.append(exc)
            raise

    glet = gfetch.spawn(worker)
    gfetch.sleep(0)
    started = time.monotonic()
    glet.kill()
    assert time.monotonic() - started < 1
    assert glet.dead
    assert isinstance(seen[0], GreenletExit)
    assert glet.successful() and isinstance(glet.value, GreenletExit)


def test_kill_before_start_never_runs() -> None:
    ran: list[int] = []
    glet = gfetch.spawn(ran.append, 1)
    glet.kill()
    gfetch.sleep(0)
    assert ran == [] and glet.dead


def test_kill_with_custom_exception() -> None:
    glet = gfetch.spawn(gfetch.sleep, 10)
    gfetch.sleep(0)
    glet.kill(ValueError("stop"))
    assert isinstance(glet.exception, ValueError)


def test_link_called_with_greenlet() -> None:
    seen: list[Greenlet] = []
    glet = gfetch.spawn(lambda: "v")
    glet.link(seen.append)
    glet.join()
    gfetch.sleep(0)
    assert seen == [glet]


def test_timeout_interrupts_sleep() -> None:
    started = time.monotonic()
    with pytest.raises(Timeout) as info:
        with Timeout(0.1):
            gfetch.sleep(5)
    assert time.monotonic() - started < 1
    assert info.value.seconds == 0.1


def test_timeout_false_is_silent() -> None:
    reached = []
    with Timeout(0.05, False):
        gfetch.sleep(5)
        reached.append(True)
    assert reached == []


def test_timeout_custom_exception() -> None:
    with pytest.raises(KeyError):
        with Timeout(0.05, KeyError):
            gfetch.sleep(5)


def test_timeout_start_cancel_does_not_fire() -> None:
    timeout = Timeout.start_new(0.05)
    timeout.cancel()
    gfetch.sleep(0.1)  # would raise if still armed


def test_timeout_interrupts_greenlet_in_spawned_child() -> None:
    def child() -> str:
        try:
            with Timeout(0.05):
                gfetch.sleep(5)
        except Timeout:
            return "timed out"
        return "slept"

    assert gfetch.spawn(child).get() == "timed out"


def test_timeout_is_not_an_exception() -> None:
    assert not issubclass(Timeout, Exception)
    with pytest.raises(Timeout):
        try:
            with Timeout(0.05):
                gfetch.sleep(5)
        except Exception:  # must not swallow it
            pytest.fail("Timeout caught by except Exception")


def test_joinall_timeout_returns_on_time() -> None:
    glets = [gfetch.spawn(gfetch.sleep, 5), gfetch.spawn(gfetch.sleep, 0.01)]
    started = time.monotonic()
    done = gfetch.joinall(glets, timeout=0.2)
    elapsed = time.monotonic() - started
    assert 0.15 < elapsed < 1.0
    assert done == [glets[1]]
    gfetch.killall(glets)


def test_joinall_raise_error() -> None:
    glets = [gfetch.spawn(gfetch.sleep, 5), gfetch.spawn(lambda: 1 / 0)]
    with pytest.raises(ZeroDivisionError):
        gfetch.joinall(glets, raise_error=True)
    gfetch.killall(glets)


def test_deadlock_raises_loop_exit() -> None:
    with pytest.raises(gfetch.LoopExit, match="block forever"):
        gfetch.Event().wait()


def test_blocking_in_hub_raises_runtime_error() -> None:
    hub = gfetch.get_hub()
    errors: list[BaseException] = []

    def callback(_: object) -> None:
        try:
            gfetch.sleep(0.01)
        except RuntimeError as exc:
            errors.append(exc)

    hub.call_soon(callback)
    gfetch.sleep(0.01)
    assert errors and "cannot block inside the hub" in str(errors[0])


def test_keyboard_interrupt_in_greenlet_reaches_main() -> None:
    def raiser() -> None:
        raise KeyboardInterrupt

    gfetch.spawn(raiser)
    sleeper = gfetch.spawn(gfetch.sleep, 5)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        gfetch.sleep(5)
    assert time.monotonic() - started < 1
    sleeper.kill()


def test_two_threads_run_their_own_hubs() -> None:
    results: dict[int, tuple[float, object]] = {}

    def run(n: int) -> None:
        started = time.monotonic()
        glets = [gfetch.spawn(lambda i: (gfetch.sleep(0.2), i)[1], i) for i in range(20)]
        gfetch.joinall(glets)
        results[n] = (time.monotonic() - started, gfetch.get_hub())

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 2
    assert results[0][1] is not results[1][1] is not gfetch.get_hub()
    assert all(elapsed < 1.0 for elapsed, _ in results.values())
    for _, hub in results.values():
        hub.close()  # type: ignore[attr-defined]
