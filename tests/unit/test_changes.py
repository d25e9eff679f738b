"""`core.changes.Changes`: waits for a change of state that a Ctrl-C cannot leave with the
lock in the wrong hands, on either side (the waiter's, tested with the pools' close in
test_share_and_close.py, and the notifier's, here)."""

from __future__ import annotations

import threading

import pytest

from producer_pool.core.changes import Changes
from producer_pool.core.clock import Deadline


class _InterruptedRelease:
    """A waiter's signal whose release is where the notifier's Ctrl-C lands."""

    def release(self) -> None:
        raise KeyboardInterrupt


def test_a_notify_cut_short_by_ctrl_c_leaves_no_signal_for_the_next_to_release_again():
    lock = threading.Lock()
    changes = Changes(lock)
    woken = threading.Lock()
    woken.acquire()
    changes._waiters = {woken: None, _InterruptedRelease(): None}  # type: ignore[dict-item]
    with lock:
        with pytest.raises(KeyboardInterrupt):
            changes.notify_all_locked()
        changes.notify_all_locked()  # released `woken` again: "release unlocked lock"
    assert not woken.locked()


def test_a_waiter_is_woken_by_a_change_and_sees_it():
    lock = threading.Lock()
    changes = Changes(lock)
    state = {"ready": False}
    outcome: list[bool] = []
    waiter = threading.Thread(
        target=lambda: outcome.append(changes.wait_for(lambda: state["ready"], Deadline(30)))
    )
    waiter.start()
    with lock:
        state["ready"] = True
        changes.notify_all_locked()
    waiter.join(30)
    assert outcome == [True]


def test_at_its_deadline_a_wait_calls_ready_once_more_and_says_false():
    calls: list[int] = []
    changes = Changes(threading.Lock())
    assert changes.wait_for(lambda: bool(calls.append(1)), Deadline(0)) is False
    assert calls == [1]
