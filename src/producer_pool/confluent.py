"""confluent-kafka (librdkafka) factories with the same contract as `producer_pool.kafka`.

Settings may use kafka-python's names (`bootstrap_servers`, `linger_ms`) or librdkafka's
(`bootstrap.servers`): both map to librdkafka's. Producers serve their delivery callbacks
only when polled, so publish code calls `producer.poll(0)` after `produce()`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

try:
    from confluent_kafka import KafkaException, Producer
except ImportError as exc:
    raise ImportError(
        f"producer_pool.confluent needs the 'confluent' extra ({exc.name} is missing): "
        "pip install 'producer-pool[confluent]'"
    ) from exc

from ._clock import Deadline
from ._fork import reset_after_fork
from ._options import DEFAULTS
from ._redact import redact
from .errors import BrokerUnavailable, ConfigError, PoolCloseError
from .pool import ProducerPool, close_object
from .stats import DeliveryCounts
from .transactions import TransactionalIds

__all__ = [
    "ConfluentProducerFactory",
    "close_confluent_producer",
    "confluent_pool",
    "confluent_producer_factory",
    "is_fatal",
    "librdkafka_config",
]

logger = logging.getLogger("producer_pool")

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
        holder: list[Producer] = []

        def on_error(error: Any) -> None:
            if error.fatal() and holder:
                with self._lock:
                    self._fatal.add(id(holder[0]))

        user_on_delivery = config.get("on_delivery")

        def on_delivery(error: Any, message: Any) -> None:
            if error is None:
                self.deliveries.on_delivered()
            else:
                self.deliveries.on_failed()
            if user_on_delivery is not None:
                user_on_delivery(error, message)

        producer = Producer({**config, "error_cb": on_error, "on_delivery": on_delivery})
        holder.append(producer)
        try:
            producer.list_topics(timeout=self.bootstrap_timeout)
            if "transactional.id" in config:
                producer.init_transactions(self.bootstrap_timeout)
        except KafkaException as exc:
            producer.close()
            waited = f"{self.bootstrap_timeout:g}s"
            raise BrokerUnavailable.within(config["bootstrap.servers"], waited, exc) from None
        return producer

    def is_healthy(self, producer: object) -> bool:
        """The pool's check: no fatal error was reported for this producer."""
        with self._lock:
            return id(producer) not in self._fatal

    def destroy(
        self, producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
    ) -> None:
        if self.ids is not None:
            self.ids.release_for(producer)
        if timeout is None:  # drain for the producer's own message timeout
            timeout = float(self.config.get("message.timeout.ms", DEFAULT_MESSAGE_TIMEOUT * 1000))
            timeout /= 1000
        try:
            close_confluent_producer(producer, timeout, deadline=deadline)
        finally:
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
    if timeout is None:
        timeout = DEFAULT_MESSAGE_TIMEOUT
    if deadline is not None:
        timeout = min(timeout, deadline.remaining())
    undelivered = producer.flush(timeout)
    if undelivered:
        producer.purge()  # fail their delivery callbacks rather than drop them unseen
        producer.poll(0)
        producer.close()
        logger.error("confluent producer closed with %d undelivered message(s)", undelivered)
        raise PoolCloseError(
            f"{undelivered} message(s) undelivered after {timeout:g}s", undelivered=undelivered
        )
    producer.close()


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
    pool_options.setdefault("check", factory.is_healthy)
    pool_options.setdefault("discard_on", (KafkaException,) if transactional else ())
    pool_options.setdefault("name", str(factory.config["bootstrap.servers"]))
    pool_options.setdefault("deliveries", factory.deliveries)
    return ProducerPool(factory, destroy=factory.destroy, **pool_options)
