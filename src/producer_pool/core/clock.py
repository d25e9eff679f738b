"""The pool's clock and `Deadline`: one place that turns timeouts into waits, infinity included."""

from __future__ import annotations

import math
import threading
import time

__all__ = ["SIGNAL_SLICE", "Deadline", "drain_time", "monotonic", "split_for_cleanup"]

monotonic = time.monotonic
"""The pool's clock; module-level so that tests can drive time by hand."""


SIGNAL_SLICE = 0.2
"""The longest a wait that Ctrl-C must end blocks in one go. CPython runs signal handlers
only between bytecodes, and a lock wait is woken by a signal only once its futex wait has
begun: a SIGINT that lands after the thread released the GIL but before that is seen only
when the wait ends (6 % of SIGINTs sent as a close() began to wait, measured on 3.11).
Waiting in slices bounds that delay by one slice, at the cost of a few wakes a second."""


class Deadline:
    """A moment a wait or a destroy must end by; `inf` means never.

    `pool.close()` brings the deadline of background destroys forward, so a producer that
    was draining for its own delivery timeout stops at the close's deadline instead.
    """

    __slots__ = ("_at",)

    def __init__(self, seconds: float) -> None:
        self._at = monotonic() + seconds if math.isfinite(seconds) else math.inf

    def remaining(self) -> float:
        """Seconds left, never negative; `inf` for a deadline that never comes."""
        return max(0.0, self._at - monotonic())

    @property
    def expired(self) -> bool:
        return monotonic() >= self._at

    def bring_forward(self, other: Deadline) -> None:
        """End no later than `other` (a plain float store: safe without a lock)."""
        self._at = min(self._at, other._at)

    def wait_timeout(self) -> float | None:
        """The argument for `Thread.join`/`Event.wait`: None waits without a bound."""
        remaining = self.remaining()
        return None if remaining >= threading.TIMEOUT_MAX else remaining

    def lock_timeout(self) -> float:
        """The argument for `Lock.acquire(timeout=...)`: -1 waits without a bound."""
        remaining = self.remaining()
        return -1 if remaining >= threading.TIMEOUT_MAX else remaining

    def slice_timeout(self) -> float:
        """A wait's timeout of at most `SIGNAL_SLICE`, for waits that Ctrl-C must end."""
        return min(self.remaining(), SIGNAL_SLICE)

    def __repr__(self) -> str:
        return f"<Deadline in {self.remaining():.3f}s>"


#: Share of a destroy's time kept for the clean-up after a drain that did not finish.
_CLEANUP_SHARE = 0.2
_CLEANUP_MAX = 1.0


def split_for_cleanup(timeout: float) -> tuple[float, float]:
    """Split a destroy's `timeout` into (drain, clean-up): a drain that runs out of time
    still leaves the clean-up (purge, stop, close) time to finish within `timeout`."""
    cleanup = min(_CLEANUP_MAX, timeout * _CLEANUP_SHARE)
    return timeout - cleanup, cleanup


def drain_time(timeout: float | None, default: float, deadline: Deadline | None) -> float:
    """How long a destroy may drain: `timeout`, else the client's own `default` (its
    delivery timeout), and never past `deadline` (the pool's close)."""
    seconds = default if timeout is None else timeout
    return seconds if deadline is None else min(seconds, deadline.remaining())
