"""The kafka-python kit: `KafkaProducer`s for a threaded `ProducerPool`.

`KafkaPythonKit(settings)` takes kafka-python's own option names (plus
`bootstrap_timeout_ms`, which kafka-python has too); `pool(kit)` wires it. The module's
functions (`close`, `is_healthy`, `is_fatal`) tolerate objects that are not producers (an
`int` factory in tests), so overriding only the factory still gives a working pool.
0.1's names (`kafka_pool`, `close_producer`, ...) remain as aliases.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import (
    BrokerUnavailable,
    ConfigError,
    PoolCloseError,
    TransactionTimeout,
    missing_extra,
)

try:
    from . import _quiet_kafka  # noqa: F401 # isort: skip - first: kafka-python warns
    from kafka import KafkaProducer
    from kafka import errors as kafka_errors
except ImportError as exc:
    raise ImportError(missing_extra("producer_pool.clients.kafka_python", "kafka", exc)) from exc

from .._moved import moved_names
from ..core.calls import close_object
from ..core.clock import Deadline
from ..core.fork import reset_after_fork
from ..core.options import PoolKwargs
from ..core.pool import ProducerPool
from ..core.stats import DeliveryCounts
from . import _kafka_compat as compat
from ._base import DEFAULT_BOOTSTRAP_TIMEOUT_MS as DEFAULT_BOOTSTRAP_TIMEOUT_MS
from ._base import DrainClock, KitBase, is_broken
from .kit import Header
from .pools import kit_defaults, pool
from .redact import reveal
from .transactions import transaction

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "FATAL_ERRORS",
    "FATAL_PRODUCER_ERRORS",
    "BrokerUnavailable",
    "CountingProducer",
    "KafkaProducerFactory",
    "KafkaPythonKit",
    "TransactionalProducerFactory",
    "close",
    "close_producer",
    "is_fatal",
    "is_healthy",
    "kafka_pool",
    "kafka_producer_factory",
    "pool_for_factory",
    "producer_is_healthy",
    "send",
    "transaction",
    "transactional_producer_factory",
]

logger = logging.getLogger("producer_pool")

_DELIVERY_TIMEOUT_MS = KafkaProducer.DEFAULT_CONFIG["delivery_timeout_ms"]
_TRANSACTION_TIMEOUT_MS = KafkaProducer.DEFAULT_CONFIG["transaction_timeout_ms"]

FATAL_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.ProducerFencedError,
    kafka_errors.InvalidProducerEpochError,
    kafka_errors.IllegalStateError,
    kafka_errors.AuthorizationError,
    kafka_errors.UnsupportedVersionError,
    TransactionTimeout,
)
"""Errors after which a producer must never be used again: the pool discards it."""


class CountingProducer(KafkaProducer):  # type: ignore[misc]
    """A `KafkaProducer` that reports its delivery results to `DeliveryCounts`, so nothing
    fails unseen by the pool: a batch at a time, or from each message's future if
    kafka-python's internals moved. No argument of `send()` bypasses it."""

    def __init__(self, deliveries: DeliveryCounts, **settings: Any) -> None:
        self.deliveries = deliveries
        super().__init__(**settings)
        if not compat.count_deliveries_by_batch(self, deliveries):
            self.send = self._send_and_count

    def _send_and_count(self, *args: Any, **kwargs: Any) -> Any:
        future = super().send(*args, **kwargs)
        future.add_callback(self.deliveries.on_delivered)
        future.add_errback(self.deliveries.on_failed)
        return future


def close(
    producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
) -> None:
    """Flush, then close: the kit's destroy.

    A producer retired from a live pool drains for up to its own `delivery_timeout_ms`
    (the default `timeout`), so an outage shorter than that loses nothing; the pool's
    `close()` brings `deadline` forward, and the drain, which looks at it again every
    slice, stops there. What is still undelivered then is aborted (the futures fail and
    are counted), logged, and reported in `PoolCloseError`.
    """
    if not isinstance(producer, KafkaProducer):
        close_object(producer)
        return
    own = producer.config["delivery_timeout_ms"] / 1000 if timeout is None else timeout
    drain = DrainClock(own, deadline)
    while compat.undelivered(producer):
        seconds = drain.next_slice()
        if seconds == 0:
            _abort_undelivered(producer, drain.remaining())
        try:
            producer.flush(seconds)
        except kafka_errors.KafkaTimeoutError:
            continue
    producer.close(drain.remaining())


def _abort_undelivered(producer: KafkaProducer, cleanup: float) -> None:
    """Fail what is left (the futures and the pool's counts see it), close, report."""
    undelivered = compat.undelivered(producer)
    compat.force_close(producer, cleanup)
    logger.error(
        "producer %s closed with %d undelivered message(s)",
        producer.config.get("client_id"),
        undelivered,
    )
    raise PoolCloseError(f"{undelivered} message(s) undelivered", undelivered=undelivered)


def is_healthy(producer: object) -> bool:
    """The pool's check, on every reuse: alive, bootstrapped, in no fatal state, and not
    marked broken.

    Fatality is read from the producer, not from the exception that escaped: when a fence
    lands before commit, kafka-python raises a plain `KafkaError`, which no exception type
    in `discard_on` catches. Cheap: no network round trip.
    """
    if not isinstance(producer, KafkaProducer):
        return True
    return (
        compat.is_alive(producer)
        and not compat.in_fatal_state(producer)
        and not is_broken(producer)
    )


def is_fatal(exc: BaseException, producer: object = None) -> bool:
    """A kafka-python error, or a producer state, after which the producer is done for."""
    if isinstance(exc, FATAL_ERRORS):
        return True
    return isinstance(producer, KafkaProducer) and compat.in_fatal_state(producer)


def send(
    producer: Any,
    topic: str,
    value: bytes | None,
    key: bytes | None = None,
    headers: Sequence[Header] = (),
) -> Any:
    """kafka-python's way (any producer of its shape): `send` returns the delivery future;
    its I/O thread resolves it."""
    return producer.send(topic, value=value, key=key, headers=list(headers))


class KafkaPythonKit(KitBase):
    """kafka-python's kit: `pool(KafkaPythonKit(settings))` is a pool of thread-safe
    `KafkaProducer`s; with `transactional=True`, each has its own `transactional_id` from
    a bounded set (`TransactionalIds`) and `transaction(pool)` runs one transaction."""

    name: ClassVar[str] = "kafka-python"
    settings_model: ClassVar[str | None] = (
        "producer_pool.clients.settings.kafka_python:KafkaPythonSettings"
    )

    def _client_options(self, options: dict[str, Any]) -> dict[str, Any]:
        known = KafkaProducer.DEFAULT_CONFIG
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(f"unknown kafka-python producer setting(s): {', '.join(unknown)}")
        # kafka-python has this option too: its first bootstrap waits as long as ours.
        return {**options, "bootstrap_timeout_ms": round(self.bootstrap_timeout * 1000)}

    def __call__(self) -> KafkaProducer:
        if not self.transactional:
            return self._create(self.options)
        return self._transactional_ids().create(self._create_transactional)

    def _create(self, options: Mapping[str, Any]) -> KafkaProducer:
        try:
            producer = CountingProducer(self.deliveries, **reveal(options))
        except (kafka_errors.KafkaTimeoutError, kafka_errors.KafkaConnectionError) as exc:
            compat.close_half_built_client(exc)
            raise self._unavailable(exc) from None
        reset_after_fork(producer, compat.disarm_in_forked_child)
        compat.recover_producer_id_after_reset(producer)
        if not compat.await_producer_id(producer, self.bootstrap_timeout):
            close(producer, 0)
            raise self._unavailable("no producer id (InitProducerId unanswered)")
        return producer

    def _create_transactional(self, transactional_id: str) -> KafkaProducer:
        producer = self._create({**self.options, "transactional_id": transactional_id})
        try:
            producer.init_transactions()
        except BaseException:
            producer.close(timeout=0)  # nothing was sent; stop its sender thread
            raise
        return producer

    @property
    def drain_timeout(self) -> float:
        return float(self.options.get("delivery_timeout_ms", _DELIVERY_TIMEOUT_MS)) / 1000

    def begin(self, producer: KafkaProducer) -> None:
        producer.begin_transaction()

    def commit(self, producer: KafkaProducer) -> None:
        self._end(producer, functools.partial(compat.end_transaction, producer, True), "commit")

    def abort(self, producer: KafkaProducer) -> None:
        self._end(producer, functools.partial(compat.end_transaction, producer, False), "abort")

    @property
    def transaction_timeout(self) -> float:
        return float(self.options.get("transaction_timeout_ms", _TRANSACTION_TIMEOUT_MS)) / 1000


# ---------------------------------------------------------------------- 0.1's names

FATAL_PRODUCER_ERRORS = FATAL_ERRORS
"""0.1's name for `FATAL_ERRORS`."""
close_producer = close
"""0.1's name for `close`."""
producer_is_healthy = is_healthy
"""0.1's name for `is_healthy`."""
KafkaProducerFactory = KafkaPythonKit
"""0.1's name for `KafkaPythonKit`."""


class TransactionalProducerFactory(KafkaPythonKit):
    """0.1's transactional factory: a transactional kit with `max_size` ids."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        max_size: int,
        transactional_id_prefix: str | None = None,
    ) -> None:
        super().__init__(
            settings,
            transactional=True,
            transactional_id_prefix=transactional_id_prefix,
            max_size=max_size,
        )


def kafka_producer_factory(settings: Mapping[str, Any]) -> KafkaPythonKit:
    """0.1's spelling of `KafkaPythonKit(settings)`."""
    return KafkaPythonKit(settings)


def transactional_producer_factory(
    settings: Mapping[str, Any],
    transactional_id_prefix: str | None = None,
    *,
    max_size: int,
) -> KafkaPythonKit:
    """0.1's spelling of a transactional `KafkaPythonKit`."""
    return TransactionalProducerFactory(
        settings, max_size=max_size, transactional_id_prefix=transactional_id_prefix
    )


def kafka_pool(
    settings: Mapping[str, Any],
    *,
    transactional: bool = False,
    transactional_id_prefix: str | None = None,
    **pool_options: Unpack[PoolKwargs],
) -> ProducerPool[KafkaProducer]:
    """`pool(KafkaPythonKit(settings, ...), **pool_options)`."""
    kit = KafkaPythonKit(
        settings, transactional=transactional, transactional_id_prefix=transactional_id_prefix
    )
    return pool(kit, **pool_options)


def pool_for_factory(
    factory: Callable[[], Any], **pool_options: Unpack[PoolKwargs]
) -> ProducerPool[Any]:
    """A pool around a kit, or around any factory with this module's destroy, check and
    fatal errors (tests override the container's factory with an `int` factory)."""
    if isinstance(factory, KitBase):
        return pool(factory, **pool_options)
    return ProducerPool(factory, **kit_defaults(KafkaPythonKit, factory, dict(pool_options)))


#: 0.1's `create_topic` and `read_topic` live in `producer_pool.testing.topics`; they warn here.
__getattr__ = moved_names(__name__)
