"""Each Kafka client module imports with only its own client installed."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "blocked"),
    [("producer_pool.confluent", "kafka"), ("producer_pool.kafka", "confluent_kafka")],
)
def test_a_client_module_imports_with_the_other_client_missing(module, blocked):
    code = f"import sys; sys.modules[{blocked!r}] = None; import {module}; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
