"""The confluent-aio kit: confluent-kafka's `AIOProducer` for an `AsyncProducerPool`.

The same contract as the `confluent` kit (its settings, its bounded start, its fatal
errors), with coroutines. `AIOProducer.produce()` returns a future per message; the
pool counts each one's result.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..core.async_pool import AsyncProducerPool
from ..core.calls import close_object, settled
from ..core.clock import Deadline
from ..core.options import PoolKwargs
from ._base import DrainClock
from ._librdkafka import (
    DEFAULT_MESSAGE_TIMEOUT_MS,
    FATAL_ERRORS,
    AIOProducer,
    ConfluentKitBase,
    KafkaException,
    is_fatal,
    is_healthy,
    report_undelivered,
    with_bootstrap_timeout,
)
from .kit import Header
from .pools import async_pool

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "FATAL_ERRORS",
    "ConfluentAIOKit",
    "CountingAIOProducer",
    "close",
    "close_aio_producer",
    "confluent_async_pool",
    "is_fatal",
    "is_healthy",
    "send",
]

#: Why a delivery its producer's ended event loop left without a result is counted failed.
_LOOP_ENDED = KafkaException("its event loop ended before delivery")

#: How long AIOProducer buffers a message before handing it to librdkafka (its default is
#: 1 s, a second of latency for every lone message a request publishes).
_AIO_BUFFER_TIMEOUT = 0.005


class CountingAIOProducer(AIOProducer):
    """An `AIOProducer` that reports each message's delivery result (from the future
    `produce()` returns) to its kit.

    The caller gets a shield of that future: a caller that cancels it (a request cut
    short while awaiting its ack) would otherwise cancel AIOProducer's own future, whose
    result is then dropped, and a delivered message would be counted as undelivered.

    Each future stays known until it has a result: AIOProducer leaves some without one
    for good (a message whose commit failed on a fence, or was cancelled), and the close
    fails those (`fail_unsettled`), so that every caller hears and every one is counted.
    """

    def __init__(self, count: Callable[[object], None], config: dict[str, Any]) -> None:
        """`count(error)` gets None for a delivered message."""
        self._count_delivery = count
        self._unsettled: set[asyncio.Future[Any]] = set()
        super().__init__(config, buffer_timeout=_AIO_BUFFER_TIMEOUT)

    async def produce(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        delivery: asyncio.Future[Any] = await super().produce(*args, **kwargs)
        self._unsettled.add(delivery)
        delivery.add_done_callback(self._counted)
        return asyncio.shield(delivery)

    def _counted(self, future: asyncio.Future[Any]) -> None:
        self._unsettled.discard(future)
        failed = future.cancelled() or future.exception() is not None
        self._count_delivery(future if failed else None)

    def count_unsettled(self) -> int:
        """Count every delivery whose done-callbacks never ran (its event loop ended): one
        with a result as such, one without as failed; how many were not delivered."""
        undelivered = 0
        for future in self._unsettled:
            delivered = future.done() and not future.cancelled() and future.exception() is None
            undelivered += not delivered
            self._count_delivery(None if delivered else _LOOP_ENDED)
        self._unsettled.clear()
        return undelivered

    def fail_unsettled(self) -> int:
        """Fail every delivery still without a result (the producer is closed); how many."""
        unsettled = [future for future in self._unsettled if not future.done()]
        for future in unsettled:
            future.set_exception(KafkaException("the producer closed before delivery"))
        return len(unsettled)


async def close(
    producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
) -> None:
    """The sync kit's `close` for an `AIOProducer`: drain within the time left, looking at
    `deadline` again every slice; purge what is left (failing its futures); close, bounded
    too; `PoolCloseError` with the count. A task cancelled meanwhile (close() past its
    deadline) still purges and closes before it stops."""
    if not isinstance(producer, AIOProducer):
        await settled(close_object(producer))
        return
    drain = DrainClock(DEFAULT_MESSAGE_TIMEOUT_MS / 1000 if timeout is None else timeout, deadline)
    if producer._loop.is_closed():
        report_undelivered(await asyncio.to_thread(_close_without_its_loop, producer, drain))
        return
    undelivered = len(producer)
    try:
        while undelivered and (seconds := drain.next_slice()):
            undelivered = await producer.flush(seconds)
    except (KafkaException, SystemError):  # its fatal error (fenced): nothing more will drain
        undelivered = len(producer)
    finally:
        # also when cancelled: shielded, so that the futures fail and count before it stops
        abandoned = await asyncio.shield(_purge_and_close(producer, undelivered, drain.remaining()))
    report_undelivered(undelivered + abandoned)


async def _bootstrap(producer: AIOProducer, transactional_id: str | None, timeout: float) -> None:
    """Prove the cluster answers (librdkafka connects lazily), and init transactions."""
    await producer.list_topics(timeout=timeout)
    if transactional_id is not None:
        await producer.init_transactions(timeout)


def _close_without_its_loop(producer: AIOProducer, drain: DrainClock) -> int:
    """Close an `AIOProducer` whose event loop has ended (the pool is closed from a later
    `asyncio.run()`): its coroutines cannot run, but librdkafka still holds what it was
    handed, and delivers it. Flush librdkafka's queue within the drain (the callbacks that
    resolve futures of the ended loop set their results, then fail to schedule the loop's
    callbacks, and are passed over); drop what AIOProducer still buffered (it never reached
    librdkafka); purge the rest; close librdkafka. Blocks: run in a thread. Returns how many
    messages were not delivered, each counted."""
    client = producer._producer
    producer._is_closed = True
    producer._batch_processor.clear_buffer()
    while len(client) and (seconds := drain.next_slice()):
        with contextlib.suppress(RuntimeError):  # "Event loop is closed", from a callback
            client.flush(seconds)
    if len(client):
        with contextlib.suppress(KafkaException, RuntimeError):
            client.purge()
            client.poll(0)
    left = len(client)
    # Its worker threads may still run a call the ended loop left (each bounded by its own
    # timeout); librdkafka is closed once none can touch it.
    producer.executor.shutdown(wait=True)
    client.close()
    if isinstance(producer, CountingAIOProducer):
        return producer.count_unsettled()
    return left


async def _purge_and_close(producer: AIOProducer, undelivered: int, timeout: float) -> int:
    """Fail what is left, then close within `timeout`: AIOProducer's close waits for its
    worker threads, one of which may still run a commit a cancelled task left behind.
    Returns how many deliveries AIOProducer had left without a result (failed here)."""
    if undelivered or len(producer):
        with contextlib.suppress(KafkaException, SystemError):
            await producer.purge()
            await producer.poll(0)
    try:
        await asyncio.wait_for(producer.close(), max(timeout, 0.1))
    except asyncio.TimeoutError:
        producer.executor.shutdown(wait=False)
    return producer.fail_unsettled() if isinstance(producer, CountingAIOProducer) else 0


async def send(
    producer: Any,
    topic: str,
    value: bytes | None,
    key: bytes | None = None,
    headers: Sequence[Header] = (),
) -> asyncio.Future[Any]:
    """`AIOProducer`'s way: `produce` queues the message and returns the future of the
    delivered message. It takes no headers (confluent-kafka 2.16 raises
    `NotImplementedError` for any, even an empty list): none is passed unless given."""
    extra = {"headers": list(headers)} if headers else {}
    delivery: asyncio.Future[Any] = await producer.produce(topic, value=value, key=key, **extra)
    return delivery


class ConfluentAIOKit(ConfluentKitBase):
    """confluent-kafka's asyncio kit: `async_pool(ConfluentAIOKit(settings))` is a pool of
    `AIOProducer`s, transactional ones included."""

    name: ClassVar[str] = "confluent-aio"
    settings_model: ClassVar[str | None] = (
        "producer_pool.clients.settings.librdkafka:LibrdkafkaSettings"
    )
    is_async: ClassVar[bool] = True

    async def __call__(self) -> AIOProducer:
        if not self.transactional:
            return await self._create(None)
        return await self._transactional_ids().acreate(self._create)

    async def _create(self, transactional_id: str | None) -> AIOProducer:
        producer_ref: list[weakref.ref[Any]] = []
        config = self._with_error_callback(self._producer_config(transactional_id), producer_ref)
        note_fatal = config["error_cb"]

        async def on_error(error: Any) -> None:  # AIOProducer runs error_cb on the loop
            note_fatal(error)

        config["error_cb"] = on_error
        producer = CountingAIOProducer(self._count, config)
        producer_ref.append(weakref.ref(producer))
        start = _bootstrap(producer, transactional_id, self.bootstrap_timeout)
        await self._started(start, producer.close, (KafkaException,))
        return producer

    async def begin(self, producer: AIOProducer) -> None:
        # AIOProducer flushes first, without a bound: bounded here.
        await self._aend(producer, producer.begin_transaction(), "begin")

    async def commit(self, producer: AIOProducer) -> None:
        timeout = self.transaction_timeout
        await self._aend(producer, producer.commit_transaction(timeout), "commit")

    async def abort(self, producer: AIOProducer) -> None:
        timeout = self.transaction_timeout
        await self._aend(producer, producer.abort_transaction(timeout), "abort")


# ---------------------------------------------------------------------- 0.1's names

close_aio_producer = close
"""0.1's name for `close`."""


def confluent_async_pool(
    settings: Mapping[str, Any],
    *,
    transactional: bool = False,
    transactional_id_prefix: str | None = None,
    bootstrap_timeout: float | None = None,
    **pool_options: Unpack[PoolKwargs],
) -> AsyncProducerPool[AIOProducer]:
    """`async_pool(ConfluentAIOKit(settings, ...), **pool_options)`; `bootstrap_timeout`
    in seconds."""
    kit = ConfluentAIOKit(
        with_bootstrap_timeout(settings, bootstrap_timeout),
        transactional=transactional,
        transactional_id_prefix=transactional_id_prefix,
    )
    return async_pool(kit, **pool_options)
