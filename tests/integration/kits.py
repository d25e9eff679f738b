"""The fault suite's view of each client kit: one driver per kit, so that every zero-loss
and bounded-wait test is written once and runs against all of them.

A test talks to a `Driver` in plain calls. The threaded kits run them in the test's
thread; the asyncio kits run them on a loop of their own (`Portal`) in another thread,
where their pool lives as in a service: its destroys drain and its timers fire between
the test's steps, not only while the test awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from confluent_kafka import KafkaException

from producer_pool import PoolCloseError, PoolStats
from producer_pool.clients import async_pool, kit_class, pool, transaction
from producer_pool.testing.broker import BOOTSTRAP_ENV
from tests.fakes import ctrl_c

T = TypeVar("T")

#: Client timeouts of the suite: short, so that an outage test takes seconds.
REQUEST_TIMEOUT_MS = 1_000
TRANSACTION_TIMEOUT_MS = 3_000
RECONNECT_BACKOFF_MAX_MS = 200


class Portal:
    """An event loop running in its own thread, for the asyncio kits' pools."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="portal")
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_the_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class Delivery:
    """One message as its sender sees it, through the sender's own callback: pending,
    then ok or failed."""

    def __init__(self, key: bytes, producer: Any) -> None:
        self.key = key
        self.producer = producer  # confluent serves callbacks only when polled
        self.outcome = "pending"
        self.offset: int | None = None
        self.done = threading.Event()

    def ok(self, offset: int | None) -> None:
        self.outcome, self.offset = "ok", offset
        self.done.set()

    def failed(self, error: object = None) -> None:
        self.outcome = "failed"
        self.done.set()

    def __repr__(self) -> str:
        return f"<Delivery {self.key!r} {self.outcome}>"


@dataclass
class Driver:
    """A kit as the fault suite drives it; a subclass per kit says what differs."""

    name: str
    portal: Portal | None = None
    pools: list[Any] = field(default_factory=list)
    kits: dict[int, Any] = field(default_factory=dict)

    is_async = False
    #: Whether transactions work on the embedded broker (tansu), for this client.
    transactions_on_tansu = True

    def settings(self, servers: str, *, delivery_timeout_ms: int) -> dict[str, Any]:
        """Client settings with short timeouts: a message undeliverable for
        `delivery_timeout_ms` fails."""
        raise NotImplementedError

    # ------------------------------------------------------------------ pools

    def pool(
        self,
        servers: str,
        *,
        delivery_timeout_ms: int = 2_000,
        transactional: bool = False,
        prefix: str | None = None,
        settings: dict[str, Any] | None = None,
        **pool_options: Any,
    ) -> Any:
        """A pool of this kit, closed by `dispose()` at the end of the test."""
        options = {**self.settings(servers, delivery_timeout_ms=delivery_timeout_ms)}
        options.update(settings or {})
        kit = kit_class(self.name)(
            options, transactional=transactional, transactional_id_prefix=prefix
        )
        built = self._wire(kit, **pool_options)
        self.pools.append(built)
        self.kits[id(built)] = kit
        return built

    def _wire(self, kit: Any, **pool_options: Any) -> Any:
        return pool(kit, **pool_options)

    def dispose(self) -> None:
        """Close what the test left open."""
        for built in self.pools:
            with contextlib.suppress(Exception):
                self.close(built, 5)

    @contextlib.contextmanager
    def lease(self, the_pool: Any, timeout: float | None = None) -> Iterator[Any]:
        with the_pool.acquire(timeout) as producer:
            yield producer

    @contextlib.contextmanager
    def transaction(self, the_pool: Any) -> Iterator[Any]:
        with transaction(the_pool) as producer:
            yield producer

    def close(self, the_pool: Any, timeout: float | None = None) -> PoolCloseError | None:
        """Close; the `PoolCloseError` it raised, or None."""
        try:
            the_pool.close(timeout)
        except PoolCloseError as exc:
            return exc
        return None

    def close_cut_short(self, the_pool: Any, timeout: float, after: float) -> None:
        """Start `close(timeout)` and interrupt it after `after` seconds, as a Ctrl-C would
        (a task cancelled, for an asyncio pool)."""
        with ctrl_c() as press:
            timer = threading.Timer(after, press)
            timer.start()
            try:
                with pytest.raises(KeyboardInterrupt):
                    the_pool.close(timeout)
                    threading.Event().wait(after + 5)  # the interrupt must come while closing
            finally:
                timer.cancel()
                timer.join(30)

    def interrupted_in_commit(self, the_pool: Any, topic: str) -> tuple[Any, Delivery]:
        """Run a transaction that sends one message and is interrupted while its commit
        runs, by a Ctrl-C (a task cancelled, for an asyncio pool); return the producer it
        had and the message. confluent-kafka 2.16 surfaces a Ctrl-C inside
        `commit_transaction()` as a `SystemError`."""
        started = self._signal_commits(the_pool)
        with ctrl_c() as press:
            presser = threading.Thread(target=lambda: started.wait(30) and press())
            presser.start()
            with pytest.raises((KeyboardInterrupt, SystemError)):
                with self.transaction(the_pool) as producer:
                    delivery = self.send(producer, topic, "interrupted")
                threading.Event().wait(5)  # the interrupt must come while committing
            presser.join(30)
        return producer, delivery

    def _signal_commits(self, the_pool: Any) -> threading.Event:
        """An event set when a commit of this pool's kit starts."""
        kit = self.kits[id(the_pool)]
        started = threading.Event()
        commit = kit.commit

        def signalled(producer: Any) -> Any:
            started.set()
            return commit(producer)

        kit.commit = signalled
        return started

    def stats(self, the_pool: Any) -> PoolStats:
        stats: PoolStats = the_pool.stats()
        return stats

    # ------------------------------------------------------------------ messages

    def send(self, producer: Any, topic: str, key: str) -> Delivery:
        """Send one message; its `Delivery` is settled by the sender's own callback."""
        raise NotImplementedError

    def settle(self, deliveries: list[Delivery], timeout: float = 30) -> None:
        """Wait until each delivery is ok or failed."""
        deadline = time.monotonic() + timeout
        for delivery in deliveries:
            while not delivery.done.is_set():
                if time.monotonic() > deadline:
                    pending = [d for d in deliveries if not d.done.is_set()]
                    raise AssertionError(f"{len(pending)} deliveries still pending: {pending[:3]}")
                self._serve_callbacks(delivery.producer)
                delivery.done.wait(0.05)

    def _serve_callbacks(self, producer: Any) -> None:
        """What makes this client run its delivery callbacks (nothing: its own thread)."""

    def fence(self, servers: str, transactional_id: str) -> None:
        """Fence `transactional_id`: a second producer takes it over (bumps its epoch)."""
        from confluent_kafka import Producer

        zombie_killer = Producer(
            {"bootstrap.servers": servers, "transactional.id": transactional_id}
        )
        zombie_killer.init_transactions(10)
        zombie_killer.close()


class KafkaPythonDriver(Driver):
    def settings(self, servers: str, *, delivery_timeout_ms: int) -> dict[str, Any]:
        return {
            "bootstrap_servers": servers,
            "request_timeout_ms": REQUEST_TIMEOUT_MS,
            "delivery_timeout_ms": delivery_timeout_ms,
            "max_block_ms": 2_000,
            "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
            "transaction_timeout_ms": TRANSACTION_TIMEOUT_MS,
            "bootstrap_timeout_ms": 2_000,
        }

    def send(self, producer: Any, topic: str, key: str) -> Delivery:
        delivery = Delivery(key.encode(), producer)
        future = producer.send(topic, key=delivery.key, value=b"x")
        future.add_callback(lambda metadata: delivery.ok(_offset_of(metadata)))
        future.add_errback(delivery.failed)
        return delivery


class ConfluentDriver(Driver):
    def settings(self, servers: str, *, delivery_timeout_ms: int) -> dict[str, Any]:
        return {
            "bootstrap.servers": servers,
            "message.timeout.ms": delivery_timeout_ms,
            "request.timeout.ms": REQUEST_TIMEOUT_MS,
            "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
            "transaction.timeout.ms": max(delivery_timeout_ms, TRANSACTION_TIMEOUT_MS),
            "linger.ms": 5,
            "bootstrap_timeout_ms": 2_000,
        }

    def send(self, producer: Any, topic: str, key: str) -> Delivery:
        delivery = Delivery(key.encode(), producer)

        def on_delivery(error: Any, message: Any) -> None:  # the caller's own callback
            if error is None:
                delivery.ok(_offset_of(message))
            else:
                delivery.failed(error)

        producer.produce(topic, key=delivery.key, value=b"x", on_delivery=on_delivery)
        producer.poll(0)
        return delivery

    def _serve_callbacks(self, producer: Any) -> None:
        # closed (its callbacks have run), or a fenced one raising its fatal error
        with contextlib.suppress(RuntimeError, KafkaException):
            producer.poll(0.05)


class AsyncDriver(Driver):
    """The asyncio kits: every step runs on the portal's loop."""

    is_async = True

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        assert self.portal is not None
        return self.portal.run(coroutine, timeout)

    def pool(self, servers: str, **options: Any) -> Any:
        async def build() -> Any:  # on the loop: an asyncio pool binds to the first it sees
            return Driver.pool(self, servers, **options)

        return self._run(build())

    def _wire(self, kit: Any, **pool_options: Any) -> Any:
        return async_pool(kit, **pool_options)

    def dispose(self) -> None:
        super().dispose()
        assert self.portal is not None
        self.portal.close()

    @contextlib.contextmanager
    def lease(self, the_pool: Any, timeout: float | None = None) -> Iterator[Any]:
        yield from self._held(the_pool.acquire(timeout))

    @contextlib.contextmanager
    def transaction(self, the_pool: Any) -> Iterator[Any]:
        yield from self._held(transaction(the_pool))

    def _held(self, manager: Any) -> Iterator[Any]:
        """An async context manager, entered and exited on the loop."""
        producer = self._run(manager.__aenter__())
        try:
            yield producer
        except BaseException as exc:
            if not self._run(manager.__aexit__(type(exc), exc, exc.__traceback__)):
                raise
        else:
            self._run(manager.__aexit__(None, None, None))

    def close(self, the_pool: Any, timeout: float | None = None) -> PoolCloseError | None:
        async def close() -> PoolCloseError | None:
            try:
                await the_pool.close(timeout)
            except PoolCloseError as exc:
                return exc
            return None

        return self._run(close())

    def close_cut_short(self, the_pool: Any, timeout: float, after: float) -> None:
        async def cut_short() -> None:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(the_pool.close(timeout), after)

        self._run(cut_short())

    def interrupted_in_commit(self, the_pool: Any, topic: str) -> tuple[Any, Delivery]:
        started = self._signal_commits(the_pool)
        held: list[Any] = []

        async def one_transaction() -> None:
            async with transaction(the_pool) as producer:
                held.append(producer)
                held.append(await self._sent(producer, topic, "interrupted"))

        async def cancelled_in_commit() -> None:
            task = asyncio.ensure_future(one_transaction())
            await asyncio.to_thread(started.wait, 30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        self._run(cancelled_in_commit())
        return held[0], held[1]

    def send(self, producer: Any, topic: str, key: str) -> Delivery:
        return self._run(self._sent(producer, topic, key))

    async def _sent(self, producer: Any, topic: str, key: str) -> Delivery:
        delivery = Delivery(key.encode(), producer)
        future = await self._send(producer, topic, delivery.key)

        def settled(done: asyncio.Future[Any]) -> None:  # the caller's own callback
            if done.cancelled() or done.exception() is not None:
                delivery.failed()
            else:
                delivery.ok(_offset_of(done.result()))

        future.add_done_callback(settled)
        return delivery

    async def _send(self, producer: Any, topic: str, key: bytes) -> asyncio.Future[Any]:
        raise NotImplementedError


class ConfluentAIODriver(AsyncDriver):
    settings = ConfluentDriver.settings

    async def _send(self, producer: Any, topic: str, key: bytes) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = await producer.produce(topic, key=key, value=b"x")
        return future

    def _serve_callbacks(self, producer: Any) -> None:
        with contextlib.suppress(RuntimeError, KafkaException, SystemError):
            self._run(producer.poll(0.05))


class AIOKafkaDriver(AsyncDriver):
    #: tansu answers aiokafka's InitProducerId with an error: no idempotence, no transactions.
    transactions_on_tansu = False

    def settings(self, servers: str, *, delivery_timeout_ms: int) -> dict[str, Any]:
        # aiokafka expires a batch after request_timeout_ms: its delivery timeout.
        return {
            "bootstrap_servers": servers,
            "request_timeout_ms": delivery_timeout_ms,
            "retry_backoff_ms": 50,
            "linger_ms": 5,
            "bootstrap_timeout_ms": 2_000,
        }

    async def _send(self, producer: Any, topic: str, key: bytes) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = await producer.send(topic, key=key, value=b"x")
        return future


def _offset_of(metadata: Any) -> int | None:
    offset = getattr(metadata, "offset", None)
    return offset() if callable(offset) else offset


DRIVERS: dict[str, type[Driver]] = {
    "kafka-python": KafkaPythonDriver,
    "confluent": ConfluentDriver,
    "confluent-aio": ConfluentAIODriver,
    "aiokafka": AIOKafkaDriver,
}


def needs_transactions(driver: Driver) -> None:
    """Skip where the embedded broker cannot serve this client's transactions."""
    if not driver.transactions_on_tansu and not os.environ.get(BOOTSTRAP_ENV):
        pytest.skip(f"{driver.name}: tansu refuses its InitProducerId (run on a real cluster)")


# ---------------------------------------------------------------------- what every test proves


def assert_outage_accounted(
    closed: PoolCloseError | None,
    stats: PoolStats,
    deliveries: list[Delivery],
    stored: set[int] | None = None,
) -> None:
    """close() reported exactly the messages whose sender saw them fail, the pool counted
    every other one as delivered, and every acknowledged offset is `stored` in the topic
    (when the test could read it back)."""
    failed = sum(d.outcome == "failed" for d in deliveries)
    assert [d for d in deliveries if d.outcome == "pending"] == []
    assert (closed.undelivered if closed else 0) == failed == stats.delivery_errors
    assert stats.delivered == len(deliveries) - failed
    if stored is not None:
        assert {d.offset for d in deliveries if d.outcome == "ok"} <= stored


def assert_aborted_closed_by_markers(
    view: dict[bytes, int], before: bytes, aborted: list[bytes], after: bytes
) -> None:
    """`view` maps each key a read_committed reader got to its offset.

    A real Kafka hides the aborted records. tansu's Fetch reply has no aborted-transactions
    list, so read_committed cannot hide them there: check the markers instead. Each
    transaction ends with a control record, which takes an offset no data record uses.
    """
    assert before in view and after in view
    if os.environ.get(BOOTSTRAP_ENV):
        assert not set(aborted) & set(view)
    else:
        assert view[aborted[0]] == view[before] + 2  # COMMIT marker between
        assert view[after] == view[aborted[-1]] + 2  # ABORT marker between


def timed(work: Callable[[], T]) -> tuple[T, float]:
    """`work()`'s result and how many seconds it took."""
    started = time.monotonic()
    result = work()
    return result, time.monotonic() - started
