"""producer_pool.integrations.celery: which Celery signal builds and which shuts down, for
prefork children and for the threads pool (real workers run in the integration tests)."""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from signal import SIGKILL
from typing import Any

import pytest
from billiard.util import set_pdeathsig
from celery import signals
from celery.concurrency.thread import TaskPool as ThreadsPool
from dependency_injector import providers

from producer_pool import AsyncProducerPool, PoolCloseError, ProducerPool
from producer_pool.integrations.celery import WorkerResources, connect
from producer_pool.wiring.containers import create_container
from tests.fakes import ResourceFactory, in_forked_child, wait_until


class Worker:
    """What `worker_init` is sent by: a WorkController, of which only the pool is read."""

    def __init__(self, pool_cls: Any) -> None:
        self.pool_cls = pool_cls


@pytest.fixture
def connected() -> Iterator[Callable[[Any], WorkerResources]]:
    made: list[WorkerResources] = []

    def make(target: Any) -> WorkerResources:
        made.append(connect(target))
        return made[-1]

    yield make
    for resources in made:
        resources.disconnect()


@pytest.fixture
def container() -> Iterator[Any]:
    container = create_container()
    container.producer_factory.override(providers.Object(itertools.count().__next__))
    yield container
    container.shutdown_resources()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_prefork_builds_in_each_child_and_shuts_down_at_its_exit(connected, container):
    connected(container)
    signals.worker_init.send(sender=Worker("prefork"))
    assert not container.pool.initialized  # the main process runs no task

    def child() -> str:
        signals.worker_process_init.send(sender="celery@host")
        pool = container.pool()
        with pool.acquire() as number:
            pass
        stray = ProducerPool(ResourceFactory())  # a pool nobody connected
        with stray.acquire():
            pass
        signals.worker_process_shutdown.send(sender="celery@host", pid=os.getpid(), exitcode=0)
        return f"{number} {pool.closed} {container.pool.initialized} {stray.closed}"

    assert in_forked_child(child) == "0 True False True"
    assert not container.pool.initialized


def test_the_threads_pool_builds_at_worker_init_and_shuts_down_at_worker_shutdown(
    connected, container
):
    connected(container)
    signals.worker_init.send(sender=Worker(ThreadsPool))
    pool = container.pool()
    assert container.pool.initialized
    signals.worker_process_init.send(sender="celery@host")  # the solo pool sends it too: once
    assert container.pool() is pool
    signals.worker_shutdown.send(sender=Worker(ThreadsPool))
    assert pool.closed
    assert not container.pool.initialized


def test_a_pool_that_fails_to_close_is_logged_with_its_undelivered_count(connected, caplog):
    def refuse_to_close(resource: object) -> None:
        raise PoolCloseError("7 message(s) undelivered", undelivered=7)

    pool = ProducerPool(ResourceFactory(), destroy=refuse_to_close, name="orders")
    with pool.acquire():
        pass
    connected(pool)
    signals.worker_init.send(sender=Worker("threads"))
    with caplog.at_level(logging.INFO, logger="producer_pool"):
        signals.worker_shutdown.send(sender=Worker("threads"))
    assert pool.closed
    assert "<ProducerPool 'orders'" in caplog.text
    assert "7 message(s) undelivered" in caplog.text
    assert caplog.records[-1].levelname == "ERROR"


@pytest.mark.parametrize("target", ["a pool", None])
def test_only_a_container_or_a_pool_is_accepted(target):
    with pytest.raises(TypeError, match="connect"):
        connect(target)


async def test_an_asyncio_pool_is_refused_since_tasks_are_synchronous():
    pool = AsyncProducerPool(int)
    try:
        with pytest.raises(TypeError, match="Celery tasks are synchronous"):
            connect(pool)
    finally:
        await pool.close()


def fork_from_a_thread(child: Callable[[int, int], None]) -> tuple[int, int, int]:
    """Fork as billiard's supervisor thread forks replacement children, and end that thread
    once the child is ready (it writes a byte): return the child's pid and the read end of
    what it writes next, and the write end it waits to read from. The thread is gone, for
    the kernel too, when this returns."""
    to_child, from_child = os.pipe(), os.pipe()
    forked: dict[str, int] = {}

    def fork() -> None:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(to_child[1])
                os.close(from_child[0])
                child(to_child[0], from_child[1])
                status = 0
            finally:
                os._exit(status)
        forked.update(pid=pid, thread=threading.get_native_id())
        assert os.read(from_child[0], 1) == b"+"  # the child is ready: this thread may end

    thread = threading.Thread(target=fork)
    thread.start()
    thread.join()
    os.close(to_child[0])
    os.close(from_child[1])
    wait_until(lambda: not Path(f"/proc/self/task/{forked['thread']}").exists())
    return forked["pid"], from_child[0], to_child[1]


def prefork_child_initialised() -> None:
    """What `celery.concurrency.prefork.process_initializer` does in each child, in order."""
    set_pdeathsig(SIGKILL)  # "each running worker gets SIGKILL by OS when main process exits"
    signals.worker_process_init.send(sender="celery@host")


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's"
)
forks_with_threads = pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded:DeprecationWarning"
)


@linux_only
@forks_with_threads
def test_a_child_forked_by_a_pool_thread_outlives_that_thread_and_flushes(connected, container):
    """billiard's threaded pool forks replacement children from its supervisor thread, which
    ends as a warm shutdown begins: Linux sent Celery's parent-death SIGKILL then, and such a
    child died with what it had buffered ('exited with signal 9')."""
    connected(container)
    signals.worker_init.send(sender=Worker("prefork"))

    def child(commands: int, reports: int) -> None:
        prefork_child_initialised()
        os.write(reports, b"+")
        os.read(commands, 1)  # the thread that forked this child has ended
        pool = container.pool()
        with pool.acquire():
            pass
        signals.worker_process_shutdown.send(sender="celery@host", pid=os.getpid(), exitcode=0)
        os.write(reports, f"closed={pool.closed}".encode())

    pid, reports, commands = fork_from_a_thread(child)
    os.write(commands, b"go")
    with os.fdopen(reports, "rb") as reader:
        report = reader.read().decode()
    _, status = os.waitpid(pid, 0)
    os.close(commands)
    assert (report, os.waitstatus_to_exitcode(status)) == ("closed=True", 0)  # before: ('', -9)


@linux_only
@forks_with_threads
def test_such_a_child_still_dies_with_the_worker_process(connected, container):
    """What Celery's parent-death signal is for: no child outlives a killed worker."""
    connected(container)
    signals.worker_init.send(sender=Worker("prefork"))
    pids_r, pids_w = os.pipe()
    worker = os.fork()
    if worker == 0:  # the worker's process: a thread of it forks the child, then it ends
        status = 1
        try:

            def child(commands: int, reports: int) -> None:
                prefork_child_initialised()
                os.write(reports, b"+")
                os.read(commands, 1)  # never answered: only a signal ends this child

            pid, _, _ = fork_from_a_thread(child)
            os.write(pids_w, str(pid).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(pids_w)
    with os.fdopen(pids_r, "rb") as reader:
        child_pid = int(reader.read())
    _, status = os.waitpid(worker, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    def gone() -> bool:  # reaped, or a zombie its new parent has not reaped yet
        try:
            return Path(f"/proc/{child_pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
        except FileNotFoundError:
            return True

    wait_until(gone)
