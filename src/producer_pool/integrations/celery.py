"""Celery: a container's resources (or a pool) live as long as each process that runs tasks.

    from producer_pool.integrations.celery import connect
    from producer_pool.wiring.containers import create_container

    container = create_container("config/producer_pool.yaml")
    connect(container)            # in the module that defines the Celery app

prefork (the default pool): every child builds the resources after it is forked
(`worker_process_init`) and shuts them down when it is retired or stopped
(`worker_process_shutdown`); a child then leaves through `os._exit`, so this is where
buffered messages are flushed, and any other pool alive in the child is closed there too.
threads, solo, gevent, eventlet: the worker's own process builds them at `worker_init` and
shuts them down at `worker_shutdown` (`worker_process_init` never fires for threads).

Celery arms each prefork child to be SIGKILLed when its parent dies (`PR_SET_PDEATHSIG`),
but Linux sends that signal when the *thread* that forked the child ends. billiard's threaded
pool (what Celery runs under a broker transport with no event loop: filesystem, SQS, ...)
forks replacement children (`--max-tasks-per-child`, a crashed child) from its supervisor
thread, and `--autoscale` forks from its own thread; both threads end as a warm shutdown
begins, and the kernel then killed those children with their buffered messages. In such a
child `worker_process_init` trades the signal for a thread that SIGKILLs the child when the
worker's process ends, which is what Celery meant.

Not covered: a child killed by a signal. Celery resets SIGTERM to its default in prefork
children, so a SIGTERM to the whole process group kills them at once; wait for the broker's
acknowledgement in the task when a finished task must mean a stored message.
"""

from __future__ import annotations

import inspect
import logging
import os
import select
import sys
import threading
from signal import SIGKILL
from typing import Any

from ..errors import missing_extra

try:
    from billiard.util import get_pdeathsig, set_pdeathsig
    from celery import signals
    from celery.concurrency import ALIASES
except ImportError as exc:
    raise ImportError(missing_extra("producer_pool.integrations.celery", "celery", exc)) from exc

from ..core.async_pool import AsyncProducerPool
from ..core.fork import close_and_log, close_registered

__all__ = ["WorkerResources", "connect"]

logger = logging.getLogger("producer_pool")

_PREFORK = ALIASES["prefork"]

#: Whether this process was forked by its parent's main thread (set in the parent at each
#: fork, so that the child inherits the value that describes its own fork).
_forked_by_main_thread = True


def _note_forking_thread() -> None:
    global _forked_by_main_thread
    _forked_by_main_thread = threading.current_thread() is threading.main_thread()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_note_forking_thread)


def _die_with_the_worker_process() -> None:
    """In a child forked by a thread other than the worker's main thread, trade Celery's
    parent-death SIGKILL, which Linux ties to that thread, for one tied to the worker's
    process: a thread that waits on a pidfd of the parent and SIGKILLs the child when it
    ends. Where a pidfd cannot be had, Celery's signal stays (an orphan is worse)."""
    if _forked_by_main_thread or not sys.platform.startswith("linux"):
        return
    try:
        if get_pdeathsig() == 0:  # nothing armed: not a Celery prefork child
            return
        worker = os.getppid()
        watch = os.pidfd_open(worker)
        set_pdeathsig(0)
    except (AttributeError, OSError):
        return
    if os.getppid() != worker:  # the worker ended before the watch began
        os.kill(os.getpid(), SIGKILL)
    threading.Thread(
        target=_kill_self_when_readable,
        args=(watch,),
        name="producer-pool-worker-watch",
        daemon=True,
    ).start()


def _kill_self_when_readable(pidfd: int) -> None:
    """A pidfd turns readable when its process ends."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.poll()
    os.kill(os.getpid(), SIGKILL)


def _is_prefork(pool_cls: Any) -> bool:
    """Whether the worker forks children for its tasks, without importing the pool's module
    (a gevent or eventlet worker patches the standard library after `worker_init`)."""
    name = (
        pool_cls if isinstance(pool_cls, str) else f"{pool_cls.__module__}:{pool_cls.__qualname__}"
    )
    return bool(ALIASES.get(name, name) == _PREFORK)


class WorkerResources:
    """A container (`init_resources` / `shutdown_resources`) or a threaded pool (`close`) tied
    to the processes of a Celery worker that run tasks; `connect` makes one."""

    def __init__(self, target: Any) -> None:
        if isinstance(target, AsyncProducerPool):
            raise TypeError("Celery tasks are synchronous: connect a ProducerPool or a Container")
        if not hasattr(target, "shutdown_resources") and not hasattr(target, "close"):
            raise TypeError(f"connect() takes a container or a pool, not {target!r}")
        self.target = target
        self._started_in: int | None = None  # the process that built them (a child inherits)

    def start(self) -> None:
        """Build the resources in this process, once."""
        if self._started_in == os.getpid():
            return
        self._started_in = os.getpid()
        init = getattr(self.target, "init_resources", None)
        if init is not None and inspect.isawaitable(started := init()):
            started.close()  # type: ignore[attr-defined]
            raise TypeError("Celery tasks are synchronous: connect a Container, not AsyncContainer")

    def stop(self) -> None:
        """Shut down what this process built, and log how it went."""
        if self._started_in != os.getpid():
            return
        self._started_in = None
        shutdown = getattr(self.target, "shutdown_resources", None) or self.target.close
        close_and_log(repr(self.target), shutdown)

    def disconnect(self) -> None:
        """Undo `connect` (tests connect and disconnect around a worker)."""
        for signal, receiver in self._receivers():
            signal.disconnect(receiver)

    def _receivers(self) -> list[tuple[Any, Any]]:
        return [
            (signals.worker_init, self._on_worker_init),
            (signals.worker_process_init, self._on_worker_process_init),
            (signals.worker_process_shutdown, self._on_worker_process_shutdown),
            (signals.worker_shutdown, self._on_worker_shutdown),
        ]

    def _on_worker_init(self, sender: Any = None, **_: Any) -> None:
        if not _is_prefork(sender.pool_cls):  # prefork builds in its children instead
            self.start()

    def _on_worker_process_init(self, **_: Any) -> None:
        _die_with_the_worker_process()  # before anything is buffered
        self.start()

    def _on_worker_process_shutdown(self, **_: Any) -> None:
        self.stop()
        close_registered()  # the child's os._exit comes next: flush every other pool too

    def _on_worker_shutdown(self, **_: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<WorkerResources {self.target!r}>"


def connect(target: Any) -> WorkerResources:
    """Build `target`'s resources in each Celery process that runs tasks and shut them down
    at that process's end (see the module's docstring for which signal does what)."""
    resources = WorkerResources(target)
    for signal, receiver in resources._receivers():
        signal.connect(receiver, weak=False)
    return resources
