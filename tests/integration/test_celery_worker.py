"""Real Celery workers (kombu's filesystem transport, no broker) running examples/celery_app.py:
every task that succeeded has its order in the topic exactly once, through child retirements
(--max-tasks-per-child) and a SIGTERM mid-load, and each process's pool closed cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery import Celery

from examples.celery_app import _filesystem_transport
from producer_pool.testing.topics import read_topic
from tests.fakes import wait_until

pytestmark = [pytest.mark.frameworks, pytest.mark.timeout(240)]

ROOT = Path(__file__).parents[2]
TASKS = 200
TASK = "examples.celery_app.publish_order"
STOP_TIMEOUT = 30


@dataclass
class Run:
    succeeded: set[int]  # the orders whose task succeeded: acknowledged to the caller
    log: str
    returncode: int

    def workers(self) -> set[str]:
        """Every pool process that logged anything."""
        return set(re.findall(r"/(ForkPoolWorker-\d+)\]", self.log))

    def closed_workers(self) -> set[str]:
        """The pool processes whose pool closed at their end, cleanly (no ERROR line)."""
        closed = r"INFO/(ForkPoolWorker-\d+)\] .* closed at the exit of process"
        return set(re.findall(closed, self.log))


def run_worker(
    folder: Path, servers: str, topic: str, options: list[str], wait_for_ack: bool, group: bool
) -> Run:
    """Queue TASKS orders, start a worker, SIGTERM it (or its process group) once a quarter
    of them succeeded, and wait for it to stop."""
    how = {"wait_for_ack": wait_for_ack}
    client = Celery("orders-client")
    client.conf.update(_filesystem_transport(folder))
    tasks = {
        client.send_task(TASK, args=[{"id": n, "customer": n % 7}], kwargs=how).id: n
        for n in range(TASKS)
    }

    def succeeded() -> set[int]:
        return {n for task, n in tasks.items() if client.AsyncResult(task).state == "SUCCESS"}

    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": servers,
        "PRODUCER_POOL_TOPIC": topic,
        "CELERY_DATA_FOLDER": str(folder),
    }
    command = [sys.executable, "-m", "celery", "-A", "examples.celery_app", "worker"]
    command += ["--loglevel", "INFO", "--without-mingle", "--without-gossip", *options]
    log_path = folder / "worker.log"  # a file, not a pipe: a full pipe would stall the worker
    with (
        log_path.open("w") as log_file,
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stderr=subprocess.STDOUT,
            stdout=log_file,
            text=True,
            start_new_session=True,
        ) as worker,
    ):
        try:
            wait_until(lambda: len(succeeded()) >= TASKS // 4 or worker.poll() is not None, 120)
        finally:
            if group:
                os.killpg(worker.pid, signal.SIGTERM)
            else:
                worker.send_signal(signal.SIGTERM)
            killed = ""
            try:
                worker.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)  # as systemd and docker end a stop
                worker.wait()
                killed = f"\n(killed after {STOP_TIMEOUT}s)"
            finally:  # whatever happened (a pytest timeout too), leave no process running
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGKILL)
    # kombu's filesystem transport keeps its exchange table in ./control unless told where
    # (two files of an early run were committed from the checkout's root).
    strays = [name for name in ("control", "celery-data") if (ROOT / name).exists()]
    assert strays == [], "the Celery run wrote into the checkout"
    return Run(succeeded(), log_path.read_text() + killed, worker.returncode)


def assert_each_order_once(run: Run, servers: str, topic: str, stored: set[int]) -> None:
    """No order twice in the topic, and every order of `stored` in it."""
    assert len(run.succeeded) >= TASKS // 4, run.log[-4000:]
    published = Counter(json.loads(record.value)["id"] for record in read_topic(servers, topic))
    assert [n for n, count in published.items() if count > 1] == []  # nothing twice
    assert sorted(stored - set(published)) == []  # nothing acknowledged is missing


def closes(log: str) -> list[str]:
    return [line for line in log.splitlines() if "closed at the exit of process" in line]


def test_prefork_children_retired_and_stopped_flush_what_their_tasks_buffered(
    kafka_bootstrap_servers, kafka_topic, tmp_path
):
    """Tasks return once the order is buffered; each child flushes at its end."""
    options = ["--pool", "prefork", "--concurrency", "2", "--max-tasks-per-child", "10"]
    run = run_worker(
        tmp_path, kafka_bootstrap_servers, kafka_topic, options, wait_for_ack=False, group=False
    )
    assert run.returncode == 0, run.log[-4000:]
    assert not [line for line in closes(run.log) if "ERROR" in line], run.log[-4000:]
    # Every child, retired or stopped, closed its pool: before, a child forked by billiard's
    # supervisor thread was SIGKILLed when that thread ended at the warm shutdown (Celery's
    # parent-death signal), with what its tasks had buffered ('exited with signal 9').
    assert len(run.closed_workers()) > 2, run.log[-4000:]  # retired, then stopped
    assert run.workers() == run.closed_workers(), run.log[-4000:]
    assert "exited with 'signal" not in run.log, run.log[-4000:]
    assert_each_order_once(run, kafka_bootstrap_servers, kafka_topic, run.succeeded)


def test_prefork_under_a_sigterm_to_the_process_group_loses_no_acknowledged_order(
    kafka_bootstrap_servers, kafka_topic, tmp_path
):
    """Celery's children die of it at once: a task that waits for Kafka's ack loses nothing."""
    options = ["--pool", "prefork", "--concurrency", "2", "--max-tasks-per-child", "10"]
    run = run_worker(
        tmp_path, kafka_bootstrap_servers, kafka_topic, options, wait_for_ack=True, group=True
    )
    # The main process may hang once its children are gone: it is then killed, as systemd
    # and docker end a stop that outlasts their timeout.
    assert run.returncode in (0, -signal.SIGKILL), run.log[-4000:]
    assert_each_order_once(run, kafka_bootstrap_servers, kafka_topic, run.succeeded)


def test_a_threads_worker_flushes_at_worker_shutdown(
    kafka_bootstrap_servers, kafka_topic, tmp_path
):
    options = ["--pool", "threads", "--concurrency", "4"]
    run = run_worker(
        tmp_path, kafka_bootstrap_servers, kafka_topic, options, wait_for_ack=False, group=True
    )
    assert run.returncode == 0, run.log[-4000:]
    assert_each_order_once(run, kafka_bootstrap_servers, kafka_topic, run.succeeded)
    assert len(closes(run.log)) == 1, run.log[-4000:]
    assert "ERROR" not in closes(run.log)[0]
