"""The WSGI example where such apps run: gunicorn, workers forked after the pool exists."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from producer_pool.broker import free_port
from producer_pool.kafka import read_topic
from tests.fakes import run_together, wait_until

ROOT = Path(__file__).parents[2]


def post(url: str, body: bytes, method: str = "POST") -> int:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


@pytest.mark.timeout(180)
def test_under_gunicorn_every_accepted_order_is_in_the_topic_exactly_once(
    kafka_bootstrap_servers, kafka_topic
):
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "PRODUCER_POOL_TOPIC": kafka_topic,
    }
    command = [sys.executable, "-m", "gunicorn", "--preload", "-w", "2", "--threads", "8"]
    command += ["-b", f"127.0.0.1:{port}", "--graceful-timeout", "20"]
    command += ["examples.wsgi_app:create_app()"]
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as server:
        try:
            assert server.stderr is not None
            assert server.stderr.readline().startswith("orders app: POST /orders publishes to")
            wait_until(lambda: accepting(port), timeout=30)
            url = f"http://127.0.0.1:{port}/orders"
            assert post(url, b"[1, 2]") == 400
            assert post(url, b'{"customer": "seven", "total": 1}') == 400
            assert post(url, b"", method="GET") == 405

            accepted: list[int] = []
            lock = threading.Lock()
            numbers = iter(range(1_000_000))

            def load() -> None:  # a bounded load generator: 25 orders from each of 16 clients
                for _ in range(25):
                    with lock:
                        number = next(numbers)
                    body = json.dumps({"customer": number % 7, "total": 1.5, "id": number})
                    if post(url, body.encode()) == 202:
                        with lock:
                            accepted.append(number)

            assert run_together(16, load, timeout=120) == []
        finally:
            server.send_signal(signal.SIGTERM)
            _, log = server.communicate(timeout=60)
    assert server.returncode == 0, log[-3000:]
    assert len(accepted) == 16 * 25
    ids = [json.loads(r.value)["id"] for r in read_topic(kafka_bootstrap_servers, kafka_topic)]
    assert sorted(ids) == sorted(accepted)  # each accepted order once, nothing else
