"""The `producer-pool` command: `demo`, `check`, `broker` (benchmarks: `make bench`, in a clone).

Output rules: results go to stdout (only JSON with `--json`), everything else to stderr;
an error is one line, the last; third-party logs stay quiet unless `-v`.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PoolError, missing_extra

try:
    import click
    from rich.console import Console
    from rich.logging import RichHandler
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table
except ImportError as exc:
    raise ImportError(missing_extra("the producer-pool command", "cli", exc)) from exc

from .. import __version__

if TYPE_CHECKING:
    from ..testing.broker import EmbeddedBroker

__all__ = ["main", "run"]

console = Console(soft_wrap=True)
status = Console(stderr=True, soft_wrap=True)

#: Loggers of the libraries underneath: quiet unless -v (their outage logs are many lines).
THIRD_PARTY = ("kafka", "aiokafka", "confluent_kafka", "dependency_injector")

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML settings (default: the client's shipped file, config/producer_pool.yaml for "
    "kafka-python).",
)
client_option = click.option(
    "--client",
    type=click.Choice(["kafka-python", "confluent", "confluent-aio", "aiokafka"]),
    default=None,
    help="The Kafka client (default: the config's kafka.client, else kafka-python); "
    "without --config, its shipped file.",
)


def run() -> None:
    """Console-script entry point: logs go to stderr, then the command runs."""
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(console=status, show_path=False, show_time=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    main()


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, "-V", "--version", prog_name="producer-pool")
@click.option("-v", "--verbose", count=True, help="-v: library warnings too; -vv: debug logs.")
@click.pass_context
def main(context: click.Context, verbose: int) -> None:
    """A correct, fast, observable pool of Kafka producers."""
    if context.invoked_subcommand is None:  # bare `producer-pool`: help, and success
        click.echo(context.get_help())
        context.exit(0)
    third_party = {0: logging.CRITICAL + 1, 1: logging.WARNING}.get(verbose, logging.DEBUG)
    levels = dict.fromkeys(THIRD_PARTY, third_party)
    levels["producer_pool"] = logging.DEBUG if verbose > 1 else logging.WARNING
    before = {name: logging.getLogger(name).level for name in levels}
    _set_levels(levels)
    # Leave no trace: a program (or test) that invokes the command in-process keeps its levels.
    context.call_on_close(lambda: _set_levels(before))


def _set_levels(levels: dict[str, int]) -> None:
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@main.command()
@click.option("--messages", default=100_000, show_default=True, type=click.IntRange(min=1))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 512))
@config_option
@client_option
@click.option("--json", "as_json", is_flag=True, help="Print only the figures, as JSON.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve the pool's Prometheus metrics at 127.0.0.1:PORT/metrics while it runs.",
)
def demo(
    messages: int,
    threads: int,
    config_path: Path | None,
    client: str | None,
    as_json: bool,
    metrics_port: int | None,
) -> None:
    """Publish MESSAGES keyed messages from THREADS threads (asyncio clients: tasks), read
    them back, count losses.

    Uses an embedded broker unless KAFKA_BOOTSTRAP_SERVERS is set. Ctrl-C stops publishing,
    flushes, reports, and exits 130.
    """
    from .demo import run_demo

    stop = threading.Event()
    stopped_by: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        """Publishing ends, the pool flushes and the report is printed."""
        stopped_by.append(signum)
        stop.set()

    columns = (TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        _handling_signals(on_signal),
        Progress(
            *columns, console=status, transient=True, disable=not status.is_terminal
        ) as progress,
    ):
        task = progress.add_task("publish", total=messages)
        report = _run(
            run_demo,
            as_json=as_json,
            messages=messages,
            threads=threads,
            config_path=config_path,
            client=client,
            stop=stop,
            metrics_port=metrics_port,
            on_progress=lambda n: progress.advance(task, n),
            on_start=lambda topic, servers, client, workers: status.print(
                f"publishing {messages:,} messages to {topic} on {servers} with {client} from "
                f"{threads} {workers}; Ctrl-C stops, flushes and reports"
            ),
        )
    if as_json:
        click.echo(json.dumps({k: v for k, v in report.as_dict().items() if k != "close_error"}))
    else:
        console.print(_report_table(report))
    if report.close_error:
        status.print(f"close: {report.close_error}", style="red")
    if stopped_by:  # interrupted: the report stands, the exit code says so (130 for Ctrl-C)
        raise SystemExit(128 + stopped_by[0])
    if not report.ok:
        raise SystemExit(1)


@contextmanager
def _handling_signals(
    handler: Callable[[int, object], None], *signums: signal.Signals
) -> Iterator[None]:
    """While a command runs, `handler` takes SIGINT and SIGTERM (and any `signums`); the
    previous handlers come back after, so that calling the command in-process (tests,
    `main()` from Python) leaves no handler behind."""
    previous = {
        signum: signal.signal(signum, handler)
        for signum in (signal.SIGINT, signal.SIGTERM, *signums)
    }
    try:
        yield
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)


def _report_table(report: Any) -> Table:
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
        table.add_row(f"pool.{name}", _figure(value))
    return table


def _figure(value: Any) -> str:
    """A stats value for the table; a duration summary as its percentiles."""
    if isinstance(value, dict):
        return (
            f"p50 {_seconds(value['p50'])}, p99 {_seconds(value['p99'])}, "
            f"max {_seconds(value['max'])} ({value['count']:,})"
        )
    return str(round(value, 4) if isinstance(value, float) else value)


def _seconds(value: float) -> str:
    return f"{value * 1e6:,.0f} µs" if value < 1e-3 else f"{value * 1e3:,.1f} ms"


@main.command()
@config_option
@client_option
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def check(config_path: Path | None, client: str | None, as_json: bool) -> None:
    """Validate the config and connect to its Kafka cluster; exit 0, or 1 with the reason."""
    from ..wiring.containers import check_config

    verdict = _run(check_config, config_path, client=client, as_json=as_json)
    if as_json:
        click.echo(json.dumps({"ok": True, **verdict}))
    else:
        click.echo(
            f"ok: {verdict['config']} is valid and Kafka at {verdict['servers']} answered "
            f"({verdict['client']})"
        )


BROKER_PORT = 9092
"""`producer-pool broker`'s default port, Kafka's own: every shipped config file looks there
when KAFKA_BOOTSTRAP_SERVERS is unset, so a service started beside it needs no setting."""


@main.command()
@click.option(
    "--port",
    default=BROKER_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Listen on 127.0.0.1:PORT; 0 picks a free port. The default is where the shipped "
    "config files look when KAFKA_BOOTSTRAP_SERVERS is unset.",
)
def broker(port: int) -> None:
    """Run a throwaway Kafka-protocol broker (tansu, in memory) on 127.0.0.1 until Ctrl-C,
    to try a service without a cluster.

    Prints the line that points a service at it. Ctrl-C, SIGTERM, closing the terminal or
    the end of the process that started it stops it (exit 0), and its topics go with it.
    """
    parent = os.getppid()  # first: the parent may die while the broker starts
    from ..testing.broker import BOOTSTRAP_ENV, EmbeddedBroker

    # A queue, not an Event: SimpleQueue.put is reentrant, so a signal handler may call it
    # wherever the main thread is; raising from the handler could land inside an import.
    signals: queue.SimpleQueue[int] = queue.SimpleQueue()
    with (
        _handling_signals(lambda signum, frame: signals.put(signum), signal.SIGHUP),
        _run(EmbeddedBroker(port=port).start) as running,
    ):
        click.echo(f"export {BOOTSTRAP_ENV}={running.bootstrap_servers}")
        status.print("a throwaway broker (tansu, in memory) runs here; Ctrl-C stops it")
        _wait_for_a_signal(signals, parent, running)


def _wait_for_a_signal(
    signals: queue.SimpleQueue[int], parent: int, broker: EmbeddedBroker
) -> None:
    """Until a signal is put on `signals`, or process `parent` (ours) dies: an orphan would
    hold the port with nobody left to stop it (a killed test runner, IDE or wrapper). A
    broker that dies on its own ends the command with one line and exit code 1: the
    services pointed at it would otherwise fail with no word of why."""
    while os.getppid() == parent:  # checked each second: what an orphan costs at most
        if not broker.running:
            last = broker.log.strip().splitlines()[-1:] or ["(nothing)"]
            raise click.ClickException(f"the broker (tansu) exited; its log ends: {last[0]}")
        try:
            signals.get(timeout=1.0)
            return
        except queue.Empty:
            continue


def _run(function: Any, *args: Any, as_json: bool = False, **kwargs: Any) -> Any:
    """Turn this library's errors into one line and exit code 1: on stderr, or with
    `as_json` as `{"ok": false, "error": ...}` on stdout (a script reads only stdout)."""
    try:
        return function(*args, **kwargs)
    except PoolError as exc:
        reason = str(exc).splitlines()[0]
        if as_json:
            click.echo(json.dumps({"ok": False, "error": reason}))
            raise SystemExit(1) from None
        raise click.ClickException(reason) from None
