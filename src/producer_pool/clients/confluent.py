"""The confluent kit: confluent-kafka's (librdkafka's) `Producer` for a threaded pool.

Settings may use librdkafka's names (`bootstrap.servers`) or kafka-python's
(`bootstrap_servers`, `linger_ms`): both map to librdkafka's. Producers serve their
delivery callbacks only when polled, so publish code calls `producer.poll(0)` after
`produce()`. What the asyncio kit (`confluent_aio`, for `AIOProducer`) shares with this
one lives here too: the names, the callbacks, the fatal errors. 0.1's names
(`confluent_pool`, `close_confluent_producer`, ...) remain as aliases.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, ClassVar

try:
    from confluent_kafka import KafkaException, Producer
except ImportError as exc:
    raise ImportError(
        f"producer_pool.clients.confluent needs the 'confluent' extra ({exc.name} is missing): "
        "pip install 'producer-pool[confluent]'"
    ) from exc

from ..core.calls import close_object
from ..core.clock import Deadline
from ..core.options import PoolKwargs
from ..core.pool import ProducerPool
from ._base import DrainClock
from ._librdkafka import (
    DEFAULT_MESSAGE_TIMEOUT_MS,
    FATAL_ERRORS,
    ConfluentKitBase,
    is_fatal,
    is_healthy,
    librdkafka_config,
    report_undelivered,
    with_bootstrap_timeout,
)
from .confluent_aio import ConfluentAIOKit, confluent_async_pool
from .confluent_aio import close as close_aio
from .kit import Header
from .pools import pool
from .transactions import transaction

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "FATAL_ERRORS",
    "AIOProducerFactory",
    "ConfluentKit",
    "ConfluentProducerFactory",
    "CountingProducer",
    "close",
    "close_aio_producer",
    "close_confluent_producer",
    "confluent_async_pool",
    "confluent_pool",
    "confluent_producer_factory",
    "is_fatal",
    "is_healthy",
    "librdkafka_config",
    "send",
    "transaction",
]

#: How long a send may wait for room in a full send queue (kafka-python's `max_block_ms`).
QUEUE_FULL_WAIT = 60.0


def _counted(count: Callable[[object], None], callback: Callable[..., Any]) -> Callable[..., Any]:
    """A caller's own delivery callback, with the pool's count taken first."""

    def on_delivery(error: Any, message: Any) -> None:
        count(error)
        callback(error, message)

    return on_delivery


class CountingProducer(Producer):
    """A librdkafka `Producer` whose every delivery result reaches the pool's counts: a
    caller's own `on_delivery=` (or `callback=`) given to `produce()`, which librdkafka
    calls *instead of* the configured one, is wrapped, never left to replace the count."""

    def __init__(self, config: dict[str, Any], count: Callable[[object], None]) -> None:
        self._count_delivery = count
        super().__init__(
            {**config, "on_delivery": _counted(count, config.get("on_delivery", _noop))}
        )

    def produce(self, *args: Any, **kwargs: Any) -> None:
        # (topic, value, key, partition, on_delivery, ...): the common call has no callback
        # and pays one test (~0.2 us over librdkafka's own produce, measured)
        if len(args) > 4 or "on_delivery" in kwargs or "callback" in kwargs:
            args, kwargs = self._counting(args, kwargs)
        _produce(self, *args, **kwargs)

    def _counting(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments with the caller's delivery callback wrapped."""
        if len(args) > 4 and args[4] is not None:
            args = (*args[:4], _counted(self._count_delivery, args[4]), *args[5:])
        for name in ("on_delivery", "callback"):
            callback = kwargs.get(name)
            if callback is not None:
                kwargs[name] = _counted(self._count_delivery, callback)
        return args, kwargs


_produce = Producer.produce


def _noop(error: object, message: object) -> None:
    """No callback of the caller's: the count alone."""


def close(
    producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
) -> None:
    """Flush, then close; `PoolCloseError` with the count when messages stay undelivered.

    A retired producer drains for `timeout` (default: librdkafka's message timeout); the
    pool's `close()` brings `deadline` forward, and the drain, which looks at it again every
    slice, stops there. What is left is purged: its delivery callbacks fail (and count).
    """
    if not isinstance(producer, Producer):
        close_object(producer)
        return
    drain = DrainClock(DEFAULT_MESSAGE_TIMEOUT_MS / 1000 if timeout is None else timeout, deadline)
    undelivered = len(producer)
    try:
        while undelivered and (seconds := drain.next_slice()):
            undelivered = producer.flush(seconds)
    except KafkaException:  # its fatal error (fenced): nothing more will be delivered
        undelivered = len(producer)
    if undelivered:
        with contextlib.suppress(KafkaException):
            producer.purge()  # fail their delivery callbacks rather than drop them unseen
            producer.poll(0)
    producer.close()
    report_undelivered(undelivered)


def send(
    producer: Any,
    topic: str,
    value: bytes | None,
    key: bytes | None = None,
    headers: Sequence[Header] = (),
) -> Future[Any]:
    """A `Producer`'s way: `produce` with a callback that resolves a future (with the
    message, or the `KafkaException`). librdkafka serves callbacks when polled: at this
    and every later send, and when the pool flushes the producer. A full send queue is
    polled until it has room, for at most `QUEUE_FULL_WAIT`."""
    delivery: Future[Any] = Future()

    def on_delivery(error: Any, message: Any) -> None:
        if error is None:
            delivery.set_result(message)
        else:
            delivery.set_exception(KafkaException(error))

    deadline = time.monotonic() + QUEUE_FULL_WAIT
    while True:
        try:
            producer.produce(
                topic, value=value, key=key, headers=list(headers), on_delivery=on_delivery
            )
            break
        except BufferError:
            if time.monotonic() > deadline:
                raise
            producer.poll(0.1)
    producer.poll(0)
    return delivery


class ConfluentKit(ConfluentKitBase):
    """confluent-kafka's kit: `pool(ConfluentKit(settings))` is a pool of librdkafka
    `Producer`s, each of which has proven the cluster answers (librdkafka connects lazily:
    without that, a dead broker would only show as messages never delivered)."""

    name: ClassVar[str] = "confluent"
    settings_model: ClassVar[str | None] = (
        "producer_pool.clients.settings.librdkafka:LibrdkafkaSettings"
    )
    close = staticmethod(close)
    is_healthy = staticmethod(is_healthy)
    is_fatal = staticmethod(is_fatal)
    send = staticmethod(send)

    def __call__(self) -> Producer:
        if not self.transactional:
            return self._create(None)
        return self._transactional_ids().create(self._create)

    def _create(self, transactional_id: str | None) -> Producer:
        producer_ref: list[weakref.ref[Any]] = []
        config = self._with_error_callback(self._producer_config(transactional_id), producer_ref)
        producer = CountingProducer(config, self._count)
        producer_ref.append(weakref.ref(producer))
        try:
            producer.list_topics(timeout=self.bootstrap_timeout)
            if transactional_id is not None:
                producer.init_transactions(self.bootstrap_timeout)
        except KafkaException as exc:
            producer.close()
            raise self._unavailable(exc) from None
        return producer

    def begin(self, producer: Producer) -> None:
        producer.begin_transaction()

    def commit(self, producer: Producer) -> None:
        self._end(producer, producer.commit_transaction, "commit")

    def abort(self, producer: Producer) -> None:
        self._end(producer, producer.abort_transaction, "abort")


# ---------------------------------------------------------------------- 0.1's names

close_confluent_producer = close
"""0.1's name for `close`."""


AIOProducerFactory = ConfluentAIOKit
"""0.1's name for `ConfluentAIOKit` (the asyncio kit), which lived here."""
close_aio_producer = close_aio
"""0.1's name for the asyncio kit's `close_aio`, which lived here."""
ConfluentProducerFactory = ConfluentKit
"""0.1's name for `ConfluentKit`."""


def confluent_producer_factory(settings: Mapping[str, Any]) -> ConfluentKit:
    """0.1's spelling of `ConfluentKit(settings)`."""
    return ConfluentKit(settings)


def confluent_pool(
    settings: Mapping[str, Any],
    *,
    transactional: bool = False,
    transactional_id_prefix: str | None = None,
    bootstrap_timeout: float | None = None,
    **pool_options: Unpack[PoolKwargs],
) -> ProducerPool[Producer]:
    """`pool(ConfluentKit(settings, ...), **pool_options)`; `bootstrap_timeout` in seconds."""
    kit = ConfluentKit(
        with_bootstrap_timeout(settings, bootstrap_timeout),
        transactional=transactional,
        transactional_id_prefix=transactional_id_prefix,
    )
    return pool(kit, **pool_options)
