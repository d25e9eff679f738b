"""Children forked while the pool prewarms on its threads all publish (gunicorn --preload,
Celery prefork, multiprocessing fork): 17 rounds of 12 children, each round a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from producer_pool.testing.topics import read_topic

ROUNDS = 17  # 204 children: before the fork waited for creations, 13 of 96 failed
SCRIPT = Path(__file__).with_name("forks_during_prewarm.py")
ROOT = Path(__file__).parents[2]


@pytest.mark.frameworks
@pytest.mark.timeout(900)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_every_child_forked_during_prewarm_publishes(kafka_bootstrap_servers, kafka_topic):
    failures = []
    for round_ in range(ROUNDS):
        command = [sys.executable, str(SCRIPT), kafka_bootstrap_servers, kafka_topic, str(round_)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        if done.returncode != 0 or done.stdout.strip() != "0":
            failures.append(f"round {round_}: {done.stdout.strip()} failed\n{done.stderr[-2000:]}")
    assert failures == []
    values = sorted(
        record.value.decode() for record in read_topic(kafka_bootstrap_servers, kafka_topic)
    )
    assert values == sorted(f"{r}-{c}" for r in range(ROUNDS) for c in range(12))
