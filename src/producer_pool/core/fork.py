"""The one fork registry: objects whose per-process state a forked child must reset, and the
work a fork waits for so that no child inherits it half done.

Every module that holds sockets, threads or locks (pools, Kafka producers, transactional id
sets) registers here instead of calling `os.register_at_fork` itself. The child runs each
object's reset once, in registration order; a reset that fails is reported on stderr (never
through `logging`, whose locks another parent thread may have held) and the others still run.

A child that multiprocessing or billiard forks ends through `os._exit`, which runs no
`atexit` hook: buffered messages would be lost without a word. Objects registered with
`close_at_child_exit` (the threaded pools) are closed where such a child runs its exit hooks
(multiprocessing's finalizers), and the outcome is logged. A child that leaves by a bare
`os._exit` or dies of a signal runs no hook at all; Celery's prefork workers run only its
`worker_process_shutdown` signal (`producer_pool.integrations.celery` connects it).

A fork also waits, at most `fork_wait_timeout()` seconds, for the blocks run under
`no_fork_midway()` on other threads (the pools' factories): a child forked while another
thread does the process's first `getaddrinfo` inherits the import lock of `encodings.idna`
held by a thread it does not have, and its own lookups then fail or hang for good.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ..errors import ConfigError
from .changes import Changes
from .clock import Deadline

__all__ = [
    "close_and_log",
    "close_at_child_exit",
    "close_registered",
    "fork_wait_timeout",
    "no_fork_midway",
    "reset_after_fork",
    "set_fork_wait_timeout",
]

logger = logging.getLogger("producer_pool")

_registry: weakref.WeakKeyDictionary[Any, Callable[[Any], None]] = weakref.WeakKeyDictionary()
_closers: weakref.WeakKeyDictionary[Any, Callable[[Any], object]] = weakref.WeakKeyDictionary()
#: The after-forker that closes `_closers` at a multiprocessing child's exit is registered
#: (once per line of descent: children inherit the registration with this flag).
_exit_close_arranged = False
#: Finalizers of a higher priority run first; ours flush before multiprocessing joins children.
_EXIT_PRIORITY = 10

#: A healthy creation takes milliseconds; a factory stuck on a dead broker is past its
#: lookups, and must not hold a fork (gunicorn starting its workers) for its whole timeout.
_DEFAULT_FORK_WAIT = 5.0


class _ForkGate:
    """Blocks a fork waits for, and that do not start while a fork is pending."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._changes = Changes(self._lock)
        self._running: Counter[int] = Counter()  # thread id -> blocks it is running
        self._forks_pending = 0

    @contextmanager
    def block(self) -> Iterator[None]:
        me = threading.get_ident()
        # Bounded like the fork's own wait: the fork ends in after_fork, which reopens.
        deadline = Deadline(self.timeout)

        def start() -> bool:
            if self._forks_pending and not deadline.expired:
                return False
            self._running[me] += 1
            return True

        self._changes.wait_for(start, deadline)
        try:
            yield
        finally:
            with self._lock:
                self._running[me] -= 1
                if not self._running[me]:
                    del self._running[me]
                self._changes.notify_all_locked()

    def before_fork(self) -> None:
        """Let no block start, wait for those running on other threads (the forking thread's
        own cannot end before it returns)."""
        me = threading.get_ident()
        with self._lock:
            self._forks_pending += 1
        alone = self._changes.wait_for(lambda: self._running.keys() <= {me}, Deadline(self.timeout))
        if not alone:
            with self._lock:
                others = sum(n for thread, n in self._running.items() if thread != me)
            sys.stderr.write(
                f"producer-pool: forking with {others} creation(s) still running after "
                f"{self.timeout:g}s; the child may inherit locks they hold\n"
            )

    def after_fork_in_parent(self) -> None:
        with self._lock:
            self._forks_pending -= 1
            self._changes.notify_all_locked()


_gate = _ForkGate(_DEFAULT_FORK_WAIT)


def reset_after_fork(obj: Any, reset: Callable[[Any], None]) -> None:
    """Call `reset(obj)` in every child forked while `obj` is alive (held weakly)."""
    _registry[obj] = reset


def close_at_child_exit(obj: Any, close: Callable[[Any], object]) -> None:
    """Call `close(obj)` at the exit of a child that multiprocessing or billiard forks (or
    starts by fork from a fork), if `obj` is alive there (held weakly)."""
    _closers[obj] = close


def close_registered() -> None:
    """Close every object registered with `close_at_child_exit` that is alive in this process,
    and log each outcome: a framework's exit hook calls this (Celery's, multiprocessing's)."""
    for obj, close in list(_closers.items()):
        if getattr(obj, "closed", False):  # closed by its owner already: nothing to say
            continue
        close_and_log(repr(obj), functools.partial(close, obj))


def close_and_log(what: str, close: Callable[[], object]) -> None:
    """Close at a process's exit, where nobody can catch: INFO when clean, ERROR otherwise."""
    try:
        close()
    except Exception as exc:  # e.g. PoolCloseError: undelivered messages, said loudly
        logger.error("%s closed at the exit of process %d: %s", what, os.getpid(), exc)
    else:
        logger.info("%s closed at the exit of process %d", what, os.getpid())


def _arrange_close_at_exit() -> None:
    """In a child, when multiprocessing is loaded (it forks through `popen_fork`, billiard
    through the same registries): close what is registered in the finalizers that its
    `Process` runs before `os._exit`. They are cleared after this hook runs, so the finalizer
    is registered from multiprocessing's own after-fork step."""
    global _exit_close_arranged
    util = sys.modules.get("multiprocessing.util")
    if util is None or _exit_close_arranged:
        return
    _exit_close_arranged = True
    util.register_after_fork(
        close_registered, lambda close: util.Finalize(None, close, exitpriority=_EXIT_PRIORITY)
    )


def _arrange_close_at_exit_on_import() -> None:
    """This module may be imported first in a multiprocessing child, where no fork hook of
    ours ran. Its finalizer is then added now: in the child's `run()` its after-forkers have
    run already, and a spawned child runs none. A forkserver's child clears the finalizers
    after it imports its main module, and the after-forker adds the finalizer again."""
    process = sys.modules.get("multiprocessing.process")
    if process is not None and (
        process.parent_process() is not None  # in the child's run()
        or getattr(process.current_process(), "_inheriting", False)  # importing its main
    ):
        util = sys.modules["multiprocessing.util"]
        util.Finalize(None, close_registered, exitpriority=_EXIT_PRIORITY)
    _arrange_close_at_exit()


def no_fork_midway() -> AbstractContextManager[None]:
    """A block that no forked child inherits half run: a fork waits for it (within
    `fork_wait_timeout()`), and it waits for a fork in progress before it starts."""
    return _gate.block()


def fork_wait_timeout() -> float:
    """How long a fork waits for the blocks running under `no_fork_midway()`."""
    return _gate.timeout


def set_fork_wait_timeout(seconds: float) -> None:
    """Change how long a fork waits for creations in flight (default 5 s); 0 does not wait.
    A fork must not wait for ever: `inf` is refused like a negative or NaN."""
    number = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
    if not number or not 0 <= seconds < math.inf:
        raise ConfigError(
            f"fork wait timeout must be a finite number of seconds >= 0 (got {seconds!r})"
        )
    _gate.timeout = float(seconds)


def _reset_in_child() -> None:
    global _gate
    _gate = _ForkGate(_gate.timeout)  # the parent's threads and their locks are not ours
    for obj, reset in list(_registry.items()):
        try:
            reset(obj)
        except Exception as exc:  # one broken reset must not leave the others undone
            sys.stderr.write(f"producer-pool: resetting {type(obj).__name__} after fork: {exc}\n")
    _arrange_close_at_exit()


_arrange_close_at_exit_on_import()
if hasattr(os, "register_at_fork"):  # not on Windows: there is no fork to survive
    os.register_at_fork(
        before=lambda: _gate.before_fork(),
        after_in_parent=lambda: _gate.after_fork_in_parent(),
        after_in_child=_reset_in_child,
    )
