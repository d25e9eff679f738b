"""Children that multiprocessing forks end through `os._exit`, which runs no `atexit` hook:
a pool used there is closed by multiprocessing's finalizers, so nothing buffered is lost."""

from __future__ import annotations

import logging
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from producer_pool.clients.kafka_python import kafka_pool
from producer_pool.testing.topics import read_topic

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

PER_CHILD = 300
#: Longer than a child lives: without a flush at its exit, every message is still buffered.
LINGER_MS = 3000


def publish_buffered(pool: Any, topic: str, child: int, log_path: str) -> None:
    """A worker's job: send without waiting for acknowledgements, then return."""
    logging.basicConfig(filename=log_path, level=logging.INFO, force=True)
    with pool.acquire(timeout=30) as producer:
        for number in range(PER_CHILD):
            producer.send(topic, f"{child}-{number}".encode())


def expected(children: int) -> list[str]:
    return sorted(f"{child}-{number}" for child in range(children) for number in range(PER_CHILD))


def test_a_forked_process_closes_its_pool_at_exit_and_logs_it(
    kafka_bootstrap_servers, kafka_topic, closing, tmp_path: Path
):
    settings = {"bootstrap_servers": kafka_bootstrap_servers, "linger_ms": LINGER_MS}
    pool = closing(kafka_pool(settings, max_size=2))
    log = tmp_path / "child.log"
    context = multiprocessing.get_context("fork")
    child = context.Process(target=publish_buffered, args=(pool, kafka_topic, 0, str(log)))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    values = [record.value.decode() for record in read_topic(kafka_bootstrap_servers, kafka_topic)]
    assert sorted(values) == expected(1)  # before: none of them (the child's os._exit)
    assert f"closed at the exit of process {child.pid}" in log.read_text()


def publish_in_pool_worker(child: int) -> int:
    publish_buffered(SHARED["pool"], SHARED["topic"], child, SHARED["log"])
    return os.getpid()


SHARED: dict[str, Any] = {}  # what the pool workers inherit by fork


def test_pool_workers_retired_by_maxtasksperchild_flush_their_producers(
    kafka_bootstrap_servers, kafka_topic, closing, tmp_path: Path
):
    settings = {"bootstrap_servers": kafka_bootstrap_servers, "linger_ms": LINGER_MS}
    SHARED.update(
        pool=closing(kafka_pool(settings, max_size=2)),
        topic=kafka_topic,
        log=str(tmp_path / "workers.log"),
    )
    try:
        context = multiprocessing.get_context("fork")
        workers = context.Pool(2, maxtasksperchild=1)  # each worker exits after one task
        pids = workers.map(publish_in_pool_worker, range(4))
        workers.close()
        workers.join()
    finally:
        SHARED.clear()
    values = [record.value.decode() for record in read_topic(kafka_bootstrap_servers, kafka_topic)]
    assert sorted(values) == expected(4)
    log = (tmp_path / "workers.log").read_text()
    assert all(f"closed at the exit of process {pid}" in log for pid in pids)
