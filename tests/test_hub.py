"""The hub's loop: fd waits, timers, the thread wake-up, closing races."""

from __future__ import annotations

import collections
import gc
import os
import selectors
import socket
import threading
import time
import warnings
import weakref

import pytest
from _alarm import TimeLimit, time_limit
from test_integrity import Origin, _late, ok

import gfetch
from gfetch.core.hub import get_hub, notify_closing, wait_readable, wait_writable
from gfetch.io.sockets import GreenSocket


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


# -- registrations kept for owned fds (gfetch's sockets) between their waits ----------------------


class CountingSelector:
    """The hub's selector, counting the calls that are system calls (epoll_ctl, epoll_wait)."""

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self.selector = selector
        self.calls: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> object:
        if name in ("register", "modify", "unregister", "select"):
            self.calls[name] += 1
        return getattr(self.selector, name)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> CountingSelector:
    hub = get_hub()
    gfetch.sleep(0)  # changes left by earlier code applied before counting
    counting = CountingSelector(hub.selector)
    monkeypatch.setattr(hub, "selector", counting)
    return counting


def green_pair() -> tuple[GreenSocket, GreenSocket]:
    a, b = socket.socketpair()
    return GreenSocket(fileno=a.detach()), GreenSocket(fileno=b.detach())


def idle_pair() -> tuple[GreenSocket, GreenSocket]:
    """A green pair whose first socket has read a reply and sits idle, its registration kept."""
    a, b = green_pair()
    a.settimeout(5)
    b.sendall(b"reply")
    a.wait_for_data()
    assert a.recv(10) == b"reply"
    gfetch.sleep(0)  # a pass: the ended wait's registration is kept, not dropped
    assert a.fileno() in get_hub()._kept
    return a, b


def assert_no_spin(counted: CountingSelector) -> None:
    """The hub, with nothing to do for 0.2 s, polls a few times, not in a busy loop."""
    passes = counted.calls["select"]
    cpu = time.process_time()
    gfetch.sleep(0.2)
    assert counted.calls["select"] - passes < 20
    assert time.process_time() - cpu < 0.15


def test_a_sockets_registration_outlives_its_waits(counted: CountingSelector) -> None:
    """Request after request on one connection, each wait a pass after the last (as under
    map): registered once, not registered and unregistered again for every wait; a write
    wait after a read wait changes the registration."""
    a, b = green_pair()
    with a, b:
        a.settimeout(5)
        for n in range(20):
            b.sendall(b"%d;" % n)
            a.wait_for_data()
            assert a.recv(10) == b"%d;" % n
            gfetch.sleep(0)
            gfetch.sleep(0)
        assert (counted.calls["register"], counted.calls["unregister"]) == (1, 0)
        assert a.fileno() in get_hub()._kept
        get_hub().wait_fd(a.fileno(), selectors.EVENT_WRITE, 5, owned=a)
        assert (counted.calls["register"], counted.calls["modify"]) == (1, 1)
    gfetch.sleep(0)
    assert counted.calls["unregister"] == 1  # closed: dropped (notify_closing)
    assert not get_hub()._kept


@pytest.mark.parametrize("late", ["byte", "end"])
def test_an_idle_sockets_late_byte_or_end_does_not_make_the_hub_spin(
    counted: CountingSelector, late: str
) -> None:
    """Nobody waits on the kept registration when the event comes: the hub stops listening at
    the first one rather than hearing it pass after pass, and the next wait registers anew."""
    a, b = idle_pair()
    with a, b:
        if late == "byte":
            b.sendall(b"x")
        else:
            b.shutdown(socket.SHUT_WR)
        assert_no_spin(counted)
        assert a.fileno() not in get_hub()._kept
        assert a.input_ready()  # what a pool checks before reusing the connection
        a.wait_for_data()  # registered afresh, and woken
        assert counted.calls["register"] == 2


def test_a_kept_fd_closed_unnoticed_and_reused_is_waited_on_afresh() -> None:
    """A socket collected without close() never tells the hub; its fd number, handed to a
    new socket, must not be taken for the old registration (which closing the fd ended)."""
    a, b = idle_pair()
    with b:
        number = a.fileno()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            del a
            gc.collect()  # closed unnoticed
        c, d = green_pair()
        with c, d:
            if c.fileno() != number:
                c, d = d, c
            assert c.fileno() == number  # the kernel hands out the lowest free number
            c.settimeout(2)
            d.sendall(b"y")
            c.wait_for_data()
            assert c.recv(1) == b"y"


def test_a_wait_first_read_times_out_on_a_fresh_and_on_a_kept_registration() -> None:
    a, b = green_pair()
    with a, b:
        a.settimeout(0.05)
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(socket.timeout):
                a.wait_for_data()
            assert 0.04 <= time.monotonic() - started < 2
            b.sendall(b"x")
            a.wait_for_data()
            assert a.recv(1) == b"x"
            gfetch.sleep(0)
        assert not get_hub()._fds


def test_a_kept_socket_closed_while_its_file_lives_on_does_not_make_the_hub_spin(
    counted: CountingSelector,
) -> None:
    """Another holder of the file (a forked child; here a dup) keeps a closed fd's epoll
    registration alive: the hub lets go of it before the close, or would hear of it forever."""
    a, b = idle_pair()
    with b:
        held = os.dup(a.fileno())
        try:
            a.close()
            b.sendall(b"late")
            assert_no_spin(counted)
        finally:
            os.close(held)


@pytest.mark.usefixtures("own_transport")
@pytest.mark.parametrize("transport", ["auto", "urllib3"])
@pytest.mark.parametrize("close", [False, True], ids=["late byte", "end"])
def test_an_idle_keep_alive_connection_hearing_late_bytes_or_its_end_costs_no_spin(
    counted: CountingSelector, transport: str, close: bool
) -> None:
    """Through a Session: the late bytes (or the server's close) reach an idle connection while
    the hub runs; it hears of them once, and the next request goes on a new connection."""
    origin = Origin(_late(ok(b"first"), b"" if close else b"x", close=close))
    with origin.server, gfetch.Session(transport=transport) as session:
        assert session.get(origin.url("/1"), timeout=5).content == b"first"
        assert_no_spin(counted)  # longer than LATE: the late bytes come meanwhile
        second = session.get(origin.url("/2"), timeout=5)
        assert (second.status_code, second.content) == (200, b"2")
    assert [index for index, _, _ in origin.arrivals] == [0, 1]
