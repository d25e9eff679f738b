"""What the confluent-kafka kits share (`confluent` for `Producer`, `confluent_aio` for
`AIOProducer`): the client's import (one line naming the extra when it is missing),
librdkafka's option names, the bounded start's callbacks, the fatal errors, and what a
failed commit leaves."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import Any

from ..errors import PoolCloseError, TransactionTimeout, missing_extra

try:
    from confluent_kafka import KafkaError, KafkaException, Producer
    from confluent_kafka.aio import AIOProducer
except ImportError as exc:
    raise ImportError(missing_extra("the confluent kits", "confluent", exc, plural=True)) from exc

from ._base import KitBase, is_broken
from .redact import Secrets, reveal

__all__ = [
    "FATAL_ERRORS",
    "AIOProducer",
    "ConfluentKitBase",
    "KafkaException",
    "Producer",
    "is_fatal",
    "is_healthy",
    "librdkafka_config",
    "report_undelivered",
    "timed_out",
    "with_bootstrap_timeout",
]

logger = logging.getLogger("producer_pool")
#: Where librdkafka's own log lines go (a `logger` setting overrides it).
LIBRDKAFKA_LOGGER = logging.getLogger("confluent_kafka")

#: librdkafka's defaults: how long a message may take to be delivered (a retired producer
#: drains as long), and how long a transaction may stay open (commit and abort wait as long).
DEFAULT_MESSAGE_TIMEOUT_MS = 300_000
DEFAULT_TRANSACTION_TIMEOUT_MS = 60_000

FATAL_ERRORS: tuple[type[BaseException], ...] = (TransactionTimeout,)
"""Errors after which a producer must never be used again: the pool discards it. A fatal
librdkafka error (fenced, say) is a `KafkaException` like any other: librdkafka reports it to
the error callback, which marks the producer, and the check replaces it."""

#: kafka-python names whose librdkafka name is not just `_` -> `.`.
_ALIASES = {
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
    "ssl_certfile": "ssl.certificate.location",
    "ssl_keyfile": "ssl.key.location",
    "transactional_id": "transactional.id",
}

#: Names kept as they are: confluent-kafka's own Python-level options, and librdkafka's own
#: properties spelt with `_` (`log_level` is not `log.level`).
_KEPT = {
    "on_delivery", "error_cb", "stats_cb", "throttle_cb", "oauth_cb", "logger", "log_level",
    "enabled_events",
}  # fmt: skip


def librdkafka_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Translate kafka-python-style names to librdkafka's; dotted names pass through."""
    return {
        key if key in _KEPT else _ALIASES.get(key, key.replace("_", ".")): value
        for key, value in settings.items()
    }


def is_fatal(exc: BaseException, producer: object = None) -> bool:
    """A librdkafka error after which the producer is done for (fenced, say), or a
    producer marked broken."""
    if isinstance(exc, FATAL_ERRORS) or (producer is not None and is_broken(producer)):
        return True
    if isinstance(exc, SystemError) and isinstance(exc.__cause__, KafkaException):
        exc = exc.__cause__  # AIOProducer's worker thread wraps what it resolves a future with
    error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return bool(getattr(error, "fatal", lambda: False)())


def is_healthy(producer: object) -> bool:
    """The pool's check: no fatal error was reported for the producer, no commit of it
    timed out. Cheap: an attribute read."""
    return not is_broken(producer)


def timed_out(exc: BaseException) -> bool:
    """librdkafka gave up waiting (a commit or abort whose timeout passed)."""
    error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return getattr(error, "code", lambda: None)() == KafkaError._TIMED_OUT


class _ScrubbingLogger:
    """librdkafka's log lines, with this producer's secrets hidden (its debug contexts
    can print configuration)."""

    def __init__(self, logger: logging.Logger, secrets: Secrets) -> None:
        self._logger = logger
        self._secrets = secrets

    def log(self, level: int, message: str, *args: Any) -> None:
        self._logger.log(level, self._secrets.scrub(message % args if args else message))


class ConfluentKitBase(KitBase):
    """What the `Producer` and `AIOProducer` kits share: librdkafka's names, the bounded
    start, the callbacks that count and that mark a producer fatally broken."""

    SERVERS_OPTION = "bootstrap.servers"
    TRANSACTIONAL_ID_OPTION = "transactional.id"
    TRANSACTION_TIMEOUT_SETTING = "transaction.timeout.ms"

    def _client_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return librdkafka_config(options)

    @property
    def config(self) -> dict[str, Any]:
        """0.1's name for `options`."""
        return self.options

    def _milliseconds(self, *names: str, default: int) -> float:
        """The first of librdkafka's aliases set, in seconds."""
        for name in names:
            if name in self.options:
                return float(self.options[name]) / 1000
        return default / 1000

    @property
    def drain_timeout(self) -> float:
        """How long a retired producer may drain: its own message timeout."""
        return self._milliseconds(
            "message.timeout.ms", "delivery.timeout.ms", default=DEFAULT_MESSAGE_TIMEOUT_MS
        )

    @property
    def transaction_timeout(self) -> float:
        return self._milliseconds("transaction.timeout.ms", default=DEFAULT_TRANSACTION_TIMEOUT_MS)

    def _producer_config(self, transactional_id: str | None) -> dict[str, Any]:
        """The config to build a producer with, secrets revealed, callbacks not yet set."""
        config = reveal(self.options)
        if transactional_id is not None:
            config["transactional.id"] = transactional_id
        # librdkafka logs to stderr unless given a logger: route it to Python's logging.
        config.setdefault("logger", LIBRDKAFKA_LOGGER)
        if self.secrets and isinstance(config["logger"], logging.Logger):
            config["logger"] = _ScrubbingLogger(config["logger"], self.secrets)
        return config

    def _count(self, error: object) -> None:
        if error is None:
            self.deliveries.on_delivered()
        else:
            self.deliveries.on_failed()

    def _with_error_callback(
        self, config: dict[str, Any], producer_ref: list[weakref.ref[Any]]
    ) -> dict[str, Any]:
        """`config` with an error callback that marks its producer broken on a fatal error
        (and calls the caller's own). It holds the producer weakly: a producer holds its
        callbacks, and a strong reference back would make a cycle."""
        user_error_cb = config.get("error_cb")
        mark_broken = self.mark_broken

        def on_error(error: Any) -> None:
            if error.fatal() and producer_ref:
                producer = producer_ref[0]()
                if producer is not None:
                    mark_broken(producer)
            if user_error_cb is not None:
                user_error_cb(error)

        return {**config, "error_cb": on_error}

    def _failure(self, exc: BaseException, what: str) -> BaseException:
        """librdkafka's timeout as `TransactionTimeout`; a fence as the `KafkaException` it is
        (confluent-kafka 2.16's AIOProducer resolves futures from its worker thread, and a
        fatal error there surfaces as a `SystemError` whose cause is the `KafkaException`)."""
        if isinstance(exc, SystemError) and isinstance(exc.__cause__, KafkaException):
            return exc.__cause__
        return self._timed_out(what) if timed_out(exc) else super()._failure(exc, what)


def report_undelivered(undelivered: int) -> None:
    """After a close: `PoolCloseError` with the count of messages left undelivered."""
    if undelivered:
        logger.error("confluent producer closed with %d undelivered message(s)", undelivered)
        raise PoolCloseError(f"{undelivered} message(s) undelivered", undelivered=undelivered)


def with_bootstrap_timeout(settings: Mapping[str, Any], seconds: float | None) -> dict[str, Any]:
    """0.1's `bootstrap_timeout=` (seconds) as the kits' `bootstrap_timeout_ms` setting."""
    if seconds is None:
        return dict(settings)
    return {**settings, "bootstrap_timeout_ms": seconds * 1000}
