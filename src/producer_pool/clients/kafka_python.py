"""kafka-python integration: producer factories, zero-loss close, health checks.

Every function here tolerates non-producer objects (an `int` factory in tests), so
overriding only the factory still gives a working pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

try:
    from . import _quiet_kafka  # noqa: F401 # isort: skip - first: kafka-python warns
    from kafka import KafkaProducer
    from kafka import errors as kafka_errors
except ImportError as exc:
    raise ImportError(
        f"producer_pool.kafka needs the 'kafka' extra ({exc.name} is missing): "
        "pip install 'producer-pool[kafka]'"
    ) from exc

from .._moved import moved_names
from ..core.clock import Deadline, drain_time
from ..core.fork import reset_after_fork
from ..core.options import DEFAULTS
from ..core.pool import ProducerPool, close_object
from ..core.stats import DeliveryCounts
from ..errors import BrokerUnavailable, ConfigError, PoolCloseError
from . import _kafka_compat as compat
from .redact import redact, reveal
from .transactions import TransactionalIds
from .transactions import transaction as generic_transaction

__all__ = [
    "FATAL_PRODUCER_ERRORS",
    "BrokerUnavailable",
    "CountingProducer",
    "KafkaProducerFactory",
    "TransactionalProducerFactory",
    "close_producer",
    "is_fatal",
    "kafka_pool",
    "kafka_producer_factory",
    "pool_for_factory",
    "producer_is_healthy",
    "transaction",
    "transactional_producer_factory",
]

logger = logging.getLogger("producer_pool")

#: kafka-python waits 30 s for a first bootstrap; a service should learn sooner that Kafka is down.
DEFAULT_BOOTSTRAP_TIMEOUT_MS = 10_000

#: Errors after which a producer must never be used again: the pool discards it.
FATAL_PRODUCER_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.ProducerFencedError,
    kafka_errors.InvalidProducerEpochError,
    kafka_errors.IllegalStateError,
    kafka_errors.AuthorizationError,
    kafka_errors.UnsupportedVersionError,
)


def _validated(settings: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConfigError(f"unknown Kafka producer setting(s): {', '.join(unknown)}")
    if not settings.get("bootstrap_servers"):
        raise ConfigError("bootstrap_servers is required")
    return dict(settings)


class CountingProducer(KafkaProducer):  # type: ignore[misc]
    """A `KafkaProducer` that reports its delivery results to `DeliveryCounts`, so nothing
    fails unseen by the pool: a batch at a time, or from each message's future if
    kafka-python's internals moved."""

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


class KafkaProducerFactory:
    """Zero-argument callable that builds a `KafkaProducer` from kafka-python settings.

    Its producers count their delivery results in `deliveries`, which `kafka_pool()` and
    the container give to the pool: `stats()` shows them and `close()` reports failures.
    """

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = _validated(
            {"bootstrap_timeout_ms": DEFAULT_BOOTSTRAP_TIMEOUT_MS, **settings},
            KafkaProducer.DEFAULT_CONFIG,
        )
        self.deliveries = DeliveryCounts()

    @property
    def bootstrap_servers(self) -> str:
        servers = self.settings["bootstrap_servers"]
        return servers if isinstance(servers, str) else ",".join(servers)

    def __call__(self) -> KafkaProducer:
        return self._create(self.settings)

    def _create(self, settings: Mapping[str, Any]) -> KafkaProducer:
        revealed = reveal(settings)  # secrets leave SecretStr here
        try:
            producer = CountingProducer(self.deliveries, **revealed)
        except (kafka_errors.KafkaTimeoutError, kafka_errors.KafkaConnectionError) as exc:
            compat.close_half_built_client(exc)
            waited = f"{settings['bootstrap_timeout_ms']} ms"
            raise BrokerUnavailable.within(self.bootstrap_servers, waited, exc) from None
        reset_after_fork(producer, compat.disarm_in_forked_child)
        compat.recover_producer_id_after_reset(producer)
        timeout = settings["bootstrap_timeout_ms"] / 1000
        if not compat.await_producer_id(producer, timeout):
            close_producer(producer, 0)
            waited = f"{settings['bootstrap_timeout_ms']} ms"
            cause = "no producer id (InitProducerId unanswered)"
            raise BrokerUnavailable.within(self.bootstrap_servers, waited, cause)
        return producer

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.settings)!r})"


def kafka_producer_factory(settings: Mapping[str, Any]) -> KafkaProducerFactory:
    """A factory for plain (non-transactional, thread-safe) producers."""
    return KafkaProducerFactory(settings)


class TransactionalProducerFactory(KafkaProducerFactory):
    """Gives each producer a `transactional_id` from a bounded set (see `TransactionalIds`)
    and runs `init_transactions()`. Pair it with `destroy`, which frees the id.
    """

    #: Transactions must never interleave, so pools of these refuse "share" mode.
    requires_exclusive_leases = True

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        max_size: int,
        transactional_id_prefix: str | None = None,
    ) -> None:
        if "transactional_id" in settings:
            raise ConfigError("transactional_id is assigned per producer; set the prefix instead")
        super().__init__(settings)
        self.ids = TransactionalIds(max_size, transactional_id_prefix)

    def __call__(self) -> KafkaProducer:
        return self.ids.create(self._create_transactional)

    def _create_transactional(self, transactional_id: str) -> KafkaProducer:
        producer = self._create({**self.settings, "transactional_id": transactional_id})
        try:
            producer.init_transactions()
        except BaseException:
            producer.close(timeout=0)  # nothing was sent; stop its sender thread
            raise
        return producer

    def destroy(
        self, producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
    ) -> None:
        """Free the producer's id for its replacement, then close it."""
        self.ids.release_for(producer)
        close_producer(producer, timeout, deadline=deadline)


def transactional_producer_factory(
    settings: Mapping[str, Any],
    transactional_id_prefix: str | None = None,
    *,
    max_size: int,
) -> TransactionalProducerFactory:
    """A factory for transactional producers; see `TransactionalProducerFactory`."""
    return TransactionalProducerFactory(
        settings, max_size=max_size, transactional_id_prefix=transactional_id_prefix
    )


def close_producer(
    producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
) -> None:
    """Flush, then close: the pool's destroy for Kafka producers.

    A producer retired from a live pool drains for up to its own `delivery_timeout_ms`
    (the default `timeout`), so an outage shorter than that loses nothing; the pool's
    `close()` sets `deadline` to cut that short under its one budget. Whatever is still
    undelivered then is force-closed (the futures fail), logged, and counted in
    `PoolCloseError`.
    """
    if not isinstance(producer, KafkaProducer):
        close_object(producer)
        return
    timeout = drain_time(timeout, producer.config["delivery_timeout_ms"] / 1000, deadline)
    try:
        producer.flush(timeout)
    except kafka_errors.KafkaTimeoutError:
        undelivered = compat.undelivered(producer)
        compat.force_close(producer, timeout)
        logger.error(
            "producer %s closed with %d undelivered message(s) after %gs",
            producer.config.get("client_id"),
            undelivered,
            timeout,
        )
        raise PoolCloseError(
            f"{undelivered} message(s) undelivered after {timeout:g}s", undelivered=undelivered
        ) from None
    producer.close(timeout)


def producer_is_healthy(producer: object) -> bool:
    """The pool's check, on every reuse: alive, bootstrapped and not in a fatal state.

    Fatality is read from the producer, not from the exception that escaped: when a fence
    lands before commit, kafka-python raises a plain `KafkaError`, which no exception type
    in `discard_on` catches. Cheap: no network round trip.
    """
    if not isinstance(producer, KafkaProducer):
        return True
    return compat.is_alive(producer) and not compat.in_fatal_state(producer)


def kafka_pool(
    settings: Mapping[str, Any],
    *,
    transactional: bool = False,
    transactional_id_prefix: str | None = None,
    **pool_options: Any,
) -> ProducerPool[KafkaProducer]:
    """A pool wired with the Kafka factory, flush-and-close, health check and fatal errors."""
    max_size = pool_options.setdefault("max_size", DEFAULTS["max_size"])
    factory = (
        TransactionalProducerFactory(
            settings, max_size=max_size, transactional_id_prefix=transactional_id_prefix
        )
        if transactional
        else KafkaProducerFactory(settings)
    )
    pool_options.setdefault("name", factory.bootstrap_servers)
    return pool_for_factory(factory, **pool_options)


def pool_for_factory(factory: Callable[[], Any], **pool_options: Any) -> ProducerPool[Any]:
    """The Kafka wiring around any factory: flush-and-close, health check, fatal-error discard,
    delivery counts.

    A factory's own `destroy(producer, deadline=...)` (the transactional one frees the id) is
    used when it has one. `close_timeout` is the budget of the pool's `close()`, within which
    every producer flushes in parallel. Works unchanged when tests override the factory with
    an `int` factory.
    """
    pool_options.setdefault("destroy", getattr(factory, "destroy", close_producer))
    pool_options.setdefault("check", producer_is_healthy)
    pool_options.setdefault("discard_on", FATAL_PRODUCER_ERRORS)
    pool_options.setdefault("deliveries", getattr(factory, "deliveries", None))
    return ProducerPool(factory, **pool_options)


def is_fatal(exc: BaseException, producer: object = None) -> bool:
    """A kafka-python error, or a producer state, after which the producer is done for."""
    if isinstance(exc, FATAL_PRODUCER_ERRORS):
        return True
    return isinstance(producer, KafkaProducer) and compat.in_fatal_state(producer)


def transaction(pool: ProducerPool[KafkaProducer]) -> AbstractContextManager[KafkaProducer]:
    """`with transaction(pool) as producer:` commits on success, aborts on error."""
    return generic_transaction(pool, is_fatal=is_fatal)


#: 0.1's `create_topic` and `read_topic` live in `producer_pool.testing.topics`; they warn here.
__getattr__ = moved_names(__name__)
