"""aiokafka integration for `AsyncProducerPool`: factory, zero-loss close, health check.

The asyncio counterpart of `producer_pool.kafka`, with the same contract: producers count
their delivery results into the pool's `DeliveryCounts`, a destroy drains for the
producer's own request timeout (close() cuts that short), and what it cannot deliver is
counted in `PoolCloseError`. Idempotence is off by default: the embedded tansu broker answers
aiokafka's InitProducerId with an error; set `enable_idempotence: true` (and use
transactions) against a real cluster.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import weakref
from collections.abc import Callable, Mapping
from typing import Any

try:
    from aiokafka import AIOKafkaProducer
    from aiokafka import errors as aiokafka_errors
except ImportError as exc:
    raise ImportError(
        f"producer_pool.aiokafka needs the 'aiokafka' extra ({exc.name} is missing): "
        "pip install 'producer-pool[aiokafka]'"
    ) from exc

from ..core.async_pool import AsyncProducerPool, settled
from ..core.clock import Deadline, drain_time, split_for_cleanup
from ..core.control import close_object
from ..core.stats import DeliveryCounts
from ..errors import BrokerUnavailable, ConfigError, PoolCloseError
from .redact import redact, reveal

__all__ = [
    "FATAL_PRODUCER_ERRORS",
    "PRIVATE_NAMES",
    "AIOKafkaProducerFactory",
    "CountingAIOKafkaProducer",
    "aiokafka_pool",
    "aiokafka_producer_factory",
    "aiokafka_producer_is_healthy",
    "close_aiokafka_producer",
    "is_fatal",
    "pool_for_factory",
]

logger = logging.getLogger("producer_pool")

DEFAULT_BOOTSTRAP_TIMEOUT_MS = 10_000
#: aiokafka's default `request_timeout_ms`, after which an undeliverable batch expires anyway.
DEFAULT_DRAIN_SECONDS = 40.0

#: Errors after which a producer must never be used again: the pool discards it.
FATAL_PRODUCER_ERRORS: tuple[type[BaseException], ...] = (
    aiokafka_errors.ProducerFenced,
    aiokafka_errors.InvalidProducerEpoch,
    aiokafka_errors.OutOfOrderSequenceNumber,
    aiokafka_errors.IllegalStateError,
    aiokafka_errors.TransactionalIdAuthorizationFailed,
    aiokafka_errors.ClusterAuthorizationFailedError,
    aiokafka_errors.UnsupportedVersionError,
)

_KNOWN_SETTINGS = frozenset(inspect.signature(AIOKafkaProducer.__init__).parameters) - {
    "self",
    "loop",
}


#: Each private attribute path read below, from an `AIOKafkaProducer` (aiokafka has no
#: public hook per batch and no purge); a test checks them against the installed release.
PRIVATE_NAMES = (
    "_closed",
    "_sender.sender_task",
    "_message_accumulator._append_batch",
    "_message_accumulator._batches",
    "_message_accumulator._pending_batches",
)


class CountingAIOKafkaProducer(AIOKafkaProducer):  # type: ignore[misc]
    """An `AIOKafkaProducer` that reports its delivery results to `DeliveryCounts` a batch at
    a time, and knows how many messages are still in flight.

    Counting per batch (one callback on the batch's own future) instead of per message
    keeps the pool within a few percent of a bare producer's msg/s; it also counts
    `send_batch()`, which bypasses `send()`.
    """

    def __init__(self, deliveries: DeliveryCounts, **settings: Any) -> None:
        self.deliveries = deliveries
        super().__init__(**settings)
        # The hook holds neither the producer nor its accumulator (which stores it): a
        # cycle would keep a closed producer alive until the next garbage collection.
        accumulator = weakref.ref(self._message_accumulator)
        append_batch = type(self._message_accumulator)._append_batch

        def counted_append_batch(builder: Any, tp: Any) -> Any:
            batch = append_batch(accumulator(), builder, tp)
            batch.future.add_done_callback(functools.partial(_count, deliveries, batch))
            return batch

        self._message_accumulator._append_batch = counted_append_batch

    @property
    def in_flight(self) -> int:
        """Messages accepted by `send()` whose batch has no result yet."""
        accumulator = self._message_accumulator
        queued = (batch for batches in accumulator._batches.values() for batch in batches)
        return sum(batch.record_count for batch in [*queued, *accumulator._pending_batches])


def _count(deliveries: DeliveryCounts, batch: Any, future: asyncio.Future[Any]) -> None:
    """A batch's result, counted for each of its messages."""
    if future.cancelled() or future.exception() is not None:
        deliveries.on_failed(count=batch.record_count)
    else:
        deliveries.on_delivered(count=batch.record_count)


class AIOKafkaProducerFactory:
    """Async zero-argument factory: builds an `AIOKafkaProducer` and awaits `start()` within
    `bootstrap_timeout_ms`, so a dead cluster is `BrokerUnavailable` instead of a hang."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        unknown = sorted(set(settings) - _KNOWN_SETTINGS - {"bootstrap_timeout_ms"})
        if unknown:
            raise ConfigError(f"unknown aiokafka producer setting(s): {', '.join(unknown)}")
        if not settings.get("bootstrap_servers"):
            raise ConfigError("bootstrap_servers is required")
        self.settings = {"enable_idempotence": False, **settings}
        timeout_ms = self.settings.pop("bootstrap_timeout_ms", DEFAULT_BOOTSTRAP_TIMEOUT_MS)
        self.bootstrap_timeout = timeout_ms / 1000
        self.drain_timeout = self.settings.get("request_timeout_ms", 40_000) / 1000
        self.deliveries = DeliveryCounts()

    @property
    def bootstrap_servers(self) -> str:
        servers = self.settings["bootstrap_servers"]
        return servers if isinstance(servers, str) else ",".join(servers)

    async def __call__(self) -> AIOKafkaProducer:
        producer = CountingAIOKafkaProducer(self.deliveries, **reveal(self.settings))
        try:
            await asyncio.wait_for(producer.start(), self.bootstrap_timeout)
        except (asyncio.TimeoutError, aiokafka_errors.KafkaError, OSError) as exc:
            await producer.stop()
            waited = f"{self.bootstrap_timeout * 1000:g} ms"
            cause = exc if str(exc) else "no answer"
            raise BrokerUnavailable.within(self.bootstrap_servers, waited, cause) from None
        except BaseException:  # cancelled: leave no connection behind
            await producer.stop()
            raise
        return producer

    async def destroy(self, producer: object, *, deadline: Deadline | None = None) -> None:
        """Drain for this factory's request timeout, or until the pool's close deadline."""
        await close_aiokafka_producer(producer, self.drain_timeout, deadline=deadline)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.settings)!r})"


def aiokafka_producer_factory(settings: Mapping[str, Any]) -> AIOKafkaProducerFactory:
    return AIOKafkaProducerFactory(settings)


async def close_aiokafka_producer(
    producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
) -> None:
    """Flush, then stop, within `timeout` (default: aiokafka's request timeout) or `deadline`;
    `PoolCloseError` with the count when messages stay undelivered.

    aiokafka's own `stop()` waits without a bound for batches it cannot deliver, so once
    the flush's share of the time is up, the pending batches are expired: aiokafka fails
    them itself (their futures and the pool's counts see it), and the stop that follows is
    bounded too.
    """
    if not isinstance(producer, AIOKafkaProducer):
        await settled(close_object(producer))
        return
    timeout = drain_time(timeout, DEFAULT_DRAIN_SECONDS, deadline)
    drain, stop_share = split_for_cleanup(timeout)
    try:
        await asyncio.wait_for(producer.flush(), drain)
    except asyncio.TimeoutError:
        undelivered = getattr(producer, "in_flight", 0)
        _expire_pending(producer)
        await _stop_within(producer, stop_share)
        logger.error(
            "aiokafka producer closed with %d undelivered message(s) after %gs",
            undelivered,
            timeout,
        )
        raise PoolCloseError(
            f"{undelivered} message(s) undelivered after {timeout:g}s", undelivered=undelivered
        ) from None
    await _stop_within(producer, stop_share)


def _expire_pending(producer: AIOKafkaProducer) -> None:
    """Make every queued batch expire now, so aiokafka's sender fails it at its next try
    (aiokafka has no public purge; failing the futures from outside races its retries)."""
    accumulator = getattr(producer, "_message_accumulator", None)
    queued = getattr(accumulator, "_batches", {})
    pending = getattr(accumulator, "_pending_batches", ())
    for batch in [*(b for batches in queued.values() for b in batches), *pending]:
        batch._ttl = -1.0


async def _stop_within(producer: AIOKafkaProducer, timeout: float) -> None:
    """`stop()`, bounded: a stop that hangs (a request to a silent broker) is abandoned and
    the connections closed, so nothing leaks."""
    try:
        await asyncio.wait_for(producer.stop(), timeout)
    except asyncio.TimeoutError:
        await producer.client.close()


def aiokafka_producer_is_healthy(producer: object) -> bool:
    """The pool's check on every reuse: not stopped, and its sender task still running (an
    object that is not an aiokafka producer passes). Attribute reads, not `isinstance` and
    `getattr` chains: this runs on every lease."""
    try:
        closed: bool = producer._closed  # type: ignore[attr-defined]
        sender_task = producer._sender.sender_task  # type: ignore[attr-defined]
    except AttributeError:
        return True
    return not closed and (sender_task is None or not sender_task.done())


def is_fatal(exc: BaseException, producer: object = None) -> bool:
    """An aiokafka error after which the producer is done for (fenced, say)."""
    return isinstance(exc, FATAL_PRODUCER_ERRORS)


def pool_for_factory(factory: Callable[[], Any], **pool_options: Any) -> AsyncProducerPool[Any]:
    """The aiokafka wiring around any factory (an `async def` int factory in tests too)."""
    pool_options.setdefault("destroy", getattr(factory, "destroy", close_aiokafka_producer))
    pool_options.setdefault("check", aiokafka_producer_is_healthy)
    pool_options.setdefault("discard_on", FATAL_PRODUCER_ERRORS)
    pool_options.setdefault("deliveries", getattr(factory, "deliveries", None))
    return AsyncProducerPool(factory, **pool_options)


def aiokafka_pool(settings: Mapping[str, Any], **pool_options: Any) -> AsyncProducerPool[Any]:
    """An `AsyncProducerPool` of aiokafka producers, wired for zero loss."""
    factory = AIOKafkaProducerFactory(settings)
    pool_options.setdefault("name", factory.bootstrap_servers)
    return pool_for_factory(factory, **pool_options)
