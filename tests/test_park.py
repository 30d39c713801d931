"""Hub.park, the one way to block: the rules in its docstring, and the waits built on it."""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any

import pytest
from greenlet import GreenletExit

import gfetch
from gfetch.core.errors import LoopExit
from gfetch.core.hub import TIMED_OUT, Waiter, get_hub
from gfetch.core.threads import run_in_thread
from gfetch.http11.poolqueue import GreenPoolQueue


class Registration:
    """A wait's registration that counts how often the abort hook removed it."""

    def __init__(self) -> None:
        self.registered = True
        self.aborts = 0

    def abort(self, waiter: Waiter) -> None:
        assert waiter.fired  # a wake-up arriving from now on is dropped
        self.aborts += 1
        self.registered = False


def _park_in_greenlet(timeout: float | None) -> tuple[Waiter, Registration, gfetch.Greenlet]:
    hub = get_hub()
    waiter, registration = Waiter(hub), Registration()
    glet = gfetch.spawn(hub.park, waiter, timeout, registration.abort)
    gfetch.sleep(0)  # now it is parked
    return waiter, registration, glet


# -- the primitive ----------------------------------------------------------------


def test_a_wake_counts_once_and_later_wakes_are_dropped() -> None:
    waiter, registration, glet = _park_in_greenlet(None)
    assert waiter.switch("first") is True
    assert waiter.switch("second") is False
    assert waiter.throw(ValueError("late")) is False
    assert glet.get(timeout=5) == "first"
    assert registration.aborts == 0  # the waker owns the registration


def test_timeout_returns_timed_out_after_aborting_once() -> None:
    waiter, registration, glet = _park_in_greenlet(0.01)
    assert glet.get(timeout=5) is TIMED_OUT
    assert (registration.aborts, registration.registered) == (1, False)
    assert waiter.switch("late") is False
    gfetch.sleep(0)
    assert registration.aborts == 1


@pytest.mark.parametrize("interrupt", ["kill", "timeout"])
def test_interruption_aborts_once_and_drops_a_later_wake(interrupt: str) -> None:
    hub = get_hub()
    waiter, registration = Waiter(hub), Registration()
    outcome: list[Any] = []

    def parked() -> None:
        try:
            with gfetch.Timeout(0.01 if interrupt == "timeout" else None):
                hub.park(waiter, None, registration.abort)
        except BaseException as exc:
            outcome.append(type(exc))
            raise

    glet = gfetch.spawn(parked)
    gfetch.sleep(0)
    if interrupt == "kill":
        glet.kill(block=False)
        gfetch.sleep(0)  # the kill lands: waiter fired, abort run, the throw queued
        assert (registration.aborts, registration.registered) == (1, False)
        assert waiter.switch("too late") is False
    glet.join(timeout=5)
    assert outcome == [GreenletExit if interrupt == "kill" else gfetch.Timeout]
    assert registration.aborts == 1
    assert waiter.switch("too late") is False


def test_wake_and_timeout_in_the_same_pass_wake_first() -> None:
    hub = get_hub()
    waiter, registration = Waiter(hub), Registration()
    hub.call_later(0.0, lambda _: waiter.switch("woken"))  # due first
    glet = gfetch.spawn(hub.park, waiter, 0.001, registration.abort)
    time.sleep(0.05)  # both are due when the loop next looks at the clock
    assert glet.get(timeout=5) == "woken"
    assert registration.aborts == 0


def test_wake_and_timeout_in_the_same_pass_timeout_first() -> None:
    waiter, registration, glet = _park_in_greenlet(0.001)
    late: list[bool] = []
    get_hub().call_later(0.002, lambda _: late.append(waiter.switch("woken")))
    time.sleep(0.05)
    assert glet.get(timeout=5) is TIMED_OUT
    gfetch.sleep(0)
    assert late == [False]
    assert registration.aborts == 1


def test_exception_thrown_straight_in_aborts() -> None:
    # The root greenlet, with nothing that could wake it: the hub throws LoopExit in.
    hub = get_hub()
    registration = Registration()
    with pytest.raises(LoopExit):
        hub.park(Waiter(hub), None, registration.abort)
    assert registration.aborts == 1


def test_park_refused_in_the_hub_aborts() -> None:
    hub = get_hub()
    registration = Registration()
    errors: list[BaseException] = []

    def in_hub(_: Any) -> None:
        try:
            hub.park(Waiter(hub), None, registration.abort)
        except RuntimeError as exc:
            errors.append(exc)

    hub.call_soon(in_hub)
    gfetch.sleep(0.01)
    assert len(errors) == 1 and "cannot block inside the hub" in str(errors[0])
    assert registration.aborts == 1


def test_interruption_of_a_woken_greenlet_lands_at_its_next_park() -> None:
    # The semaphore slot handed over is not lost; the kill raises at the next wait.
    slots = gfetch.Semaphore(0)
    stages: list[str] = []

    def taker() -> None:
        slots.acquire()
        stages.append("got the slot")
        try:
            gfetch.sleep(10)
        finally:
            slots.release()

    glet = gfetch.spawn(taker)
    gfetch.sleep(0)
    slots.release()  # wake-up queued
    get_hub().interrupt(glet, GreenletExit())
    glet.join(timeout=5)
    assert stages == ["got the slot"]
    assert glet.dead and slots.counter == 1


# -- one interruption path: Hub.interrupt asks the abort hook -------------------------


class Refusing(Registration):
    """An abort hook that refuses: its wait cannot be ended before its waker fires it."""

    def abort(self, waiter: Waiter) -> bool:
        self.aborts += 1
        return False


def _park_with_refusing_hook(timeout: float | None) -> tuple[Waiter, Refusing, gfetch.Greenlet, list[Any]]:
    """A greenlet parked with a refusing hook; ``stages`` gets what its park returned, then
    the type of what its next park raised."""
    hub = get_hub()
    waiter, hook = Waiter(hub), Refusing()
    stages: list[Any] = []

    def parked() -> None:
        stages.append(hub.park(waiter, timeout, hook.abort))
        try:
            gfetch.sleep(0)
        except BaseException as exc:
            stages.append(type(exc))
            raise

    glet = gfetch.spawn(parked)
    gfetch.sleep(0)
    return waiter, hook, glet, stages


def test_an_interruption_the_abort_hook_refuses_lands_at_the_next_park() -> None:
    waiter, hook, glet, stages = _park_with_refusing_hook(None)
    glet.kill(block=False)
    gfetch.sleep(0.02)
    assert hook.aborts == 1 and not glet.dead and stages == []  # still waiting
    assert waiter.switch("woken") is True  # the waker still owns the ending
    glet.join(timeout=5)
    assert stages == ["woken", GreenletExit]


def test_a_timeout_the_abort_hook_refuses_waits_for_the_waker() -> None:
    waiter, hook, glet, stages = _park_with_refusing_hook(0.01)
    gfetch.sleep(0.05)
    assert hook.aborts == 1 and stages == []
    assert waiter.switch("woken") is True
    glet.join(timeout=5)
    assert stages == ["woken"]


def test_a_repeated_kill_is_raised_once() -> None:
    # Both kills arrive while the greenlet's wake-up is queued: the second is
    # dropped, so the first one's cleanup can park undisturbed.
    slots = gfetch.Semaphore(0)
    stages: list[str] = []

    def taker() -> None:
        slots.acquire()
        try:
            gfetch.sleep(10)
        except GreenletExit:
            stages.append("killed")
            gfetch.sleep(0)  # cleanup that waits
            stages.append("cleaned up")
            raise

    glet = gfetch.spawn(taker)
    gfetch.sleep(0)
    slots.release()  # wake-up queued
    hub = get_hub()
    hub.interrupt(glet, GreenletExit())
    hub.interrupt(glet, GreenletExit())
    glet.join(timeout=5)
    assert stages == ["killed", "cleaned up"]


def test_pending_interruptions_come_one_per_park_urgent_first() -> None:
    hub = get_hub()
    waiter, hook = Waiter(hub), Refusing()
    stages: list[type[BaseException]] = []

    def target() -> None:
        hub.park(waiter, None, hook.abort)  # refuses: what arrives meanwhile is pending
        for _ in range(3):
            try:
                gfetch.sleep(0)
            except BaseException as exc:
                stages.append(type(exc))

    glet = gfetch.spawn(target)
    gfetch.sleep(0)
    hub.interrupt(glet, gfetch.Timeout(1))
    hub.interrupt(glet, KeyboardInterrupt())
    hub.interrupt(glet, SystemExit(), urgent=True)
    waiter.switch()
    glet.join(timeout=5)
    assert stages == [SystemExit, gfetch.Timeout, KeyboardInterrupt]


def test_two_ctrl_cs_for_one_wait_are_both_raised() -> None:
    # The second arrives while the first is on its way into the same wait:
    # it is raised at the next wait (a fan-out's cleanup counts on seeing it).
    hub = get_hub()

    def press_twice() -> None:
        hub.interrupt(hub.parent, KeyboardInterrupt(), urgent=True)
        hub.interrupt(hub.parent, KeyboardInterrupt(), urgent=True)

    gfetch.spawn(press_twice)
    caught = 0
    for _ in range(2):
        try:
            gfetch.sleep(5)
        except KeyboardInterrupt:
            caught += 1
    assert caught == 2


# -- the waits built on it leave no registration behind -----------------------------


def test_interrupted_semaphore_acquire_does_not_swallow_the_next_release() -> None:
    slots = gfetch.Semaphore(0)
    with pytest.raises(gfetch.Timeout):
        with gfetch.Timeout(0.01):
            slots.acquire()
    slots.release()
    assert slots.acquire(blocking=False)


def test_timed_out_queue_get_does_not_take_the_next_item() -> None:
    items: gfetch.Queue[int] = gfetch.Queue()
    with pytest.raises(queue.Empty):
        items.get(timeout=0.01)
    items.put(1)
    assert items.get(block=False) == 1


def test_timed_out_join_unlinks() -> None:
    event = gfetch.Event()
    glet = gfetch.spawn(event.wait)
    glet.join(timeout=0.01)
    gfetch.joinall([glet], timeout=0.01)
    assert not glet._links
    event.set()
    glet.join(timeout=5)


def test_timed_out_thread_wait_no_longer_keeps_the_loop_alive() -> None:
    release = threading.Event()
    try:
        with pytest.raises(socket.timeout):
            run_in_thread(release.wait, 5, timeout=0.01)
        started = time.monotonic()
        with pytest.raises(LoopExit):  # the abandoned thread job counts no more
            gfetch.Event().wait()
        assert time.monotonic() - started < 2
    finally:
        release.set()


def test_timed_out_pool_checkout_of_a_shared_pool_leaves_no_thread_job() -> None:
    pool: GreenPoolQueue = GreenPoolQueue(1)
    other = threading.Thread(target=lambda: pytest.raises(queue.Empty, pool.get, block=False))
    other.start()
    other.join(5)  # a second thread used the pool: parked getters count as thread jobs
    with pytest.raises(queue.Empty):
        pool.get(timeout=0.01)
    assert not pool._green_getters
    with pytest.raises(LoopExit):
        gfetch.Event().wait()


def test_a_throw_queued_for_a_greenlet_that_died_meanwhile_is_dropped() -> None:
    """A wake-up with an exception, queued for a parked greenlet that then died (ended by
    the raw greenlet API, outside the park's rules), has nobody to go to: it is dropped,
    not raised in the hub (and from there in whoever waits on it)."""
    from greenlet import greenlet

    dead = greenlet(lambda: None)
    dead.switch()
    assert dead.dead
    waiter = Waiter(get_hub())
    waiter.greenlet = dead
    assert waiter.throw(OSError(9, "Bad file descriptor: socket closed by another greenlet"))
    gfetch.sleep(0)  # a pass of the hub runs the queued wake-up
    gfetch.sleep(0.01)
