"""One exception hierarchy rooted at `PoolError`, so callers can catch at any level."""

from __future__ import annotations

from collections.abc import Sequence


class PoolError(Exception):
    """Root of every error this library raises."""


class ConfigError(PoolError, ValueError):
    """A pool argument or configuration value is invalid; the message names it."""


class PoolTimeout(PoolError, TimeoutError):
    """No object became available within the acquire timeout."""


class PoolClosed(PoolError):
    """The pool is closed (or closing) and hands out nothing more."""


class TooManyWaiters(PoolError):
    """`max_waiting` callers already wait: shed load instead of queueing forever."""


class PoolCloseError(PoolError):
    """Closing the pool could not release every object cleanly.

    `undelivered` is the number of accepted messages that could not be delivered
    (zero for non-Kafka objects); `errors` holds each underlying exception.
    """

    def __init__(
        self, message: str, *, undelivered: int = 0, errors: Sequence[BaseException] = ()
    ) -> None:
        super().__init__(message)
        self.undelivered = undelivered
        self.errors = tuple(errors)


class TransactionTimeout(PoolError, TimeoutError):
    """A transaction's commit or abort did not finish within its timeout: its outcome is
    unknown, so the producer was discarded (a replacement fences it)."""


class BrokerUnavailable(PoolError, ConnectionError):
    """No producer could be created: the bootstrap servers did not answer in time."""

    @classmethod
    def within(cls, servers: object, waited: str, cause: object) -> BrokerUnavailable:
        """The one wording, for both clients: `waited` is the timeout as configured."""
        return cls(f"cannot reach Kafka at {servers} within {waited}: {cause}")


def missing_extra(subject: str, extra: str, exc: ImportError, *, plural: bool = False) -> str:
    """The one line for a feature whose optional dependency is absent, worded here once for
    every guard: what needs which extra, the module that failed to import, and the command
    that installs the extra (getting-started.md gives the form for a clone). `exc` may be
    a guard's own ImportError, which names no module: then its cause names it."""
    needs = "need" if plural else "needs"
    missing = exc.name or getattr(exc.__cause__, "name", None)
    return (
        f"{subject} {needs} the '{extra}' extra ({missing} is missing): "
        f"pip install 'producer-pool[{extra}]'"
    )
