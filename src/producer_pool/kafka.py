"""kafka-python integration: producer factories, zero-loss close, health checks, topic helpers.

Every function here tolerates non-producer objects (an `int` factory in tests), so
overriding only the factory still gives a working pool.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as kafka_errors
from kafka.admin import NewTopic

from .errors import ConfigError, PoolCloseError, PoolError
from .pool import ProducerPool

__all__ = [
    "FATAL_PRODUCER_ERRORS",
    "BrokerUnavailable",
    "KafkaProducerFactory",
    "TransactionalProducerFactory",
    "close_producer",
    "create_topic",
    "kafka_pool",
    "kafka_producer_factory",
    "producer_is_healthy",
    "read_topic",
    "transaction",
    "transactional_producer_factory",
]

logger = logging.getLogger("producer_pool")

#: kafka-python waits 30 s for a first bootstrap; a service should learn sooner that Kafka is down.
DEFAULT_BOOTSTRAP_TIMEOUT_MS = 10_000
DEFAULT_CLOSE_TIMEOUT = 30.0

#: Errors after which a producer must never be used again: the pool discards it.
FATAL_PRODUCER_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.ProducerFencedError,
    kafka_errors.InvalidProducerEpochError,
    kafka_errors.IllegalStateError,
    kafka_errors.AuthorizationError,
    kafka_errors.UnsupportedVersionError,
)

_SECRET = re.compile(r"password|secret|token|credential", re.IGNORECASE)


class BrokerUnavailable(PoolError, ConnectionError):
    """No producer could be created: the bootstrap servers did not answer in time."""


def redact(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings safe to print: secrets never reach a repr, a log line or an error."""
    return {key: "***" if _SECRET.search(key) else value for key, value in settings.items()}


def _validated(settings: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConfigError(f"unknown Kafka producer setting(s): {', '.join(unknown)}")
    if not settings.get("bootstrap_servers"):
        raise ConfigError("bootstrap_servers is required")
    return dict(settings)


class KafkaProducerFactory:
    """Zero-argument callable that builds a `KafkaProducer` from kafka-python settings."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = _validated(
            {"bootstrap_timeout_ms": DEFAULT_BOOTSTRAP_TIMEOUT_MS, **settings},
            KafkaProducer.DEFAULT_CONFIG,
        )

    @property
    def bootstrap_servers(self) -> str:
        servers = self.settings["bootstrap_servers"]
        return servers if isinstance(servers, str) else ",".join(servers)

    def __call__(self) -> KafkaProducer:
        return self._create(self.settings)

    def _create(self, settings: Mapping[str, Any]) -> KafkaProducer:
        try:
            producer = KafkaProducer(**settings)
        except (kafka_errors.KafkaTimeoutError, kafka_errors.KafkaConnectionError) as exc:
            raise BrokerUnavailable(
                f"cannot reach Kafka at {self.bootstrap_servers} within "
                f"{settings['bootstrap_timeout_ms']} ms: {exc}"
            ) from None
        _forget_in_forked_children(producer)
        return producer

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.settings)!r})"


def kafka_producer_factory(settings: Mapping[str, Any]) -> KafkaProducerFactory:
    """A factory for plain (non-transactional, thread-safe) producers."""
    return KafkaProducerFactory(settings)


class TransactionalProducerFactory(KafkaProducerFactory):
    """Gives each producer `transactional_id = {prefix}-{n}` with `n < max_size`.

    Ids come from a bounded set, as in Spring Kafka: two live producers never share
    one, and a replacement for a discarded producer reuses its id, which fences any
    zombie still holding it. Pair it with `destroy`, which hands the id back.
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
        super().__init__(settings)
        if "transactional_id" in settings:
            raise ConfigError("transactional_id is assigned per producer; set the prefix instead")
        self.max_size = max_size
        self.transactional_id_prefix = transactional_id_prefix
        self._free = list(range(max_size - 1, -1, -1))  # pop() hands out the lowest id
        self._ids: weakref.WeakKeyDictionary[KafkaProducer, int] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        _transactional_factories.add(self)

    def prefix(self) -> str:
        """The stable prefix if set, else host + pid, read now so a forked child differs."""
        if self.transactional_id_prefix is not None:
            return self.transactional_id_prefix
        return f"{os.uname().nodename}-{os.getpid()}"

    def __call__(self) -> KafkaProducer:
        with self._lock:
            if not self._free:
                raise PoolError(
                    f"all {self.max_size} transactional ids are in use; "
                    "the pool's max_size must not exceed the factory's"
                )
            number = self._free.pop()
        try:
            producer = self._create(
                {**self.settings, "transactional_id": f"{self.prefix()}-{number}"}
            )
            producer.init_transactions()
        except BaseException:
            self._release(number)
            raise
        with self._lock:
            self._ids[producer] = number
        return producer

    def destroy(self, producer: object, timeout: float = DEFAULT_CLOSE_TIMEOUT) -> None:
        """Close the producer, then free its id for the replacement."""
        try:
            close_producer(producer, timeout)
        finally:
            with self._lock:
                number = (
                    self._ids.pop(producer, None) if isinstance(producer, KafkaProducer) else None
                )
            if number is not None:
                self._release(number)

    def _release(self, number: int) -> None:
        with self._lock:
            self._free.append(number)
            self._free.sort(reverse=True)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._free = list(range(self.max_size - 1, -1, -1))
        self._ids = weakref.WeakKeyDictionary()


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


def close_producer(producer: object, timeout: float = DEFAULT_CLOSE_TIMEOUT) -> None:
    """Flush, then close: the pool's destroy for Kafka producers.

    If messages cannot be delivered within `timeout`, the producer is force-closed
    (their futures fail), an error is logged, and `PoolCloseError` carries the count.
    """
    if not isinstance(producer, KafkaProducer):
        close = getattr(producer, "close", None)
        if callable(close):
            close()
        return
    try:
        producer.flush(timeout)
    except kafka_errors.KafkaTimeoutError:
        undelivered = _undelivered(producer)
        producer.close(timeout=0)  # force: fails the pending futures, so no caller is misled
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


def _undelivered(producer: KafkaProducer) -> int:
    batches = producer._accumulator._incomplete.all()
    return sum(batch.record_count for batch in batches)


def producer_is_healthy(producer: object) -> bool:
    """The pool's check: bootstrapped against the cluster and its sender thread alive.

    kafka-python 3 has no public liveness API (its `bootstrap_connected()` is true only
    *while* bootstrapping), hence the private attributes. Cheap: no network round trip.
    """
    if not isinstance(producer, KafkaProducer):
        return True
    sender = producer._sender
    return not producer._closed and sender.is_alive() and bool(sender._client._manager.bootstrapped)


def kafka_pool(
    settings: Mapping[str, Any],
    *,
    transactional: bool = False,
    transactional_id_prefix: str | None = None,
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    **pool_options: Any,
) -> ProducerPool[KafkaProducer]:
    """A pool wired with the Kafka factory, flush-and-close, health check and fatal errors."""
    max_size = pool_options.setdefault("max_size", 10)
    factory: KafkaProducerFactory
    destroy: Callable[[KafkaProducer], object]
    if transactional:
        factory = TransactionalProducerFactory(
            settings, max_size=max_size, transactional_id_prefix=transactional_id_prefix
        )
        destroy = functools.partial(factory.destroy, timeout=close_timeout)
    else:
        factory = KafkaProducerFactory(settings)
        destroy = functools.partial(close_producer, timeout=close_timeout)
    pool_options.setdefault("check", producer_is_healthy)
    pool_options.setdefault("discard_on", FATAL_PRODUCER_ERRORS)
    pool_options.setdefault("name", factory.bootstrap_servers)
    return ProducerPool(factory, destroy=destroy, **pool_options)


@contextmanager
def transaction(pool: ProducerPool[KafkaProducer]) -> Iterator[KafkaProducer]:
    """Lease a producer exclusively and run one transaction on it.

    Commits when the block succeeds, aborts and re-raises when it fails. A fatal error
    (fenced, say) is re-raised without abort, and the pool's `discard_on` drops the producer.
    """
    with pool.acquire() as producer:
        producer.begin_transaction()
        try:
            yield producer
        except FATAL_PRODUCER_ERRORS:
            raise
        except BaseException:
            producer.abort_transaction()
            raise
        producer.commit_transaction()


def create_topic(bootstrap_servers: str, name: str, partitions: int = 1) -> None:
    """Create a topic (tests and the demo); an existing one is left as it is."""
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers, bootstrap_timeout_ms=DEFAULT_BOOTSTRAP_TIMEOUT_MS
    )
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    except kafka_errors.TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def read_topic(
    bootstrap_servers: str,
    topic: str,
    *,
    isolation_level: str = "read_uncommitted",
    timeout: float = 30.0,
) -> list[Any]:
    """Every record in `topic`, read from the beginning with `assign()` (no group needed).

    Stops at the end of each partition once a poll comes back empty, so it also works
    with brokers whose reported end offset lags the last batch (tansu).
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        isolation_level=isolation_level,
        fetch_max_wait_ms=50,
        bootstrap_timeout_ms=DEFAULT_BOOTSTRAP_TIMEOUT_MS,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
            at_end = all(consumer.position(tp) >= end[tp] for tp in partitions)
            if at_end and not batch:
                return records
        raise PoolError(f"reading {topic} did not reach its end within {timeout:g}s")
    finally:
        consumer.close()


# Fork safety: a child must never flush or close the parent's producers. kafka-python would
# do both from `__del__` and an `atexit` hook, so those are disarmed in the child.
_producers: weakref.WeakSet[KafkaProducer] = weakref.WeakSet()
_transactional_factories: weakref.WeakSet[TransactionalProducerFactory] = weakref.WeakSet()


def _forget_in_forked_children(producer: KafkaProducer) -> None:
    _producers.add(producer)


def _disarm_inherited_producers() -> None:
    for producer in list(_producers):
        producer._unregister_cleanup()
        producer._closed = True
    _producers.clear()
    for factory in list(_transactional_factories):
        factory._reset_after_fork()


os.register_at_fork(after_in_child=_disarm_inherited_producers)
