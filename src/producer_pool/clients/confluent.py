"""The confluent kit: confluent-kafka's (librdkafka's) `Producer` for a threaded pool.

Settings may use librdkafka's names (`bootstrap.servers`) or kafka-python's
(`bootstrap_servers`, `linger_ms`): both map to librdkafka's. librdkafka runs delivery
callbacks only inside `poll()` or `flush()`: each of the kit's producers has a poller
thread of its own (`DeliveryPoller`), so results arrive without the caller polling. 0.1's
names (`confluent_pool`, `close_confluent_producer`, ...) remain as aliases, and those of
the asyncio kit's pieces (`confluent_aio`), which lived here.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, ClassVar

from ..core.calls import close_object
from ..core.clock import Deadline
from ..core.options import PoolKwargs
from ..core.pool import ProducerPool
from ._base import DrainClock
from ._librdkafka import (
    DEFAULT_MESSAGE_TIMEOUT_MS,
    FATAL_ERRORS,
    ConfluentKitBase,
    KafkaException,
    Producer,
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
    "DeliveryPoller",
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

logger = logging.getLogger("producer_pool")

#: How long a send may wait for room in a full send queue (kafka-python's `max_block_ms`).
QUEUE_FULL_WAIT = 60.0
#: How long a poller waits for a delivery report (or, with nothing in flight, for a send)
#: before it looks again; a report or a send wakes it at once. A destroy of a producer with
#: messages in flight waits at most about as long for its poller to stop.
POLL_SLICE = 0.1
#: How long a destroy waits for a poller stuck in a caller's callback.
_POLLER_JOIN = 5.0
#: The name of the pollers' threads.
POLLER_NAME = "producer-pool-poller"


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


class DeliveryPoller:
    """Serves one producer's delivery callbacks on a daemon thread while it has messages
    outstanding, from its bootstrap to its destroy.

    librdkafka runs delivery callbacks only inside `poll()` or `flush()`: without a poller,
    the future of a lone `EventPublisher.publish` resolved only at the next send through
    that producer, or at the pool's close, and `.result(timeout)` waited the whole timeout.
    While messages are in flight the thread sits in `poll(POLL_SLICE)` (outside the GIL;
    a report wakes it at once); otherwise it waits on an event that `send` and `stop` set,
    looking every `POLL_SLICE` for messages produced by other means. It holds the producer
    weakly between polls, so a producer nobody holds is still freed, and it has stopped
    before the destroy closes the producer (a poll must never run into a close). A caller's
    callback that raises is logged once, and polling goes on. A forked child has no poller
    threads; the pool leaves the parent's producers alone there.
    """

    __slots__ = ("_stop", "_thread", "_wake")

    ATTRIBUTE = "_producer_pool_poller"
    """The attribute of a producer that holds its poller."""

    def __init__(self, producer: object) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(weakref.ref(producer),), name=POLLER_NAME, daemon=True
        )
        self._thread.start()

    @classmethod
    def start(cls, producer: Any) -> None:
        """Poll `producer` from now on, until `stop(producer)`."""
        setattr(producer, cls.ATTRIBUTE, cls(producer))

    @classmethod
    def of(cls, producer: object) -> DeliveryPoller | None:
        """`producer`'s poller, if it has one."""
        poller: DeliveryPoller | None = getattr(producer, cls.ATTRIBUTE, None)
        return poller

    def wake(self) -> None:
        """A message was just produced: poll for its report now."""
        if not self._wake.is_set():  # cheaper than set(); it is cleared before a look
            self._wake.set()

    @classmethod
    def stopping(cls, producer: object) -> DeliveryPoller | None:
        """Ask `producer`'s poller to stop (it ends within a slice); the poller, if any."""
        poller = cls.of(producer)
        if poller is not None:
            poller._stop.set()
            poller._wake.set()
        return poller

    @classmethod
    def stop(cls, producer: object, timeout: float = _POLLER_JOIN) -> bool:
        """Stop `producer`'s poller and wait for it; False if it is still inside a poll."""
        poller = cls.stopping(producer)
        if poller is None or poller._thread is threading.current_thread():
            return True
        poller._thread.join(timeout)
        if poller._thread.is_alive():
            logger.error("a delivery callback has run for %gs: its producer is left open", timeout)
            return False
        return True

    def _run(self, producer_ref: weakref.ref[Any]) -> None:
        warned = False
        while not self._stop.is_set():
            producer = producer_ref()
            if producer is None:
                return
            try:
                if len(producer):  # in flight, or reports waiting to be served
                    producer.poll(POLL_SLICE)
                    continue
            except Exception as exc:  # a caller's callback raised (or a fatal error surfaced)
                if not warned:
                    logger.warning("polling a confluent producer: %r (logged once)", exc)
                    warned = True
            finally:
                producer = None  # held only while polling
            self._wake.wait(POLL_SLICE)
            self._wake.clear()  # before the next look at the queue: no wake-up is lost


def close(
    producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
) -> None:
    """Flush, then close; `PoolCloseError` with the count when messages stay undelivered.

    A retired producer drains for `timeout` (default: librdkafka's message timeout); the
    pool's `close()` brings `deadline` forward, and the drain, which looks at it again every
    slice, stops there. What is left is purged: its delivery callbacks fail (and count).
    Its poller serves callbacks beside the drain, and has stopped before the close.
    """
    if not isinstance(producer, Producer):
        close_object(producer)
        return
    DeliveryPoller.stopping(producer)
    drain = DrainClock(DEFAULT_MESSAGE_TIMEOUT_MS / 1000 if timeout is None else timeout, deadline)
    undelivered = len(producer)
    try:
        while undelivered and (seconds := drain.next_slice()):
            undelivered = producer.flush(seconds)
    except KafkaException:  # its fatal error (fenced): nothing more will be delivered
        undelivered = len(producer)
    if not DeliveryPoller.stop(producer):
        report_undelivered(undelivered)
        return
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
    message, or the `KafkaException`). The kit's producers are polled by their
    `DeliveryPoller`; a producer without one (made by a factory of your own) is polled
    here after the send, so the callbacks of earlier sends run. A full send queue is
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
    poller = DeliveryPoller.of(producer)
    if poller is None:
        producer.poll(0)
    else:
        poller.wake()
    return delivery


class ConfluentKit(ConfluentKitBase):
    """confluent-kafka's kit: `pool(ConfluentKit(settings))` is a pool of librdkafka
    `Producer`s, each of which has proven the cluster answers (librdkafka connects lazily:
    without that, a dead broker would only show as messages never delivered)."""

    name: ClassVar[str] = "confluent"
    settings_model: ClassVar[str | None] = (
        "producer_pool.clients.settings.librdkafka:LibrdkafkaSettings"
    )

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
        DeliveryPoller.start(producer)
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
