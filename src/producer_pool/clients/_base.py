"""What every kit holds alike: its pool's delivery counts and transactional ids, the
producers it has marked broken, its bootstrap timeout, secrets kept out of its repr, and
the clock of a drain that close() can cut short while it runs."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from ..core import clock
from ..core.clock import Deadline
from ..core.options import PoolOptions
from ..core.stats import DeliveryCounts
from ..errors import BrokerUnavailable, ConfigError, TransactionTimeout
from ._servers import servers_problem
from .redact import Secrets
from .transactions import TransactionalIds

__all__ = ["DEFAULT_BOOTSTRAP_TIMEOUT_MS", "DrainClock", "KitBase", "is_broken"]

#: How long a new producer may take to prove the cluster answers (kafka-python waits 30 s
#: for a first bootstrap, librdkafka forever: a service should learn sooner that Kafka is
#: down). The kit's own option, `bootstrap_timeout_ms` in every client's settings.
DEFAULT_BOOTSTRAP_TIMEOUT_MS = 10_000

#: The attribute that marks a producer never to be leased again (kits build subclasses of
#: their client's producer, which take attributes).
_BROKEN = "_producer_pool_broken"


def is_broken(producer: object) -> bool:
    """Marked by `KitBase.mark_broken` (a commit that timed out or was cancelled, a fatal
    error its client reported): part of every kit's health check."""
    return getattr(producer, _BROKEN, False)


MODULE_NAMES = ("FATAL_ERRORS", "close", "is_healthy", "is_fatal", "send")
"""What every kit module defines at its top level, and `KitBase` binds on its kit class."""


class KitBase:
    """The state a kit keeps for the one pool it serves; see `ClientKit` for the contract.

    A kit never holds its producers: a producer holds its callbacks, and a reference back
    would make a cycle that keeps a closed producer alive until a garbage collection (a
    forked child that inherits that garbage may finalize the parent's producers and crash:
    20 children of 20 did). Marks go on the producer itself (`mark_broken`).
    """

    name: ClassVar[str]
    is_async: ClassVar[bool] = False
    settings_model: ClassVar[str | None] = None
    #: The kit module's own names, the same in every kit (`MODULE_NAMES`, bound on its
    #: kit class): its fatal errors, and `close(producer, timeout, *, deadline)`,
    #: `is_healthy(producer)`, `is_fatal(exc, producer)` (which tolerate objects that are
    #: not its producers), `send(producer, topic, value, key, headers)`.
    FATAL_ERRORS: ClassVar[tuple[type[BaseException], ...]] = ()
    #: The client's names of its servers and transactional id options.
    SERVERS_OPTION: ClassVar[str] = "bootstrap_servers"
    TRANSACTIONAL_ID_OPTION: ClassVar[str] = "transactional_id"
    close: ClassVar[Callable[..., Any]]
    is_healthy: ClassVar[Callable[..., bool]]
    is_fatal: ClassVar[Callable[..., bool]]
    send: ClassVar[Callable[..., Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Bind the kit module's own names on its kit class (functions as static methods),
        unless the class defines them itself: one set of names, used both ways."""
        super().__init_subclass__(**kwargs)
        module = vars(sys.modules[cls.__module__])
        for name in MODULE_NAMES:
            if name in module and name not in vars(cls):
                value = module[name]
                setattr(cls, name, staticmethod(value) if callable(value) else value)

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        transactional: bool = False,
        transactional_id_prefix: str | None = None,
        max_size: int | None = None,
    ) -> None:
        """`settings` are the client's own options plus `bootstrap_timeout_ms`; `max_size`
        sizes the transactional id set before a pool does (`attach`)."""
        options = dict(settings)
        timeout_ms = options.pop("bootstrap_timeout_ms", DEFAULT_BOOTSTRAP_TIMEOUT_MS)
        self.bootstrap_timeout = float(timeout_ms) / 1000
        self.secrets = Secrets(options)
        self.transactional = transactional
        self.requires_exclusive_leases = transactional
        self._prefix = transactional_id_prefix
        self.ids = (
            TransactionalIds(max_size, transactional_id_prefix)
            if transactional and max_size is not None
            else None
        )
        self.deliveries = DeliveryCounts()
        self._attached = False
        self.options = self._client_options(options)
        if not self.options.get(self.SERVERS_OPTION):
            raise ConfigError("bootstrap_servers is required")
        problem = servers_problem(self.options[self.SERVERS_OPTION])
        if problem is not None:
            raise ConfigError(f"bootstrap_servers: {problem}")
        if transactional and self.TRANSACTIONAL_ID_OPTION in self.options:
            raise ConfigError("transactional_id is assigned per producer; set the prefix instead")

    def _client_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The client's options, checked: a kit refuses what its client would."""
        return options

    @property
    def servers(self) -> str:
        servers = self.options[self.SERVERS_OPTION]
        return servers if isinstance(servers, str) else ",".join(servers)

    @property
    def settings(self) -> dict[str, Any]:
        """0.1's name for `options`."""
        return self.options

    # ------------------------------------------------------------------ the pool it serves

    def attach(self, max_size: int) -> None:
        """Serve one pool of at most `max_size` producers: size the transactional ids."""
        if self._attached:
            raise ConfigError(
                f"this {self.name} kit already serves a pool: build one kit per pool "
                "(a kit holds its pool's delivery counts and transactional ids)"
            )
        if self.transactional:
            if self.ids is None:
                self.ids = TransactionalIds(max_size, self._prefix)
            elif max_size > self.ids.size:
                raise ConfigError(
                    f"max_size must be <= {self.ids.size}, the kit's transactional id set "
                    f"(got {max_size})"
                )
        self._attached = True

    def _transactional_ids(self) -> TransactionalIds:
        """The id set, sized by the pool (or the default pool size, for a kit used alone)."""
        if self.ids is None:
            self.ids = TransactionalIds(PoolOptions().max_size, self._prefix)
        return self.ids

    @property
    def drain_timeout(self) -> float:
        """How long a retired producer may drain: its client's own delivery timeout."""
        raise NotImplementedError

    def destroy(
        self, producer: Any, timeout: float | None = None, *, deadline: Deadline | None = None
    ) -> Any:
        """Free the producer's transactional id, then `close` it (a coroutine for an
        asyncio kit), draining for `drain_timeout` (or `timeout`), never past `deadline`."""
        self._retiring(producer)
        return self.close(
            producer, self.drain_timeout if timeout is None else timeout, deadline=deadline
        )

    def _retiring(self, producer: object) -> None:
        """A producer leaves the pool: free its id for the replacement, forget its marks.
        Its id is freed as its destroy starts: it has no open transaction (its lease
        ended), so the replacement fencing it loses nothing."""
        if self.ids is not None:
            self.ids.release_for(producer)

    # ------------------------------------------------------------------ broken producers

    @staticmethod
    def mark_broken(producer: object) -> None:
        """Never lease `producer` again: its next check fails and the pool replaces it."""
        setattr(producer, _BROKEN, True)

    # ------------------------------------------------------------------ transactions

    #: The client's name of the transaction timeout, for errors.
    TRANSACTION_TIMEOUT_SETTING: ClassVar[str] = "transaction_timeout_ms"

    @property
    def transaction_timeout(self) -> float:
        """Seconds a transaction step may take: the client's transaction timeout."""
        raise NotImplementedError

    def _failure(self, exc: BaseException, what: str) -> BaseException:
        """What to raise for an error of a transaction step: the client's own, or
        `TransactionTimeout` for a step past the timeout."""
        return self._timed_out(what) if isinstance(exc, asyncio.TimeoutError) else exc

    def _timed_out(self, what: str) -> TransactionTimeout:
        return TransactionTimeout(
            f"transaction {what} did not finish within {self.transaction_timeout:g}s "
            f"({self.TRANSACTION_TIMEOUT_SETTING}): the producer is discarded"
        )

    @contextmanager
    def _step(self, producer: object, what: str) -> Iterator[None]:
        """Around a transaction step: on any failure or interruption (a task cancelled, a
        Ctrl-C) the transaction's state is unknown, so the producer is marked broken,
        never to be leased again, before the error goes on."""
        try:
            yield
        except BaseException as exc:
            self.mark_broken(producer)
            failure = self._failure(exc, what)
            if failure is exc:
                raise
            raise failure from exc

    def _end(self, producer: object, step: Callable[[float], object], what: str) -> None:
        """Run `step(timeout)`, which returns False if it did not finish in time."""
        with self._step(producer, what):
            if step(self.transaction_timeout) is False:
                raise asyncio.TimeoutError

    async def _aend(self, producer: object, step: Awaitable[object], what: str) -> None:
        """Await `step` within the timeout: a step that outlives it, or its task, may go on
        without it (in a client's thread), so the producer is marked broken then too."""
        with self._step(producer, what):
            await asyncio.wait_for(step, self.transaction_timeout)

    async def _started(
        self,
        start: Awaitable[object],
        stop: Callable[[], Awaitable[object]],
        unreachable: tuple[type[BaseException], ...],
    ) -> None:
        """Await a new producer's `start`, bounded by the caller; on any failure `stop()` it
        (a cancelled start too: no thread or connection is left behind), and raise
        `BrokerUnavailable` for the client's errors of a cluster that did not answer."""
        try:
            await start
        except unreachable as exc:
            await stop()
            raise self._unavailable(exc if str(exc) else "no answer") from None
        except BaseException:
            await stop()
            raise

    # ------------------------------------------------------------------ errors, repr

    def _unavailable(self, cause: object) -> BrokerUnavailable:
        """The one error for a cluster that did not answer in time; secrets scrubbed."""
        waited = f"{self.bootstrap_timeout * 1000:g} ms"
        reason = self.secrets.scrub(str(cause) or type(cause).__name__)
        return BrokerUnavailable.within(self.servers, waited, reason)

    def __repr__(self) -> str:
        transactional = " transactional" if self.transactional else ""
        return f"<{type(self).__name__}{transactional} {self.secrets.redact(self.options)!r}>"


#: How often a drain looks at its deadline again: close() cuts a drain short within this.
_DRAIN_SLICE = 0.1
#: Share of the drain's time kept for the clean-up (purge, stop, close) when it runs out.
_CLEANUP_SHARE = 0.2
_CLEANUP_MAX = 1.0


class DrainClock:
    """How long a destroy may still drain: until the producer's own delivery timeout or
    the pool's close `deadline`, whichever comes first, read again on every slice.

    The pool brings `deadline` forward when close() starts, while a retired producer may
    already be draining: a drain that read its deadline once outlived the close, which
    then returned without reporting the messages still pending. When the end moves, a
    share of what is left is kept for the clean-up, so the destroy ends by the deadline.
    """

    __slots__ = ("_close", "_end", "_own", "_reserve")

    def __init__(self, timeout: float, deadline: Deadline | None) -> None:
        self._own = Deadline(timeout)
        self._close = deadline
        self._end = -1.0
        self._reserve = 0.0

    def remaining(self) -> float:
        """Seconds until the destroy must have ended (clean-up included)."""
        own = self._own.remaining()
        return own if self._close is None else min(own, self._close.remaining())

    def next_slice(self) -> float:
        """Seconds to drain next (at most a slice); 0 once the drain must stop."""
        remaining = self.remaining()
        end = clock.monotonic() + remaining
        if abs(end - self._end) > 1e-3:  # the first slice, or close() moved the end
            self._end = end
            self._reserve = min(_CLEANUP_MAX, remaining * _CLEANUP_SHARE)
        return max(0.0, min(_DRAIN_SLICE, remaining - self._reserve))
