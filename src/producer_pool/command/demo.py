"""The end-to-end demo: publish N keyed messages from T threads, flush, read back, count.

Used by `producer-pool demo` and its tests; it proves zero loss on a real broker.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PoolCloseError, PoolError
from ..testing.broker import EmbeddedBroker
from ..testing.topics import create_topic, read_topic
from ..wiring.containers import create_container

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
        return self.lost == 0 and self.duplicates == 0 and self.close_error is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_demo(
    *,
    messages: int = 100_000,
    threads: int = 8,
    config_path: str | Path | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_start: Callable[[str, str], None] | None = None,
    metrics_port: int | None = None,
) -> DemoReport:
    """Publish through the container's publisher; `stop` ends publishing early, cleanly.
    With `metrics_port`, the pool's Prometheus metrics are served on 127.0.0.1 meanwhile."""
    stop = stop or threading.Event()
    with ExitStack() as stack:
        broker = stack.enter_context(EmbeddedBroker())
        topic = f"demo-{uuid.uuid4().hex[:12]}"
        create_topic(broker.bootstrap_servers, topic)
        container = create_container(
            config_path,
            overrides={
                "kafka": {"bootstrap_servers": broker.bootstrap_servers},
                "publisher": {"topic": topic},
            },
        )
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
                if stop.is_set():
                    break
                key = f"{worker}-{n}".encode()
                mine.append((key, publisher.publish({"worker": worker, "n": n}, key=key)))
                if n % 500 == 499 and on_progress is not None:
                    on_progress(500)
            if on_progress is not None:
                on_progress(len(mine) % 500)
            with lock:
                futures.extend(mine)

        shares = [
            messages // threads + (1 if i < messages % threads else 0) for i in range(threads)
        ]
        if on_start is not None:
            on_start(topic, broker.bootstrap_servers)
        started = time.perf_counter()
        workers = [threading.Thread(target=publish, args=(i, n)) for i, n in enumerate(shares)]
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

        acked_keys = {key for key, future in futures if future.is_done and future.succeeded()}
        keys = [record.key for record in read_topic(broker.bootstrap_servers, topic)]
        return DemoReport(
            topic=topic,
            sent=len(futures),
            acked=len(acked_keys),
            read_back=len(keys),
            lost=len(acked_keys - set(keys)),
            duplicates=len(keys) - len(set(keys)),
            seconds=round(seconds, 3),
            pool=pool.stats().as_dict(),
            close_error=close_error,
        )


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
