"""`Changes`: threads that wait for a state guarded by a lock to change, each waiting on a lock
of its own, outside the guarded one.

Not `threading.Condition`: its `wait()` takes the lock back in a `finally`, and a Ctrl-C that
interrupts that (the lock is held by another thread, or the signal is handled as the call
begins) leaves the caller's `with lock:` to release a lock it does not hold. The caller then
sees `RuntimeError: release unlocked lock` in place of its KeyboardInterrupt, or, worse, frees
the lock under the thread that holds it. Here the guarded lock is taken only by `with`, which
either holds it or raised before holding it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .clock import Deadline

__all__ = ["Changes"]


class Changes:
    """Wake every thread waiting in `wait_for` when the state under `lock` changes."""

    __slots__ = ("_lock", "_waiters")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        # Each pre-acquired, released to wake; a dict keeps them in the order they came.
        self._waiters: dict[threading.Lock, None] = {}

    def notify_all_locked(self) -> None:
        """Wake every waiter; the caller holds the lock and has changed the state.

        The waiters are taken off first: a Ctrl-C between two releases must not leave one
        already released for the next notify to release again ("release unlocked lock",
        in whichever thread notifies next). Those not yet released wake at their slice.
        """
        if not self._waiters:  # the common case on a release: nobody waits for a change
            return
        waiters, self._waiters = self._waiters, {}
        for signal in waiters:
            signal.release()

    def wait_for(self, ready: Callable[[], bool], deadline: Deadline) -> bool:
        """Wait until `ready()` (called under the lock) is true: True, or False at `deadline`
        (after one last call of `ready()`, which may raise its own timeout instead).

        Waits in slices (`clock.SIGNAL_SLICE`), so a Ctrl-C on the main thread is seen within
        one; a slice that ends without a change costs a check and no new signal.
        """
        signal: threading.Lock | None = None
        try:
            while True:
                with self._lock:
                    expired = deadline.expired  # read first: `ready()` sees the deadline too
                    if ready():
                        return True
                    if expired:
                        return False
                    if signal is None:
                        signal = threading.Lock()
                        signal.acquire()
                        self._waiters[signal] = None
                if signal.acquire(timeout=deadline.slice_timeout()):
                    signal = None  # woken: `notify_all_locked` took it off the list
        finally:
            if signal is not None:
                with self._lock:
                    self._waiters.pop(signal, None)
