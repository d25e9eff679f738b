"""confluent-kafka (librdkafka) factories with the same contract as `producer_pool.kafka`.

Settings may use kafka-python's names (`bootstrap_servers`, `linger_ms`) or librdkafka's
(`bootstrap.servers`): both map to librdkafka's. Producers serve their delivery callbacks
only when polled, so publish code calls `producer.poll(0)` after `produce()`.

For asyncio services, `confluent_async_pool` leases `confluent_kafka.aio.AIOProducer`s from an
`AsyncProducerPool`, transactional ones included, and `transaction(pool)` works with both.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, overload

try:
    from confluent_kafka import KafkaException, Producer
    from confluent_kafka.aio import AIOProducer
except ImportError as exc:
    raise ImportError(
        f"producer_pool.confluent needs the 'confluent' extra ({exc.name} is missing): "
        "pip install 'producer-pool[confluent]'"
    ) from exc

from ..core.async_pool import AsyncProducerPool, settled
from ..core.clock import Deadline, drain_time, split_for_cleanup
from ..core.control import close_object
from ..core.fork import reset_after_fork
from ..core.options import DEFAULTS
from ..core.pool import ProducerPool
from ..core.stats import DeliveryCounts
from ..errors import BrokerUnavailable, ConfigError, PoolCloseError
from .redact import redact
from .transactions import TransactionalIds, async_transaction
from .transactions import transaction as generic_transaction

__all__ = [
    "AIOProducerFactory",
    "ConfluentProducerFactory",
    "close_aio_producer",
    "close_confluent_producer",
    "confluent_async_pool",
    "confluent_pool",
    "confluent_producer_factory",
    "is_fatal",
    "librdkafka_config",
    "transaction",
]

logger = logging.getLogger("producer_pool")
#: Where librdkafka's own log lines go (a `logger` setting overrides it).
LIBRDKAFKA_LOGGER = logging.getLogger("confluent_kafka")

DEFAULT_BOOTSTRAP_TIMEOUT = 10.0
#: librdkafka's default `message.timeout.ms`: how long a retired producer may drain.
DEFAULT_MESSAGE_TIMEOUT = 300.0

#: kafka-python names whose librdkafka name is not just `_` -> `.`.
_ALIASES = {
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
    "ssl_certfile": "ssl.certificate.location",
    "ssl_keyfile": "ssl.key.location",
    "transactional_id": "transactional.id",
}


#: confluent-kafka's own Python-level options: their names are not librdkafka's.
_PYTHON_OPTIONS = {"on_delivery", "error_cb", "stats_cb", "throttle_cb", "oauth_cb", "logger"}


def librdkafka_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Translate kafka-python-style names to librdkafka's; dotted names pass through."""
    return {
        key if key in _PYTHON_OPTIONS else _ALIASES.get(key, key.replace("_", ".")): value
        for key, value in settings.items()
    }


def is_fatal(exc: BaseException, producer: object = None) -> bool:
    """A librdkafka error after which the producer must be discarded (fenced, say)."""
    if not isinstance(exc, KafkaException) or not exc.args:
        return False
    error = exc.args[0]
    return bool(getattr(error, "fatal", lambda: False)())


class ConfluentProducerFactory:
    """Builds a `confluent_kafka.Producer` and proves the cluster answers, within a timeout.

    librdkafka connects lazily, so without the metadata request a dead broker would only
    show up as messages that never get delivered.
    """

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        bootstrap_timeout: float = DEFAULT_BOOTSTRAP_TIMEOUT,
        transactional_ids: TransactionalIds | None = None,
    ) -> None:
        self.config = librdkafka_config(settings)
        if not self.config.get("bootstrap.servers"):
            raise ConfigError("bootstrap_servers is required")
        if transactional_ids is not None and "transactional.id" in self.config:
            raise ConfigError("transactional_id is assigned per producer; set the prefix instead")
        self.bootstrap_timeout = bootstrap_timeout
        self.ids = transactional_ids
        self.requires_exclusive_leases = transactional_ids is not None
        self.deliveries = DeliveryCounts()
        self._reset_fatal()
        reset_after_fork(self, ConfluentProducerFactory._reset_fatal)

    def _reset_fatal(self) -> None:
        """A fresh lock and set: a forked child has none of its parent's producers."""
        self._fatal: set[int] = set()
        self._lock = threading.Lock()

    def __call__(self) -> Producer:
        if self.ids is None:
            return self._create(self.config)
        return self.ids.create(lambda tid: self._create({**self.config, "transactional.id": tid}))

    def _create(self, config: dict[str, Any]) -> Producer:
        identity: list[int] = []
        producer = Producer(self._with_callbacks(config, identity))
        identity.append(id(producer))
        try:
            producer.list_topics(timeout=self.bootstrap_timeout)
            if "transactional.id" in config:
                producer.init_transactions(self.bootstrap_timeout)
        except KafkaException as exc:
            producer.close()
            raise self._unavailable(exc) from None
        return producer

    def _with_callbacks(self, config: dict[str, Any], identity: list[int]) -> dict[str, Any]:
        """`config` plus the callbacks that count deliveries and note fatal errors.

        The error callback knows its producer by `id()` (filled in once it exists), never
        by reference: a producer holds its callbacks, so a reference back would make a
        cycle, and a closed producer would linger until a garbage collection. A forked
        child that inherits that garbage finalizes the parent's AIOProducers at its first
        collection and crashes (20 children of 20 did).
        """

        def on_error(error: Any) -> None:
            if error.fatal() and identity:
                with self._lock:
                    self._fatal.add(identity[0])

        user_on_delivery = config.get("on_delivery")

        def on_delivery(error: Any, message: Any) -> None:
            self._count(error)
            if user_on_delivery is not None:
                user_on_delivery(error, message)

        # librdkafka logs to stderr unless given a logger: route it to Python's logging.
        return {
            "logger": LIBRDKAFKA_LOGGER,
            **config,
            "error_cb": on_error,
            "on_delivery": on_delivery,
        }

    def _count(self, error: object) -> None:
        if error is None:
            self.deliveries.on_delivered()
        else:
            self.deliveries.on_failed()

    def _unavailable(self, cause: object) -> BrokerUnavailable:
        waited = f"{self.bootstrap_timeout:g}s"
        return BrokerUnavailable.within(self.config["bootstrap.servers"], waited, cause)

    def is_healthy(self, producer: object) -> bool:
        """The pool's check: no fatal error was reported for this producer."""
        with self._lock:
            return id(producer) not in self._fatal

    def destroy(
        self, producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
    ) -> None:
        try:
            close_confluent_producer(producer, self._retiring(producer, timeout), deadline=deadline)
        finally:
            self._forget(producer)

    def _retiring(self, producer: object, timeout: float | None) -> float:
        """Free the producer's id for its replacement; return how long it may drain: by
        default its own message timeout."""
        if self.ids is not None:
            self.ids.release_for(producer)
        if timeout is not None:
            return timeout
        return float(self.config.get("message.timeout.ms", DEFAULT_MESSAGE_TIMEOUT * 1000)) / 1000

    def _forget(self, producer: object) -> None:
        with self._lock:
            self._fatal.discard(id(producer))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.config)!r})"


def confluent_producer_factory(settings: Mapping[str, Any]) -> ConfluentProducerFactory:
    return ConfluentProducerFactory(settings)


def close_confluent_producer(
    producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
) -> None:
    """Flush, then close; `PoolCloseError` with the count when messages stay undelivered.

    As for kafka-python: a retired producer drains for librdkafka's own message timeout
    (`timeout` None), and the pool's `close()` cuts that short with `deadline`.
    """
    if not isinstance(producer, Producer):
        close_object(producer)
        return
    timeout = drain_time(timeout, DEFAULT_MESSAGE_TIMEOUT, deadline)
    undelivered = producer.flush(timeout)
    if undelivered:
        producer.purge()  # fail their delivery callbacks rather than drop them unseen
        producer.poll(0)
    producer.close()
    _report_undelivered(undelivered, timeout)


def _report_undelivered(undelivered: int, timeout: float) -> None:
    if undelivered:
        logger.error("confluent producer closed with %d undelivered message(s)", undelivered)
        raise PoolCloseError(
            f"{undelivered} message(s) undelivered after {timeout:g}s", undelivered=undelivered
        )


def confluent_pool(
    settings: Mapping[str, Any],
    *,
    transactional: bool = False,
    transactional_id_prefix: str | None = None,
    bootstrap_timeout: float = DEFAULT_BOOTSTRAP_TIMEOUT,
    **pool_options: Any,
) -> ProducerPool[Producer]:
    """A pool of librdkafka producers wired like `producer_pool.kafka.kafka_pool`."""
    max_size = pool_options.setdefault("max_size", DEFAULTS["max_size"])
    ids = TransactionalIds(max_size, transactional_id_prefix) if transactional else None
    factory = ConfluentProducerFactory(
        settings, bootstrap_timeout=bootstrap_timeout, transactional_ids=ids
    )
    return ProducerPool(factory, destroy=factory.destroy, **_wiring(factory, pool_options))


def _wiring(factory: ConfluentProducerFactory, pool_options: dict[str, Any]) -> dict[str, Any]:
    """Both pools' options around a factory: check, fatal-error discard, name, counts."""
    transactional = factory.ids is not None
    pool_options.setdefault("check", factory.is_healthy)
    pool_options.setdefault("discard_on", (KafkaException,) if transactional else ())
    pool_options.setdefault("name", str(factory.config["bootstrap.servers"]))
    pool_options.setdefault("deliveries", factory.deliveries)
    return pool_options


# ---------------------------------------------------------------------- asyncio


class CountingAIOProducer(AIOProducer):
    """An `AIOProducer` that reports each message's delivery result (from the future
    `produce()` returns) to its factory, like the sync producers' `on_delivery`.

    The caller gets a shield of that future: a caller that cancels it (a request cut
    short while awaiting its ack) would otherwise cancel AIOProducer's own future, whose
    result is then dropped, and a delivered message would be counted as undelivered.
    """

    def __init__(self, count: Callable[[object], None], config: dict[str, Any]) -> None:
        """`count(error)` gets None for a delivered message."""
        self._count_delivery = count
        super().__init__(config, buffer_timeout=_AIO_BUFFER_TIMEOUT)

    async def produce(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        delivery: asyncio.Future[Any] = await super().produce(*args, **kwargs)
        delivery.add_done_callback(self._counted)
        return asyncio.shield(delivery)

    def _counted(self, future: asyncio.Future[Any]) -> None:
        failed = future.cancelled() or future.exception() is not None
        self._count_delivery(future if failed else None)


#: How long AIOProducer buffers a message before handing it to librdkafka (its default is
#: 1 s, a second of latency for every lone message a request publishes).
_AIO_BUFFER_TIMEOUT = 0.005


class AIOProducerFactory(ConfluentProducerFactory):
    """Async factory of `confluent_kafka.aio.AIOProducer`s with the sync factory's contract:
    the cluster must answer within `bootstrap_timeout`, bounded transactional ids, fatal
    errors noted for the check, deliveries counted, a destroy bounded by close's deadline."""

    async def __call__(self) -> AIOProducer:  # type: ignore[override]
        if self.ids is None:
            return await self._create_async(self.config)
        return await self.ids.acreate(
            lambda tid: self._create_async({**self.config, "transactional.id": tid})
        )

    async def _create_async(self, config: dict[str, Any]) -> AIOProducer:
        identity: list[int] = []
        callbacks = self._with_callbacks(config, identity)
        del callbacks["on_delivery"]  # AIOProducer resolves a future per message instead
        note_fatal = callbacks["error_cb"]

        async def on_error(error: Any) -> None:  # AIOProducer runs error_cb on the loop
            note_fatal(error)

        callbacks["error_cb"] = on_error
        producer = CountingAIOProducer(self._count, callbacks)
        identity.append(id(producer))
        try:
            await producer.list_topics(timeout=self.bootstrap_timeout)
            if "transactional.id" in config:
                await producer.init_transactions(self.bootstrap_timeout)
        except KafkaException as exc:
            await producer.close()
            raise self._unavailable(exc) from None
        except BaseException:
            await producer.close()
            raise
        return producer

    async def destroy(  # type: ignore[override]
        self, producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
    ) -> None:
        try:
            await close_aio_producer(producer, self._retiring(producer, timeout), deadline=deadline)
        finally:
            self._forget(producer)


async def close_aio_producer(
    producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
) -> None:
    """`close_confluent_producer` for an `AIOProducer`: flush within the time left, purge
    what is left (failing its futures), close; `PoolCloseError` with the count."""
    if not isinstance(producer, AIOProducer):
        await settled(close_object(producer))
        return
    timeout = drain_time(timeout, DEFAULT_MESSAGE_TIMEOUT, deadline)
    drain, _ = split_for_cleanup(timeout)  # the rest is for purge and close
    undelivered = await producer.flush(drain)
    if undelivered:
        await producer.purge()
        await producer.poll(0)
    await producer.close()
    _report_undelivered(undelivered, timeout)


def confluent_async_pool(
    settings: Mapping[str, Any],
    *,
    transactional: bool = False,
    transactional_id_prefix: str | None = None,
    bootstrap_timeout: float = DEFAULT_BOOTSTRAP_TIMEOUT,
    **pool_options: Any,
) -> AsyncProducerPool[AIOProducer]:
    """An `AsyncProducerPool` of `AIOProducer`s, wired like `confluent_pool`."""
    max_size = pool_options.setdefault("max_size", DEFAULTS["max_size"])
    ids = TransactionalIds(max_size, transactional_id_prefix) if transactional else None
    factory = AIOProducerFactory(
        settings, bootstrap_timeout=bootstrap_timeout, transactional_ids=ids
    )
    return AsyncProducerPool(factory, destroy=factory.destroy, **_wiring(factory, pool_options))


@overload
def transaction(
    pool: AsyncProducerPool[AIOProducer],
) -> AbstractAsyncContextManager[AIOProducer]: ...
@overload
def transaction(pool: ProducerPool[Producer]) -> AbstractContextManager[Producer]: ...
def transaction(pool: Any) -> Any:
    """`with transaction(pool)` (or `async with`, for an async pool) commits or aborts; after
    a fatal error (fenced) it re-raises without aborting, and the pool drops the producer."""
    if isinstance(pool, AsyncProducerPool):
        return async_transaction(pool, is_fatal=is_fatal, translate=_unwrap_system_error)
    return generic_transaction(pool, is_fatal=is_fatal)


def _unwrap_system_error(exc: Exception) -> Exception:
    """A fence as the `KafkaException` it is.

    confluent-kafka 2.16's AIOProducer resolves delivery futures from its worker thread;
    when a commit's flush meets a fatal error, that surfaces as a `SystemError` whose cause
    is the `KafkaException`.
    """
    if isinstance(exc, SystemError) and isinstance(exc.__cause__, KafkaException):
        return exc.__cause__
    return exc
