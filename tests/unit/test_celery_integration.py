"""producer_pool.integrations.celery: which Celery signal builds and which shuts down, for
prefork children and for the threads pool (real workers run in the integration tests)."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import signals
from celery.concurrency.thread import TaskPool as ThreadsPool
from dependency_injector import providers

from producer_pool import AsyncProducerPool, PoolCloseError, ProducerPool
from producer_pool.integrations.celery import WorkerResources, connect
from producer_pool.wiring.containers import create_container
from tests.fakes import ResourceFactory, in_forked_child


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
