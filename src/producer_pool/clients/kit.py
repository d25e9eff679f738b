"""The one contract every Kafka client implements (a *kit*), and the kits by name.

A kit is a pool's factory for one client, plus everything the pool needs around that
client's producers: a destroy that drains within a deadline `close()` may bring forward
while it runs, health and fatal-state checks, delivery counts no caller argument can
bypass, bounded transactions, and how one message is sent (what the publishers call).
The pools and the publishers never ask which client they hold: `pool(kit)` and
`async_pool(kit)` (`producer_pool.clients.pools`) wire any kit the same way, so a fifth
client is one new module implementing `ClientKit` (or `AsyncClientKit`) and one line in
`KITS`.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, TypeVar, Union

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..core.clock import Deadline
    from ..core.stats import DeliveryCounts

__all__ = [
    "KITS",
    "AnyKit",
    "AsyncClientKit",
    "ClientKit",
    "Header",
    "Kit",
    "KitEntry",
    "kit_class",
    "register_kit",
    "settings_model",
]

P = TypeVar("P")
P_contra = TypeVar("P_contra", contravariant=True)

Header = tuple[str, bytes]
"""A Kafka record header: its name and its value."""


class Kit(Protocol[P_contra]):
    """What every kit has, threaded (`ClientKit`) or asyncio (`AsyncClientKit`): the parts
    that do no I/O.

    A kit is built from the client's own settings (its option names, plus
    `bootstrap_timeout_ms`), `transactional=` and `transactional_id_prefix=`. One kit serves
    one pool: it holds that pool's delivery counts and transactional ids.
    """

    name: ClassVar[str]
    """The kit's name in `KITS` and in YAML (`kafka.client:`)."""
    is_async: ClassVar[bool]
    """True: an `AsyncClientKit` (its pool is `async_pool(kit)`); False: a `ClientKit`."""
    settings_model: ClassVar[str | None]
    """"module:Class" of the pydantic model of the client's settings (the wiring's)."""
    FATAL_ERRORS: ClassVar[tuple[type[BaseException], ...]]
    """Errors after which a producer must never be used again: the pool discards it."""

    deliveries: DeliveryCounts
    requires_exclusive_leases: bool
    """Transactional producers must never be shared (share mode is refused)."""

    @property
    def servers(self) -> str:
        """The bootstrap servers, for the pool's default name and for errors."""
        ...

    def attach(self, max_size: int) -> None:
        """The pool this kit serves holds at most `max_size` producers (the transactional
        id set's size); a second pool is refused."""
        ...

    def is_healthy(self, producer: P_contra) -> bool:
        """The pool's check on every reuse: alive and in no fatal state. No network I/O."""
        ...

    def is_fatal(self, exc: BaseException, producer: P_contra | None = None) -> bool:
        """Whether `exc` (or `producer`'s state) means the producer is done for."""
        ...

    def mark_broken(self, producer: P_contra) -> None:
        """Never lease `producer` again: its next check fails and the pool replaces it."""
        ...


class ClientKit(Kit[P], Protocol[P]):
    """A threaded client's kit: `ProducerPool(kit, ...)` through `pool(kit)`; its methods
    block (within bounds) and its producers are used from threads."""

    def __call__(self) -> P:
        """A new producer that has proven the cluster answers, within the bootstrap
        timeout; `BrokerUnavailable` otherwise."""
        ...

    def destroy(self, producer: P, *, deadline: Deadline | None = None) -> None:
        """Drain, then close: until the producer's own delivery timeout or `deadline`,
        whichever comes first, read again while draining (close() moves it). What is left
        is failed (its futures or callbacks see it) and counted; `PoolCloseError` then."""
        ...

    def send(
        self,
        producer: P,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[Header] = (),
    ) -> Any:
        """Send one message the client's way (what `EventPublisher` calls); returns its
        delivery future, the client's own (kafka-python's `FutureRecordMetadata`; for
        confluent a `concurrent.futures.Future` of the message), resolved without the
        caller's help once the broker answers."""
        ...

    def begin(self, producer: P) -> None:
        """Begin a transaction."""
        ...

    def commit(self, producer: P) -> None:
        """Commit within the transaction timeout; past it, the producer is marked broken
        (never leased again) and `TransactionTimeout` is raised."""
        ...

    def abort(self, producer: P) -> None:
        """Abort, bounded like `commit`."""
        ...


class AsyncClientKit(Kit[P], Protocol[P]):
    """An asyncio client's kit: `AsyncProducerPool(kit, ...)` through `async_pool(kit)`.

    The same contract as `ClientKit`, with coroutines for what does I/O.
    """

    async def __call__(self) -> P: ...

    async def destroy(self, producer: P, *, deadline: Deadline | None = None) -> None: ...

    async def send(
        self,
        producer: P,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[Header] = (),
    ) -> Awaitable[Any]:
        """Queue one message (what `AsyncEventPublisher` awaits under its lease); returns
        an awaitable of the broker's acknowledgement, awaited after the lease ended."""
        ...

    async def begin(self, producer: P) -> None: ...

    async def commit(self, producer: P) -> None:
        """As `ClientKit.commit`; a task cancelled during the commit also marks the producer
        broken, so the next caller never gets a producer with a transaction open."""
        ...

    async def abort(self, producer: P) -> None: ...


AnyKit = Union["ClientKit[Any]", "AsyncClientKit[Any]"]
"""A threaded or an asyncio kit, of any producer type."""


class KitEntry(NamedTuple):
    """Where a kit lives: imported only when asked for, so a missing extra costs nothing
    until its kit is wanted, and then fails in one line naming the extra."""

    module: str
    cls: str
    extra: str


KITS: dict[str, KitEntry] = {
    "kafka-python": KitEntry("producer_pool.clients.kafka_python", "KafkaPythonKit", "kafka"),
    "confluent": KitEntry("producer_pool.clients.confluent", "ConfluentKit", "confluent"),
    "confluent-aio": KitEntry(
        "producer_pool.clients.confluent_aio", "ConfluentAIOKit", "confluent"
    ),
    "aiokafka": KitEntry("producer_pool.clients.aiokafka", "AIOKafkaKit", "aiokafka"),
}
"""Every kit by name: the names `kafka.client:` accepts in YAML."""


def register_kit(name: str, module: str, cls: str, extra: str) -> None:
    """Make a kit known by `name` (a client of your own, say)."""
    KITS[name] = KitEntry(module, cls, extra)


def kit_class(name: str) -> type[Any]:
    """The kit class called `name`; `ConfigError` naming the known ones (with a "did you
    mean") for an unknown name, `ImportError` naming the extra when its client is missing."""
    entry = KITS.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, list(KITS), 1)
        hint = f"; did you mean {close[0]}?" if close else ""
        known = ", ".join(KITS)
        raise ConfigError(f"unknown Kafka client {name!r} (known: {known}){hint}")
    module = importlib.import_module(entry.module)  # raises ImportError naming the extra
    cls: type[Any] = getattr(module, entry.cls)
    return cls


def settings_model(kit: str | type[Any]) -> type[Any]:
    """The pydantic model of a kit's settings (`kafka:` in YAML), by kit name or class."""
    cls = kit_class(kit) if isinstance(kit, str) else kit
    path = getattr(cls, "settings_model", None)
    if not path:
        raise ConfigError(f"the {cls.name} kit has no settings model yet")
    module, _, attribute = path.partition(":")
    model: type[Any] = getattr(importlib.import_module(module), attribute)
    return model
