"""The publisher service, the demo and the `producer-pool` command against the broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest
from click.testing import CliRunner
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from producer_pool import ProducerPool
from producer_pool.clients.kafka_python import kafka_pool
from producer_pool.command.cli import main
from producer_pool.command.demo import run_demo
from producer_pool.testing.broker import free_port
from producer_pool.testing.topics import read_topic
from producer_pool.wiring.containers import shipped_config
from producer_pool.wiring.services import EventPublisher
from tests.config_files import write_config
from tests.fakes import wait_until


def test_publisher_sends_json_with_keys_and_headers(kafka_bootstrap_servers, kafka_topic, closing):
    pool = closing(kafka_pool({"bootstrap_servers": kafka_bootstrap_servers}, max_size=2))
    publisher = EventPublisher(pool, kafka_topic)
    publisher.publish({"order": 1}, key="customer-7", headers=[("source", b"api")]).get(10)
    for future in publisher.publish_many([{"order": 2}, {"order": 3}], key=b"customer-8"):
        future.get(10)
    pool.close()
    records = read_topic(kafka_bootstrap_servers, kafka_topic)
    assert [(r.key, json.loads(r.value)) for r in records] == [
        (b"customer-7", {"order": 1}),
        (b"customer-8", {"order": 2}),
        (b"customer-8", {"order": 3}),
    ]
    assert [(h[0], h[1]) for h in records[0].headers] == [("source", b"api")]
    assert pool.stats().acquired == 2  # publish_many used one lease for the batch


def test_demo_loses_nothing_and_duplicates_nothing(monkeypatch, kafka_bootstrap_servers):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers)
    report = run_demo(messages=3_000, threads=4)
    assert (report.sent, report.acked, report.read_back) == (3_000, 3_000, 3_000)
    assert (report.lost, report.duplicates) == (0, 0)
    assert report.pool["acquired"] == 3_000


def test_stopping_the_demo_early_still_flushes_everything(monkeypatch, kafka_bootstrap_servers):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers)
    stop = threading.Event()
    report = run_demo(messages=1_000_000, threads=2, stop=stop, on_progress=lambda n: stop.set())
    assert 0 < report.sent < 1_000_000
    assert report.acked == report.sent == report.read_back
    assert report.lost == 0


def test_demo_command_prints_the_figures_as_json_last(monkeypatch, kafka_bootstrap_servers):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers)
    handlers = [signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)]
    result = CliRunner().invoke(main, ["demo", "--messages", "2000", "--threads", "4", "--json"])
    assert result.exit_code == 0, result.output
    # In-process, the demo's Ctrl-C handling must not outlive it (a later Ctrl-C would
    # set a dead demo's stop flag instead of raising KeyboardInterrupt).
    assert [signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)] == handlers
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert set(figures) == {
        "topic", "sent", "acked", "read_back", "lost", "duplicates", "seconds", "pool"
    }  # fmt: skip
    assert (figures["sent"], figures["read_back"], figures["lost"]) == (2000, 2000, 0)


def test_check_command_accepts_a_good_config_and_a_live_broker(
    monkeypatch, kafka_bootstrap_servers
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers)
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert f"Kafka at {kafka_bootstrap_servers} answered" in result.output


@pytest.mark.parametrize("client", ["kafka-python", "confluent", "confluent-aio", "aiokafka"])
def test_check_and_demo_work_with_each_clients_shipped_file(
    monkeypatch, kafka_bootstrap_servers, client
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers)
    result = CliRunner().invoke(main, ["check", "--client", client])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        f"ok: {shipped_config(client)} is valid and Kafka at {kafka_bootstrap_servers} "
        f"answered ({client})"
    )
    demo = ["demo", "--client", client, "--messages", "2000", "--threads", "4", "--json"]
    result = CliRunner().invoke(main, demo)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert (figures["sent"], figures["acked"], figures["read_back"]) == (2000, 2000, 2000)
    assert (figures["lost"], figures["duplicates"]) == (0, 0)
    assert figures["pool"]["delivered"] == 2000


def test_check_command_names_the_bad_key_in_one_line(tmp_path):
    path = write_config(tmp_path, "pool", "max_size", 0)
    result = CliRunner().invoke(main, ["check", "--config", str(path)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {path}: pool.max_size: must be an integer >= 1 (got 0)"
    )


def test_check_command_reports_a_broker_that_is_down(tmp_path, monkeypatch):
    servers = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", servers)
    path = write_config(tmp_path, "kafka", "bootstrap_timeout_ms", 500)
    result = CliRunner().invoke(main, ["check", "--config", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: {path}: kafka.bootstrap_servers: cannot reach Kafka at {servers} within 500 ms"
    )


@pytest.mark.parametrize(
    ("how", "exit_code"),
    [("SIGTERM to the demo", 128 + signal.SIGTERM), ("Ctrl-C to its process group", 130)],
)
def test_a_stopped_demo_still_flushes_reads_back_and_reports(how, exit_code):
    """Ctrl-C in a terminal signals the whole process group: it once killed the embedded
    broker too, and the demo died in read_topic with a traceback."""
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env["COLUMNS"] = "300"
    command = [sys.executable, "-c", "from producer_pool.command.cli import run; run()"]
    command += ["demo", "--messages", "50000000", "--threads", "2", "--json"]
    with subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a terminal gives it
    ) as demo:
        assert demo.stderr is not None
        line = demo.stderr.readline()  # "publishing ... to <topic> on <servers> from ..."
        topic, servers = line.split(" to ", 1)[1].split()[0], line.split(" on ", 1)[1].split()[0]
        wait_until(lambda: stored(servers, topic) >= 2_000, timeout=60)
        if how.startswith("Ctrl-C"):
            os.killpg(demo.pid, signal.SIGINT)
        else:
            demo.send_signal(signal.SIGTERM)
        stdout, stderr = demo.communicate(timeout=60)
    assert demo.returncode == exit_code, stderr[-2000:]
    figures = json.loads(stdout.strip().splitlines()[-1])
    assert 2_000 <= figures["sent"] < 50_000_000
    assert figures["acked"] == figures["sent"] == figures["read_back"]
    assert (figures["lost"], figures["duplicates"]) == (0, 0)


def stored(servers: str, topic: str) -> int:
    """Records the broker reports for the topic (its end offset can lag: a lower bound)."""
    consumer = KafkaConsumer(bootstrap_servers=servers)
    try:
        partition = TopicPartition(topic, 0)
        return int(consumer.end_offsets([partition])[partition])
    finally:
        consumer.close()


def scrape(port: int) -> dict[str, float]:
    """The demo's /metrics, as {sample with labels: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_demo_serves_its_pool_metrics_while_it_runs():
    """`producer-pool demo --metrics-port`: scraped while it publishes, then stopped with
    Ctrl-C; its report shows the wait percentiles and the delivery outcomes."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    command = [sys.executable, "-c", "from producer_pool.command.cli import run; run()", "demo"]
    command += ["--messages", "50000000", "--threads", "2", "--json", "--metrics-port", str(port)]
    seen: dict[str, float] = {}
    acknowledged = "producer_pool_deliveries_acknowledged_total[('pool', 'events')]"
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    ) as demo:  # fmt: skip
        try:
            assert demo.stderr is not None
            assert demo.stderr.readline().startswith("publishing")  # the server is up by now
            wait_until(lambda: seen.update(scrape(port)) or seen.get(acknowledged, 0) > 0, 60)
        finally:
            os.killpg(demo.pid, signal.SIGINT)
            stdout, stderr = demo.communicate(timeout=60)
    assert demo.returncode == 130, stderr[-2000:]
    assert seen["producer_pool_max_size[('pool', 'events')]"] == 4
    assert seen["producer_pool_acquire_wait_seconds_count[('pool', 'events')]"] > 0
    figures = json.loads(stdout.strip().splitlines()[-1])
    assert figures["acked"] == figures["sent"] == figures["read_back"] >= seen[acknowledged]
    assert figures["pool"]["delivered"] == figures["acked"]
    assert figures["pool"]["acquire_wait"]["count"] == figures["pool"]["acquired"]
    with pytest.raises(OSError):  # the metrics server stopped with the demo
        scrape(port)


def test_a_metrics_port_in_use_is_one_line_and_the_pool_is_closed(
    kafka_bootstrap_servers, monkeypatch
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers)
    closed: list[object] = []
    close = ProducerPool.close

    def recorded_close(pool: ProducerPool[object], timeout: float | None = None) -> None:
        closed.append(pool)
        close(pool, timeout)

    monkeypatch.setattr(ProducerPool, "close", recorded_close)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["demo", "--messages", "10", "--metrics-port", str(port)])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Error: cannot serve metrics on 127.0.0.1:{port}: Address already in use"
    )
    assert "Traceback" not in result.output
    assert len(closed) == 1  # the container's pool was shut down on the way out
