"""The web recipes under the servers' own process models: gunicorn --preload forking four
workers while the pool prewarms and retiring them with --max-requests, uvicorn with two
workers. Every order answered 202 is in the topic exactly once."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
import yaml

from producer_pool.wiring.containers import DEFAULT_CONFIG_PATH
from tests.integration.test_example_app import (
    assert_each_accepted_order_once,
    gunicorn,
    refuses_bad_orders,
    serve_orders,
)

pytestmark = [pytest.mark.frameworks, pytest.mark.timeout(240)]


def config_with(tmp_path: Path, **pool: object) -> Path:
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    data["pool"].update(pool)
    path = tmp_path / "producer_pool.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def no_bad_input(url: str) -> None:
    pass


def test_gunicorn_preload_forks_during_prewarm_and_retires_workers_losing_nothing(
    kafka_bootstrap_servers, kafka_topic, tmp_path
):
    """min_size=2: the master's pool prewarms on its threads while gunicorn forks 4 workers
    (before the fork waited for creations, a worker could never publish); --max-requests
    retires workers mid-load, each flushing its pool at its exit."""
    config = config_with(tmp_path, min_size=2)
    app = f"examples.wsgi_app:create_app({str(config)!r})"
    retiring = ["--max-requests", "40", "--max-requests-jitter", "10"]
    command = gunicorn(app, "-w", "4", "--threads", "4", *retiring)
    served = serve_orders(command, kafka_bootstrap_servers, kafka_topic, no_bad_input)
    assert served.returncode == 0, served.log[-3000:]
    assert "Autorestarting worker" in served.log  # --max-requests retired some mid-load
    assert "undelivered" not in served.log, served.log[-3000:]
    assert_each_accepted_order_once(served, kafka_bootstrap_servers, kafka_topic)


def test_uvicorn_with_two_workers_loses_nothing(kafka_bootstrap_servers, kafka_topic):
    command = [sys.executable, "-m", "uvicorn", "--factory", "examples.fastapi_app:create_app"]
    command += ["--host", "127.0.0.1", "--port", "{port}", "--no-access-log", "--workers", "2"]
    served = serve_orders(command, kafka_bootstrap_servers, kafka_topic, no_bad_input)
    assert served.returncode in (0, -signal.SIGTERM), served.log[-3000:]
    assert served.log.count("Application shutdown complete") == 2, served.log[-3000:]
    assert "Traceback" not in served.log, served.log[-3000:]
    assert_each_accepted_order_once(served, kafka_bootstrap_servers, kafka_topic)


def test_the_django_example_under_gunicorn_loses_nothing(kafka_bootstrap_servers, kafka_topic):
    command = gunicorn("examples.django_app:application", "-w", "2", "--threads", "8")
    served = serve_orders(command, kafka_bootstrap_servers, kafka_topic, refuses_bad_orders)
    assert served.returncode == 0, served.log[-3000:]
    assert "Traceback" not in served.log, served.log[-3000:]
    assert_each_accepted_order_once(served, kafka_bootstrap_servers, kafka_topic)
