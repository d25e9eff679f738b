"""The examples where such apps run: the WSGI app under gunicorn (workers forked after the
pool exists), the FastAPI app under uvicorn."""

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
from dataclasses import dataclass
from pathlib import Path

import pytest

from producer_pool.testing.broker import free_port
from producer_pool.testing.topics import read_topic
from tests.fakes import run_together, wait_until

ROOT = Path(__file__).parents[2]


def post(url: str, body: bytes, method: str = "POST", content_type: str | None = None) -> int:
    headers = {} if content_type is None else {"Content-Type": content_type}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
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


@dataclass
class Served:
    """A server run to its end: the orders it accepted, its exit code and its log."""

    accepted: list[int]
    returncode: int
    log: str


def serve_orders(command: list[str], servers: str, topic: str, check_bad_input) -> Served:
    """Start the example app with `command` (it must print its start-up line to stderr),
    run `check_bad_input(url)`, post 16 x 25 orders, stop it with SIGTERM."""
    port = free_port()
    command = [arg.replace("{port}", str(port)) for arg in command]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": servers, "PRODUCER_POOL_TOPIC": topic}
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as server:
        try:
            wait_until(lambda: accepting(port) or server.poll() is not None, timeout=30)
            url = f"http://127.0.0.1:{port}/orders"
            check_bad_input(url)
            accepted = post_orders(url, clients=16, per_client=25)
        finally:
            server.send_signal(signal.SIGTERM)
            _, log = server.communicate(timeout=60)
    return Served(accepted, server.returncode, log)


def gunicorn(app: str, *options: str) -> list[str]:
    """gunicorn serving `app` on `{port}` with --preload, stopped with 20 s of grace."""
    command = [sys.executable, "-m", "gunicorn", "--preload", *options]
    return [*command, "-b", "127.0.0.1:{port}", "--graceful-timeout", "20", app]


def refuses_bad_orders(url: str) -> None:
    """What a WSGI example (plain or Django) answers to orders it cannot take."""
    assert post(url, b"[1, 2]") == 400
    assert post(url, b'{"customer": "seven", "total": 1}') == 400
    assert post(url, b"", method="GET") == 405


def assert_each_accepted_order_once(served: Served, servers: str, topic: str) -> None:
    assert "orders app: POST /orders publishes to" in served.log
    assert len(served.accepted) == 16 * 25
    ids = [json.loads(r.value)["id"] for r in read_topic(servers, topic)]
    assert sorted(ids) == sorted(served.accepted)  # each accepted order once, nothing else


@pytest.mark.timeout(180)
def test_under_gunicorn_every_accepted_order_is_in_the_topic_exactly_once(
    kafka_bootstrap_servers, kafka_topic
):
    command = gunicorn("examples.wsgi_app:create_app()", "-w", "2", "--threads", "8")
    served = serve_orders(command, kafka_bootstrap_servers, kafka_topic, refuses_bad_orders)
    assert served.returncode == 0, served.log[-3000:]
    assert_each_accepted_order_once(served, kafka_bootstrap_servers, kafka_topic)


def post_orders(url: str, clients: int, per_client: int) -> list[int]:
    """`clients` threads post `per_client` orders each, all starting together; returns the
    ids of the orders answered 202."""
    accepted: list[int] = []
    lock = threading.Lock()
    numbers = iter(range(1_000_000))

    def load() -> None:
        for _ in range(per_client):
            with lock:
                number = next(numbers)
            body = json.dumps({"customer": number % 7, "total": 1.5, "id": number})
            if post(url, body.encode(), content_type="application/json") == 202:
                with lock:
                    accepted.append(number)

    assert run_together(clients, load, timeout=120) == []
    return accepted


@pytest.mark.timeout(180)
def test_under_uvicorn_every_accepted_order_is_in_the_topic_exactly_once(
    kafka_bootstrap_servers, kafka_topic
):
    command = [sys.executable, "-m", "uvicorn", "--factory", "examples.fastapi_app:create_app"]
    command += ["--host", "127.0.0.1", "--port", "{port}", "--no-access-log"]

    def check_bad_input(url: str) -> None:
        json_body = "application/json"
        assert post(url, b"[1, 2]", content_type=json_body) == 422
        assert post(url, b'{"customer": "seven", "total": 1}', content_type=json_body) == 422
        assert post(url, b'{"customer": 1, "total": 1, "x": 0}', content_type=json_body) == 422

    served = serve_orders(command, kafka_bootstrap_servers, kafka_topic, check_bad_input)
    # uvicorn re-raises the signal once its shutdown is complete (older ones exit 0).
    assert served.returncode in (0, -signal.SIGTERM), served.log[-3000:]
    assert "Application shutdown complete" in served.log, served.log[-3000:]
    assert "Traceback" not in served.log, served.log[-3000:]
    assert "(aiokafka, async pool of 1 in share mode)" in served.log  # one shared producer
    assert_each_accepted_order_once(served, kafka_bootstrap_servers, kafka_topic)
