"""The aiokafka kit: `AIOKafkaProducer`s for an `AsyncProducerPool`.

`AIOKafkaKit(settings)` takes aiokafka's own option names (plus `bootstrap_timeout_ms`);
`async_pool(kit)` wires it. Idempotence is off by default: the embedded tansu broker
answers aiokafka's InitProducerId with an error; set `enable_idempotence: true` (and use
transactions) against a real cluster. 0.1's names (`aiokafka_pool`,
`close_aiokafka_producer`, ...) remain as aliases.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ConfigError, PoolCloseError, TransactionTimeout, missing_extra

try:
    from aiokafka import AIOKafkaProducer
    from aiokafka import errors as aiokafka_errors
except ImportError as exc:
    raise ImportError(missing_extra("producer_pool.clients.aiokafka", "aiokafka", exc)) from exc

from ..core.async_pool import AsyncProducerPool
from ..core.calls import close_object, settled
from ..core.clock import Deadline
from ..core.options import PoolKwargs
from ..core.stats import DeliveryCounts
from ._base import DrainClock, KitBase, is_broken
from .kit import Header
from .pools import async_pool, kit_defaults
from .redact import reveal
from .transactions import transaction

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "FATAL_ERRORS",
    "FATAL_PRODUCER_ERRORS",
    "PRIVATE_NAMES",
    "AIOKafkaKit",
    "AIOKafkaProducerFactory",
    "CountingAIOKafkaProducer",
    "aiokafka_pool",
    "aiokafka_producer_factory",
    "aiokafka_producer_is_healthy",
    "close",
    "close_aiokafka_producer",
    "in_flight",
    "is_fatal",
    "is_healthy",
    "pool_for_factory",
    "send",
    "transaction",
]

logger = logging.getLogger("producer_pool")

#: aiokafka's default `request_timeout_ms`, after which an undeliverable batch expires anyway.
DEFAULT_DRAIN_SECONDS = 40.0

FATAL_ERRORS: tuple[type[BaseException], ...] = (
    aiokafka_errors.ProducerFenced,
    aiokafka_errors.InvalidProducerEpoch,
    aiokafka_errors.OutOfOrderSequenceNumber,
    aiokafka_errors.IllegalStateError,
    aiokafka_errors.TransactionalIdAuthorizationFailed,
    aiokafka_errors.ClusterAuthorizationFailedError,
    aiokafka_errors.UnsupportedVersionError,
    TransactionTimeout,
)
"""Errors after which a producer must never be used again: the pool discards it."""

_KNOWN_SETTINGS = frozenset(inspect.signature(AIOKafkaProducer.__init__).parameters) - {
    "self",
    "loop",
}
_TRANSACTION_TIMEOUT_MS = (
    inspect.signature(AIOKafkaProducer.__init__).parameters["transaction_timeout_ms"].default
)
#: Why a message its producer's ended event loop left without a result failed.
_LOOP_ENDED = aiokafka_errors.KafkaTimeoutError("its event loop ended before delivery")
#: aiokafka's errors of a cluster that did not answer a new producer in time.
_UNREACHABLE = (asyncio.TimeoutError, aiokafka_errors.KafkaError, OSError)
#: A stop gets at least this long, even past close's deadline: without it, nothing is closed.
_MIN_STOP = 0.1


PRIVATE_NAMES = (
    "_closed",
    "_loop",
    "_sender.sender_task",
    "_message_accumulator._append_batch",
    "_message_accumulator._batches",
    "_message_accumulator._pending_batches",
)
"""Each private attribute path read below, from an `AIOKafkaProducer` (aiokafka has no public
hook per batch and no purge); a test checks them against the installed release."""


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
        return in_flight(self)


def _count(deliveries: DeliveryCounts, batch: Any, future: asyncio.Future[Any]) -> None:
    """A batch's result, counted for each of its messages."""
    if future.cancelled() or future.exception() is not None:
        deliveries.on_failed(count=batch.record_count)
    else:
        deliveries.on_delivered(count=batch.record_count)


async def close(
    producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
) -> None:
    """Flush, then stop, within `timeout` (default: aiokafka's request timeout) or
    `deadline`, which close() may bring forward while the flush runs (it is looked at
    again every slice); `PoolCloseError` with the count when messages stay undelivered.

    aiokafka's own `stop()` waits without a bound for batches it cannot deliver, so once
    the drain's time is up, the pending batches are expired: aiokafka fails them itself
    (their futures and the pool's counts see it), and the stop that follows is bounded
    too. A batch still pending after the stop (its sender gone) is failed here; so is
    every one when the destroy is cancelled (close() past its deadline), and when the
    producer's event loop has ended (the pool closed from a later `asyncio.run()`).
    """
    if not isinstance(producer, AIOKafkaProducer):
        await settled(close_object(producer))
        return
    if producer._loop.is_closed():
        undelivered = _fail_without_its_loop(producer)
    else:
        undelivered = await _drain_and_stop(
            producer, DrainClock(DEFAULT_DRAIN_SECONDS if timeout is None else timeout, deadline)
        )
    if undelivered:
        logger.error("aiokafka producer closed with %d undelivered message(s)", undelivered)
        raise PoolCloseError(f"{undelivered} message(s) undelivered", undelivered=undelivered)


async def _drain_and_stop(producer: AIOKafkaProducer, drain: DrainClock) -> int:
    """Flush within the drain, then stop; how many messages were left undelivered."""
    flushed = asyncio.ensure_future(producer.flush())
    undelivered = 0
    try:
        while not flushed.done() and (seconds := drain.next_slice()):
            await asyncio.wait([flushed], timeout=seconds)
    finally:
        if not flushed.done():
            flushed.cancel()
            undelivered = in_flight(producer)
            _expire_pending(producer)
        # shielded: a cancelled destroy still fails (and counts) what it leaves
        await asyncio.shield(_stop(producer, drain.remaining()))
    return undelivered


def _fail_without_its_loop(producer: AIOKafkaProducer) -> int:
    """A producer whose event loop has ended (the pool is closed from a later
    `asyncio.run()`): its sender ran on that loop, so nothing it still holds can be sent,
    and nothing of it can be stopped (aiokafka, too, leaves the connections of an ended loop
    to the garbage collector). Each message still without a result is failed and counted
    (its future's callbacks, which need the ended loop, cannot run); how many."""
    undelivered = 0
    for batch in _unfinished(producer):
        undelivered += batch.record_count
        with contextlib.suppress(RuntimeError):  # set, then "Event loop is closed"
            batch.future.set_exception(_LOOP_ENDED)
    if isinstance(producer, CountingAIOKafkaProducer) and undelivered:
        producer.deliveries.on_failed(count=undelivered)
    return undelivered


def in_flight(producer: AIOKafkaProducer) -> int:
    """Messages accepted by `send()` whose batch has no result yet."""
    return sum(batch.record_count for batch in _unfinished(producer))


def _unfinished(producer: AIOKafkaProducer) -> list[Any]:
    accumulator = getattr(producer, "_message_accumulator", None)
    queued = getattr(accumulator, "_batches", {})
    pending = getattr(accumulator, "_pending_batches", ())
    batches = [*(b for batches in queued.values() for b in batches), *pending]
    return [batch for batch in batches if not batch.future.done()]


def _expire_pending(producer: AIOKafkaProducer) -> None:
    """Make every queued batch expire now, so aiokafka's sender fails it at its next try
    (aiokafka has no public purge; failing the futures from outside races its retries)."""
    for batch in _unfinished(producer):
        batch._ttl = -1.0


async def _stop(producer: AIOKafkaProducer, timeout: float) -> None:
    """`stop()`, bounded: a stop that hangs (a request to a silent broker) is abandoned,
    its sender stopped and its connections closed, so nothing leaks. Then no sender is
    left to race: a batch still without a result is failed here."""
    try:
        await asyncio.wait_for(producer.stop(), max(timeout, _MIN_STOP))
    except asyncio.TimeoutError:
        sender_task = producer._sender.sender_task
        if sender_task is not None:
            sender_task.cancel()
            await asyncio.gather(sender_task, return_exceptions=True)
        await producer.client.close()
    for batch in _unfinished(producer):
        batch.failure(aiokafka_errors.KafkaTimeoutError("the producer closed before delivery"))


def is_healthy(producer: object) -> bool:
    """The pool's check on every reuse: not stopped, its sender task still running, not
    marked broken (an object that is not an aiokafka producer passes). Attribute reads,
    not `isinstance` and `getattr` chains: this runs on every lease."""
    try:
        closed: bool = producer._closed  # type: ignore[attr-defined]
        sender_task = producer._sender.sender_task  # type: ignore[attr-defined]
    except AttributeError:
        return True
    return (
        not closed and (sender_task is None or not sender_task.done()) and not is_broken(producer)
    )


def is_fatal(exc: BaseException, producer: object = None) -> bool:
    """An aiokafka error after which the producer is done for (fenced, say)."""
    return isinstance(exc, FATAL_ERRORS) or (producer is not None and is_broken(producer))


async def send(
    producer: Any,
    topic: str,
    value: bytes | None,
    key: bytes | None = None,
    headers: Sequence[Header] = (),
) -> asyncio.Future[Any]:
    """aiokafka's way (any producer of its shape): `send` queues the message and returns
    the future of its acknowledgement."""
    delivery: asyncio.Future[Any] = await producer.send(
        topic, value=value, key=key, headers=list(headers)
    )
    return delivery


class AIOKafkaKit(KitBase):
    """aiokafka's kit: `async_pool(AIOKafkaKit(settings))` is a pool of `AIOKafkaProducer`s,
    each started (connected, bootstrapped) within the bootstrap timeout, so a dead cluster
    is `BrokerUnavailable` instead of a hang."""

    name: ClassVar[str] = "aiokafka"
    settings_model: ClassVar[str | None] = (
        "producer_pool.clients.settings.aiokafka:AIOKafkaSettings"
    )
    is_async: ClassVar[bool] = True

    def _client_options(self, options: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - _KNOWN_SETTINGS)
        if unknown:
            raise ConfigError(f"unknown aiokafka producer setting(s): {', '.join(unknown)}")
        if self.transactional:
            return {**options, "enable_idempotence": True}
        return {"enable_idempotence": False, **options}

    @property
    def drain_timeout(self) -> float:
        """How long a retired producer may drain: its own request timeout, after which
        aiokafka expires an undeliverable batch anyway."""
        return float(self.options.get("request_timeout_ms", DEFAULT_DRAIN_SECONDS * 1000)) / 1000

    @property
    def transaction_timeout(self) -> float:
        return float(self.options.get("transaction_timeout_ms", _TRANSACTION_TIMEOUT_MS)) / 1000

    async def __call__(self) -> AIOKafkaProducer:
        if not self.transactional:
            return await self._create(None)
        return await self._transactional_ids().acreate(self._create)

    async def _create(self, transactional_id: str | None) -> AIOKafkaProducer:
        options = reveal(self.options)
        if transactional_id is not None:
            options["transactional_id"] = transactional_id
        producer = CountingAIOKafkaProducer(self.deliveries, **options)
        start = asyncio.wait_for(producer.start(), self.bootstrap_timeout)
        await self._started(start, producer.stop, _UNREACHABLE)
        return producer

    async def begin(self, producer: AIOKafkaProducer) -> None:
        await self._aend(producer, producer.begin_transaction(), "begin")

    async def commit(self, producer: AIOKafkaProducer) -> None:
        await self._aend(producer, producer.commit_transaction(), "commit")

    async def abort(self, producer: AIOKafkaProducer) -> None:
        await self._aend(producer, producer.abort_transaction(), "abort")


# ---------------------------------------------------------------------- 0.1's names

FATAL_PRODUCER_ERRORS = FATAL_ERRORS
"""0.1's name for `FATAL_ERRORS`."""
AIOKafkaProducerFactory = AIOKafkaKit
"""0.1's name for `AIOKafkaKit`."""
close_aiokafka_producer = close
"""0.1's name for `close`."""
aiokafka_producer_is_healthy = is_healthy
"""0.1's name for `is_healthy`."""


def aiokafka_producer_factory(settings: Mapping[str, Any]) -> AIOKafkaKit:
    """0.1's spelling of `AIOKafkaKit(settings)`."""
    return AIOKafkaKit(settings)


def pool_for_factory(
    factory: Callable[[], Any], **pool_options: Unpack[PoolKwargs]
) -> AsyncProducerPool[Any]:
    """A pool around a kit, or around any factory (an `async def` int factory in tests)
    with this module's destroy, check and fatal errors."""
    if isinstance(factory, KitBase):
        return async_pool(factory, **pool_options)
    return AsyncProducerPool(factory, **kit_defaults(AIOKafkaKit, factory, dict(pool_options)))


def aiokafka_pool(
    settings: Mapping[str, Any], **pool_options: Unpack[PoolKwargs]
) -> AsyncProducerPool[Any]:
    """`async_pool(AIOKafkaKit(settings), **pool_options)`."""
    return async_pool(AIOKafkaKit(settings), **pool_options)
