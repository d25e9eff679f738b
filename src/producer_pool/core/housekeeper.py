"""The pool's housekeeper: a daemon thread that retires stale objects, prewarms and reports leaks.

It holds the pool weakly, so an unclosed pool can still be collected, and it never runs a
factory or a destroy itself (those run on their own threads), so stopping it is quick and
`close(timeout)` can bound the join.
"""

from __future__ import annotations

import threading
import weakref
from typing import Protocol

from .clock import Deadline

__all__ = ["Housekeeper"]


class _Housekept(Protocol):
    def _housekeep_once(self) -> float:
        """One round; returns the delay before the next."""


class Housekeeper:
    """The thread that calls the pool's `_housekeep_once` until stopped or the pool is gone."""

    def __init__(self, pool: _Housekept, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(weakref.ref(pool),), name=name, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, deadline: Deadline) -> None:
        """Ask the thread to stop and wait for it, at most until `deadline`."""
        self._stop.set()
        if self._thread is not threading.current_thread() and self._thread.is_alive():
            self._thread.join(deadline.wait_timeout())

    def signal_stop(self) -> None:
        """Stop without waiting (from `__del__`, which must never block)."""
        self._stop.set()

    def _run(self, pool_ref: weakref.ref[_Housekept]) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            pool = pool_ref()
            if pool is None:
                return
            delay = pool._housekeep_once()
            del pool
