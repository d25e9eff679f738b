"""The one fork registry: objects whose per-process state a forked child must reset, and the
work a fork waits for so that no child inherits it half done.

Every module that holds sockets, threads or locks (pools, Kafka producers, transactional id
sets) registers here instead of calling `os.register_at_fork` itself. The child runs each
object's reset once, in registration order; a reset that fails is reported on stderr (never
through `logging`, whose locks another parent thread may have held) and the others still run.

A fork also waits, at most `fork_wait_timeout()` seconds, for the blocks run under
`no_fork_midway()` on other threads (the pools' factories): a child forked while another
thread does the process's first `getaddrinfo` inherits the import lock of `encodings.idna`
held by a thread it does not have, and its own lookups then fail or hang for good.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

__all__ = ["fork_wait_timeout", "no_fork_midway", "reset_after_fork", "set_fork_wait_timeout"]

_registry: weakref.WeakKeyDictionary[Any, Callable[[Any], None]] = weakref.WeakKeyDictionary()

#: A healthy creation takes milliseconds; a factory stuck on a dead broker is past its
#: lookups, and must not hold a fork (gunicorn starting its workers) for its whole timeout.
_DEFAULT_FORK_WAIT = 5.0


class _ForkGate:
    """Blocks a fork waits for, and that do not start while a fork is pending."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._changed = threading.Condition(threading.Lock())
        self._running: Counter[int] = Counter()  # thread id -> blocks it is running
        self._forks_pending = 0

    @contextmanager
    def block(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._changed:
            # Bounded like the fork's own wait: the fork ends in after_fork, which reopens.
            self._changed.wait_for(lambda: not self._forks_pending, self.timeout)
            self._running[me] += 1
        try:
            yield
        finally:
            with self._changed:
                self._running[me] -= 1
                if not self._running[me]:
                    del self._running[me]
                self._changed.notify_all()

    def before_fork(self) -> None:
        """Let no block start, wait for those running on other threads (the forking thread's
        own cannot end before it returns)."""
        me = threading.get_ident()
        with self._changed:
            self._forks_pending += 1
            if not self._changed.wait_for(lambda: self._running.keys() <= {me}, self.timeout):
                others = sum(n for thread, n in self._running.items() if thread != me)
                sys.stderr.write(
                    f"producer-pool: forking with {others} creation(s) still running after "
                    f"{self.timeout:g}s; the child may inherit locks they hold\n"
                )

    def after_fork_in_parent(self) -> None:
        with self._changed:
            self._forks_pending -= 1
            self._changed.notify_all()


_gate = _ForkGate(_DEFAULT_FORK_WAIT)


def reset_after_fork(obj: Any, reset: Callable[[Any], None]) -> None:
    """Call `reset(obj)` in every child forked while `obj` is alive (held weakly)."""
    _registry[obj] = reset


def no_fork_midway() -> AbstractContextManager[None]:
    """A block that no forked child inherits half run: a fork waits for it (within
    `fork_wait_timeout()`), and it waits for a fork in progress before it starts."""
    return _gate.block()


def fork_wait_timeout() -> float:
    """How long a fork waits for the blocks running under `no_fork_midway()`."""
    return _gate.timeout


def set_fork_wait_timeout(seconds: float) -> None:
    """Change how long a fork waits for creations in flight (default 5 s); 0 does not wait."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"fork wait timeout must be a number of seconds, not {seconds!r}")
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"fork wait timeout must be >= 0 seconds, not {seconds!r}")
    _gate.timeout = float(seconds)


def _reset_in_child() -> None:
    global _gate
    _gate = _ForkGate(_gate.timeout)  # the parent's threads and their locks are not ours
    for obj, reset in list(_registry.items()):
        try:
            reset(obj)
        except Exception as exc:  # one broken reset must not leave the others undone
            sys.stderr.write(f"producer-pool: resetting {type(obj).__name__} after fork: {exc}\n")


if hasattr(os, "register_at_fork"):  # not on Windows: there is no fork to survive
    os.register_at_fork(
        before=lambda: _gate.before_fork(),
        after_in_parent=lambda: _gate.after_fork_in_parent(),
        after_in_child=_reset_in_child,
    )
