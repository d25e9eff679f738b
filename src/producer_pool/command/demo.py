"""The end-to-end demo: publish N keyed messages from T threads, flush, read back, count.

Used by `producer-pool demo` and its tests; it proves zero loss on a real broker.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..clients.kit import KITS, settings_model
from ..errors import PoolCloseError, PoolError
from ..testing.broker import EmbeddedBroker
from ..testing.topics import create_topic, read_topic
from ..wiring.config_file import load_config
from ..wiring.containers import client_container, shipped_config
from ..wiring.settings import DEFAULT_CLIENT

__all__ = ["DemoReport", "run_demo"]


@dataclass
class DemoReport:
    """What happened, in the figures the README promises: nothing lost, nothing doubled."""

    topic: str
    sent: int
    acked: int
    read_back: int
    lost: int
    duplicates: int
    seconds: float
    pool: dict[str, Any] = field(default_factory=dict)
    close_error: str | None = None

    @property
    def messages_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        """Every message sent was acknowledged and read back once, and close was clean."""
        return (
            self.acked == self.sent
            and self.lost == 0
            and self.duplicates == 0
            and self.close_error is None
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_demo(
    *,
    messages: int = 100_000,
    threads: int = 8,
    config_path: str | Path | None = None,
    client: str | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_start: Callable[[str, str, str, str], None] | None = None,
    metrics_port: int | None = None,
) -> DemoReport:
    """Publish through the container's publisher; `stop` ends publishing early, cleanly.
    Any client: threads publish for a threaded one, as many tasks for an asyncio one.
    With `metrics_port`, the pool's Prometheus metrics are served on 127.0.0.1 meanwhile.
    `on_start(topic, servers, client, "threads" or "tasks")` is told when it starts."""
    stop = stop or threading.Event()
    with ExitStack() as stack:
        broker = stack.enter_context(EmbeddedBroker())
        topic = f"demo-{uuid.uuid4().hex[:12]}"
        create_topic(broker.bootstrap_servers, topic)
        container = client_container(
            config_path,
            client=client,
            overrides={
                "kafka": {_servers_key(config_path, client): broker.bootstrap_servers},
                "publisher": {"topic": topic},
            },
        )
        is_async = hasattr(container, "async_pool")

        def starting() -> None:  # once the metrics (if any) are served
            if on_start is not None:
                kind = "tasks" if is_async else "threads"
                on_start(topic, broker.bootstrap_servers, container.settings().kafka.client, kind)

        run = _Run(messages, threads, stop, on_progress, starting)
        if is_async:
            outcome = asyncio.run(_publish_from_tasks(container, run, stack, metrics_port))
        else:
            outcome = _publish_from_threads(container, run, stack, metrics_port)
        keys = [record.key for record in read_topic(broker.bootstrap_servers, topic)]
        return DemoReport(
            topic=topic,
            sent=outcome.sent,
            acked=len(outcome.acked),
            read_back=len(keys),
            lost=len(outcome.acked - set(keys)),
            duplicates=len(keys) - len(set(keys)),
            seconds=round(outcome.seconds, 3),
            pool=outcome.stats,
            close_error=outcome.close_error,
        )


@dataclass
class _Run:
    """What to publish: `messages` keyed `worker-n`, shared out between `workers`."""

    messages: int
    workers: int
    stop: threading.Event
    on_progress: Callable[[int], None] | None
    starting: Callable[[], None]

    def shares(self) -> list[int]:
        whole, extra = divmod(self.messages, self.workers)
        return [whole + (1 if i < extra else 0) for i in range(self.workers)]

    def progressed(self, count: int) -> None:
        if self.on_progress is not None and count:
            self.on_progress(count)


@dataclass
class _Outcome:
    sent: int
    acked: set[bytes]
    seconds: float
    stats: dict[str, Any]
    close_error: str | None


#: Messages between progress reports (and, for tasks, sent together under one wait).
_BATCH = 500


def _publish_from_threads(
    container: Any, run: _Run, stack: ExitStack, metrics_port: int | None
) -> _Outcome:
    publisher = container.publisher()
    pool = container.pool()
    stack.callback(container.shutdown_resources)  # on any way out; a second call is a no-op
    if metrics_port is not None:
        stack.enter_context(_serving_metrics(container.prometheus_collector(), metrics_port))
    futures: list[tuple[bytes, Any]] = []
    lock = threading.Lock()

    def publish(worker: int, count: int) -> None:
        mine: list[tuple[bytes, Any]] = []
        for n in range(count):
            if run.stop.is_set():
                break
            key = f"{worker}-{n}".encode()
            mine.append((key, publisher.publish({"worker": worker, "n": n}, key=key)))
            if n % _BATCH == _BATCH - 1:
                run.progressed(_BATCH)
        run.progressed(len(mine) % _BATCH)
        with lock:
            futures.extend(mine)

    run.starting()
    started = time.perf_counter()
    workers = [threading.Thread(target=publish, args=(i, n)) for i, n in enumerate(run.shares())]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    close_error = None
    try:
        container.shutdown_resources()  # closes the pool: every producer is flushed
    except PoolCloseError as exc:
        close_error = str(exc)
    seconds = time.perf_counter() - started
    acked = {key for key, future in futures if _delivered(future)}
    return _Outcome(len(futures), acked, seconds, pool.stats().as_dict(), close_error)


def _delivered(future: Any) -> bool:
    """A delivery future succeeded: kafka-python's, or a `concurrent.futures.Future`."""
    if isinstance(future, Future):
        return future.done() and not future.cancelled() and future.exception() is None
    return bool(future.is_done and future.succeeded())


async def _publish_from_tasks(
    container: Any, run: _Run, stack: ExitStack, metrics_port: int | None
) -> _Outcome:
    await container.init_resources()
    publisher = await container.async_publisher()
    pool = await container.async_pool()
    acked: set[bytes] = set()
    sent = 0
    close_error = None
    try:
        if metrics_port is not None:
            stack.enter_context(_serving_metrics(container.prometheus_collector(), metrics_port))

        async def publish(worker: int, count: int) -> None:
            nonlocal sent
            for first in range(0, count, _BATCH):
                if run.stop.is_set():
                    return
                keys = [f"{worker}-{n}".encode() for n in range(first, min(first + _BATCH, count))]
                sends = [
                    publisher.publish({"worker": worker, "n": first + i}, key=key)
                    for i, key in enumerate(keys)
                ]
                results = await asyncio.gather(*sends, return_exceptions=True)
                sent += len(keys)
                acked.update(
                    k for k, r in zip(keys, results, strict=True) if not isinstance(r, Exception)
                )
                run.progressed(len(keys))

        run.starting()
        started = time.perf_counter()
        await asyncio.gather(*(publish(i, n) for i, n in enumerate(run.shares())))
    finally:
        try:
            await container.shutdown_resources()  # closes the pool: every producer is flushed
        except PoolCloseError as exc:
            close_error = str(exc)
    seconds = time.perf_counter() - started
    return _Outcome(sent, acked, seconds, pool.stats().as_dict(), close_error)


def _servers_key(config_path: str | Path | None, client: str | None) -> str:
    """The file's own spelling of the bootstrap servers option (`bootstrap.servers` in a
    librdkafka file), so that the demo's address replaces it instead of doubling it."""
    path = shipped_config(client or DEFAULT_CLIENT) if config_path is None else config_path
    kafka = load_config(path).get("kafka")
    if isinstance(kafka, dict):
        named = client or kafka.get("client", DEFAULT_CLIENT)
        spellings = settings_model(named).spellings() if named in KITS else {}
        for key in kafka:
            if spellings.get(key) == "bootstrap_servers":
                return str(key)
    return "bootstrap_servers"


@contextmanager
def _serving_metrics(collector: Any, port: int) -> Iterator[None]:
    """Serve `collector` at http://127.0.0.1:`port`/metrics until the block ends."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    registry.register(collector)
    try:
        server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as exc:
        raise PoolError(f"cannot serve metrics on 127.0.0.1:{port}: {exc.strerror}") from None
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
