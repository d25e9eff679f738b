"""Each integration imports with only its own extra installed, and a missing extra is named."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


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
        ("producer_pool.clients.confluent", "confluent_kafka", "confluent", "the confluent kits"),
        ("producer_pool.wiring.containers", "dependency_injector", "di", None),
        ("producer_pool.wiring.settings", "pydantic", "di", None),
        ("producer_pool.wiring.config_file", "yaml", "di", None),
        ("producer_pool.command.cli", "click", "cli", "the producer-pool command"),
    ],
)
def test_a_missing_extra_is_named(module, blocked, extra, named):
    """The line names what failed to import by today's path (not 0.1's), and the extra."""
    result = python(f"import sys; sys.modules[{blocked!r}] = None; import {module}")
    error = result.stderr.splitlines()[-1]
    assert re.match(rf"ImportError: {re.escape(named or module)} needs? the '{extra}' extra", error)
    assert f"pip install 'producer-pool[{extra}]'" in error


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
