"""The hub's loop: fd waits, timers, the thread wake-up, closing races."""

from __future__ import annotations

import gc
import socket
import threading
import time
import weakref

import pytest
from _alarm import TimeLimit, time_limit

import gfetch
from gfetch.core.hub import get_hub, notify_closing, wait_readable, wait_writable


def test_wait_readable_wakes_on_data() -> None:
    a, b = socket.socketpair()
    with a, b:
        got: list[bytes] = []

        def reader() -> None:
            wait_readable(a.fileno(), timeout=5)
            got.append(a.recv(10))

        glet = gfetch.spawn(reader)
        gfetch.sleep(0.01)
        assert got == []
        b.send(b"hi")
        glet.get(timeout=5)
        assert got == [b"hi"]


def test_wait_readable_timeout() -> None:
    a, b = socket.socketpair()
    with a, b:
        started = time.monotonic()
        with pytest.raises(socket.timeout):
            wait_readable(a.fileno(), timeout=0.05)
        assert time.monotonic() - started < 1
        assert a.fileno() not in get_hub()._fds


def test_wait_writable_ready_at_once() -> None:
    a, b = socket.socketpair()
    with a, b:
        wait_writable(a.fileno(), timeout=1)


def test_two_readers_on_one_fd_is_an_error() -> None:
    a, b = socket.socketpair()
    with a, b:
        first = gfetch.spawn(wait_readable, a.fileno(), 5)
        gfetch.sleep(0)
        with pytest.raises(gfetch.ConcurrentObjectUseError):
            wait_readable(a.fileno(), 5)
        b.send(b"x")
        first.get(timeout=5)


def test_waiting_on_a_closed_fd_fails_that_wait_only() -> None:
    a, b = socket.socketpair()
    closed = a.fileno()
    a.close()
    with b:
        with pytest.raises(OSError):
            wait_readable(closed, timeout=5)
        with pytest.raises(ValueError):
            wait_readable(-1, timeout=5)
        other, peer = socket.socketpair()
        with other, peer:
            peer.send(b"y")
            wait_readable(other.fileno(), timeout=5)  # the hub carries on


def test_fd_closed_without_notice_and_reused_is_waited_on_afresh() -> None:
    """Selector updates wait for the hub's next pass: a wait that ends, its fd
    closed behind the hub's back, and a new socket given the same number
    before that pass must still be woken."""
    a, b = socket.socketpair()
    with b:
        b.send(b"x")
        wait_readable(a.fileno(), timeout=5)  # registered, then done with
        number = a.fileno()
        a.close()  # no notify_closing
        c, d = socket.socketpair()
        with c, d:
            if c.fileno() != number:
                c, d = d, c
            assert c.fileno() == number  # the kernel hands out the lowest free number
            d.send(b"y")
            wait_readable(c.fileno(), timeout=2)
            assert c.recv(1) == b"y"


def test_notify_closing_wakes_waiter_with_ebadf() -> None:
    a, b = socket.socketpair()
    with b:
        glet = gfetch.spawn(wait_readable, a.fileno(), 5)
        gfetch.sleep(0)
        notify_closing(a.fileno())
        a.close()
        with pytest.raises(OSError) as info:
            glet.get(timeout=5)
        assert info.value.errno == 9


def test_thread_wakes_hub() -> None:
    hub = get_hub()
    waiter_result: list[str] = []
    event = gfetch.Event()

    def deliver(value: str) -> None:
        waiter_result.append(value)
        event.set()

    hub.thread_job_started()
    try:
        threading.Timer(0.05, hub.call_threadsafe, args=(deliver, "from thread")).start()
        assert event.wait(5)
    finally:
        hub.thread_job_finished()
    assert waiter_result == ["from thread"]


def test_ready_callbacks_added_during_a_pass_run_next_pass() -> None:
    hub = get_hub()
    trace: list[str] = []

    def first(_: object) -> None:
        trace.append("first")
        hub.call_soon(lambda _: trace.append("added"))

    hub.call_soon(first)
    hub.call_soon(lambda _: trace.append("second"))
    gfetch.sleep(0.01)
    assert trace == ["first", "second", "added"]


def test_cancelled_timers_are_compacted() -> None:
    hub = get_hub()
    timers = [hub.call_later(60, lambda _: None) for _ in range(2000)]
    for timer in timers:
        timer.cancel()
    assert len(hub._timers) < 1000
    assert hub._active_timers == 0
    assert not any(entry[2].active for entry in hub._timers)


def test_selector_out_of_step_with_the_hub_is_repaired() -> None:
    """A Ctrl-C can land between a selector call and the hub's note of it;
    the next change to that fd re-registers it instead of failing the hub."""
    hub = get_hub()
    a, b = socket.socketpair()
    with a, b:
        reader = gfetch.spawn(wait_readable, a.fileno(), 5)
        gfetch.sleep(0)
        gfetch.sleep(0)  # a pass: the read wait is registered
        assert hub._fds[a.fileno()].registered
        hub.selector.unregister(a.fileno())  # behind the hub's back
        wait_writable(a.fileno(), timeout=5)  # a change for this fd: modify fails, re-registered
        b.send(b"x")
        reader.get(timeout=5)
        assert not hub.dead


# -- exceptions raised into the loop ----------------------------------------------------------


def test_a_signal_handlers_exception_ends_the_wait_it_interrupted_and_the_loop_goes_on() -> None:
    """SIGALRM lands in the hub sitting in select(): the waiting code gets the
    exception, its fd wait is gone, and the same fd can be waited on again."""
    a, b = socket.socketpair()
    with a, b:
        started = time.monotonic()
        with pytest.raises(TimeLimit), time_limit(0.1):
            wait_readable(a.fileno(), timeout=10)
        assert time.monotonic() - started < 5
        assert a.fileno() not in get_hub()._fds
        assert not get_hub().dead
        b.send(b"x")
        wait_readable(a.fileno(), timeout=5)
        assert a.recv(1) == b"x"


def test_a_raising_callback_is_raised_where_the_root_waits_and_not_kept() -> None:
    """The exception goes to the waiting code; the hub keeps no reference
    to it (nor so to the frames its traceback passes) once that code is done."""

    class Boom(Exception):
        pass

    def boom(_: object) -> None:
        raise Boom

    get_hub().call_soon(boom)
    with pytest.raises(Boom) as raised:
        gfetch.sleep(10)
    kept = weakref.ref(raised.value)
    del raised
    gc.collect()
    assert kept() is None
    gfetch.sleep(0.001)
    assert gfetch.spawn(lambda: "ok").get(timeout=5) == "ok"
