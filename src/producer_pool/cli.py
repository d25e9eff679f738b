"""The `producer-pool` command: `demo` and `check` (benchmarks: `make bench`, in a checkout)."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import PoolError

console = Console()
status = Console(stderr=True)

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML settings (default: the shipped config/producer_pool.yaml).",
)


def run() -> None:
    """Console-script entry point: logging goes to stderr, then the command runs."""
    logging.basicConfig(
        level=logging.WARNING, handlers=[RichHandler(console=status, show_path=False)]
    )
    main()


@click.group()
def main() -> None:
    """A correct, fast, observable pool of Kafka producers."""


@main.command()
@click.option("--messages", default=100_000, show_default=True, type=click.IntRange(min=1))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 512))
@config_option
@click.option("--json", "as_json", is_flag=True, help="Also print the figures as JSON, last.")
def demo(messages: int, threads: int, config_path: Path | None, as_json: bool) -> None:
    """Publish MESSAGES keyed messages from THREADS threads, read them back, count losses.

    Uses an embedded broker unless KAFKA_BOOTSTRAP_SERVERS is set. Ctrl-C stops publishing,
    flushes, and still reports.
    """
    from .demo import run_demo

    stop = threading.Event()
    stopped_by: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        stopped_by.append(signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    columns = (TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=status, transient=True) as progress:
        task = progress.add_task("publish", total=messages)
        report = _run(
            run_demo,
            messages=messages,
            threads=threads,
            config_path=config_path,
            stop=stop,
            on_progress=lambda n: progress.advance(task, n),
            on_start=lambda topic, servers: status.print(
                f"publishing {messages:,} messages to {topic} on {servers} from {threads} "
                "threads; Ctrl-C stops, flushes and reports"
            ),
        )
    table = Table(title=f"demo on topic {report.topic}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in (
        ("sent", report.sent),
        ("acknowledged", report.acked),
        ("read back", report.read_back),
        ("lost", report.lost),
        ("duplicates", report.duplicates),
        ("msg/s", f"{report.messages_per_second:,.0f}"),
        ("seconds", report.seconds),
    ):
        table.add_row(name, str(value))
    for name, value in report.pool.items():
        table.add_row(f"pool.{name}", str(round(value, 4) if isinstance(value, float) else value))
    console.print(table)
    if report.close_error:
        status.print(f"[red]close: {report.close_error}")
    if as_json:
        figures = {k: v for k, v in report.as_dict().items() if k != "close_error"}
        click.echo(json.dumps(figures))
    if stopped_by:  # interrupted: the report stands, the exit code says so (130 for Ctrl-C)
        raise SystemExit(128 + stopped_by[0])
    if not report.ok:
        raise SystemExit(1)


@main.command()
@config_option
def check(config_path: Path | None) -> None:
    """Validate the config and connect to its Kafka cluster; exit 0, or 1 with the reason."""
    from .containers import create_container
    from .kafka import close_producer

    container = _run(create_container, config_path)
    settings = container.settings()
    producer = _run(container.producer_factory())
    close_producer(producer, timeout=5)
    click.echo(
        f"ok: {container.config_source()} is valid and Kafka at "
        f"{settings.kafka.bootstrap_servers} answered"
    )


def _run(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Turn this library's errors into one line on stderr and exit code 1."""
    try:
        return function(*args, **kwargs)
    except PoolError as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
