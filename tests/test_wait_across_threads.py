"""Waiting for a greenlet from another OS thread fails with an error that says so."""

from __future__ import annotations

import threading

import pytest

import gfetch


def _wait_in_another_thread(wait: object) -> BaseException | None:
    caught: list[BaseException] = []

    def run() -> None:
        try:
            wait()  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            caught.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    return caught[0] if caught else None


@pytest.mark.parametrize("how", ["get", "join", "joinall"])
def test_waiting_from_another_thread_names_the_problem(how: str) -> None:
    glet = gfetch.spawn(gfetch.sleep, 0.05)
    waits = {"get": glet.get, "join": glet.join, "joinall": lambda: gfetch.joinall([glet])}
    error = _wait_in_another_thread(waits[how])
    assert isinstance(error, RuntimeError)
    assert "from another OS thread" in str(error) and repr(glet) in str(error)
    glet.join()  # its own thread can still wait for it
    assert glet.successful()


def test_a_finished_greenlet_can_be_read_from_any_thread() -> None:
    glet = gfetch.spawn(lambda: 42)
    glet.join()
    result: list[int] = []
    assert _wait_in_another_thread(lambda: result.append(glet.get())) is None
    assert result == [42]
