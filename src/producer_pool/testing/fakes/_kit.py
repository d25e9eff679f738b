"""What every fake kit shares: a `FakeBroker` to publish to and assert on, the pool's
delivery counts, and the kit contract (`ClientKit`) the real kits keep, so `pool(fake)`, or a
container whose `producer_factory` is overridden with one, wires a realistic pool: closes
drain within close()'s deadline and report what they could not deliver, a fenced producer
is discarded, transactions are bounded."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from ...clients._base import DrainClock, KitBase, is_broken
from ...core.clock import Deadline
from ...errors import PoolCloseError, TransactionTimeout
from ._asyncio import AsyncDeliveries
from ._core import FakeProducerCore
from .broker import FailedRecord, FakeBroker, PublishedRecord

__all__ = ["AsyncFakeKit", "FakeKit", "SyncFakeKit", "core_of"]

#: The servers a fake kit reports (a pool's default name): nothing listens there.
FAKE_SERVERS = "fake-kafka:9092"
#: How long a retired fake producer may drain, and a transaction step may take, by default.
DEFAULT_DRAIN_SECONDS = 30.0
DEFAULT_TRANSACTION_SECONDS = 60.0


def core_of(producer: object) -> FakeProducerCore | None:
    """The state of a fake producer, None for any other object (an int factory's)."""
    core = getattr(producer, "_fake_core", None)
    return core if isinstance(core, FakeProducerCore) else None


class FakeKit(KitBase):
    """A kit whose producers are fakes publishing to `broker` (a fresh one by default).

    Settings are the client's own (serializers, `transactional_id_prefix` aside); the
    assertions and faults are the broker's, repeated here: `published(topic)`,
    `failed()`, `fail_next(n)`, `outage()`, `fence()`.
    """

    #: Settings that name a timeout the fake honours, in milliseconds.
    DRAIN_SETTING: ClassVar[str] = "delivery_timeout_ms"

    def __init__(
        self,
        settings: Mapping[str, Any] | None = None,
        *,
        broker: FakeBroker | None = None,
        transactional: bool = False,
        transactional_id_prefix: str | None = None,
        max_size: int | None = None,
    ) -> None:
        super().__init__(
            {self.SERVERS_OPTION: FAKE_SERVERS, **(settings or {})},
            transactional=transactional,
            transactional_id_prefix=transactional_id_prefix,
            max_size=max_size,
        )
        self.broker = broker if broker is not None else FakeBroker()

    # ------------------------------------------------------------------ assertions, faults

    def published(
        self, topic: str, partition: int | None = None, *, committed: bool = True
    ) -> list[PublishedRecord]:
        """What a `read_committed` consumer reads from `topic` (see `FakeBroker.published`)."""
        return self.broker.published(topic, partition, committed=committed)

    def failed(self, topic: str | None = None) -> list[FailedRecord]:
        return self.broker.failed(topic)

    def fail_next(self, count: int = 1, reason: str = "injected failure") -> None:
        self.broker.fail_next(count, reason)

    @contextmanager
    def outage(self, *, fail: bool = False) -> Iterator[None]:
        with self.broker.outage(fail=fail):
            yield

    def fence(self, transactional_id: str | None = None) -> None:
        self.broker.fence(transactional_id)

    # ------------------------------------------------------------------ the kit contract

    @property
    def drain_timeout(self) -> float:
        return float(self.options.get(self.DRAIN_SETTING, DEFAULT_DRAIN_SECONDS * 1000)) / 1000

    @property
    def transaction_timeout(self) -> float:
        setting = self.options.get(self.TRANSACTION_TIMEOUT_SETTING)
        return DEFAULT_TRANSACTION_SECONDS if setting is None else float(setting) / 1000

    def is_healthy(self, producer: object) -> bool:
        """Open, not fenced, not marked broken (a commit that timed out)."""
        core = core_of(producer)
        if core is None:
            return True
        return not (core.closed or core.fatal or is_broken(producer))

    def is_fatal(self, exc: BaseException, producer: object = None) -> bool:
        if isinstance(exc, self.FATAL_ERRORS):
            return True
        core = core_of(producer)
        return core is not None and core.fatal is not None

    def _new_producer(self, transactional_id: str | None) -> Any:
        """A fake producer of this kit's client (the id set for a transactional one)."""
        raise NotImplementedError

    def _with_id(self, key: str, transactional_id: str | None) -> dict[str, Any]:
        """The kit's options, plus the producer's transactional id under the client's name."""
        options = dict(self.options)
        if transactional_id is not None:
            options[key] = transactional_id
        return options

    @staticmethod
    def _undelivered(left: int, timeout: float) -> None:
        if left:
            raise PoolCloseError(
                f"{left} message(s) undelivered after {timeout:g}s", undelivered=left
            )


class SyncFakeKit(FakeKit):
    """A threaded client's fake kit: producers made, drained, and transactions bounded."""

    def __call__(self) -> Any:
        if not self.transactional:
            return self._new_producer(None)
        return self._transactional_ids().create(self._opened)

    def _opened(self, transactional_id: str) -> Any:
        producer = self._new_producer(transactional_id)
        producer.init_transactions()
        return producer

    def _served(self, producer: Any) -> None:
        """Hand the caller the results now known (librdkafka's only on poll)."""

    def close(
        self, producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
    ) -> None:
        """Flush until nothing is in flight or the drain's time is up (close() may bring it
        forward while it runs); fail what is left, close; `PoolCloseError` if any was."""
        core = core_of(producer)
        if core is None:  # an int factory's object, say
            getattr(producer, "close", lambda: None)()
            return
        timeout = self.drain_timeout if timeout is None else timeout
        drain = DrainClock(timeout, deadline)
        while core.pending and (step := drain.next_slice()) > 0:
            core.flush(step)
        left = core.close(0)
        self._served(producer)
        self._undelivered(left, timeout)

    def begin(self, producer: Any) -> None:
        producer.begin_transaction()

    def commit(self, producer: Any) -> None:
        self._end(producer, producer._fake_core.commit, "commit")
        self._served(producer)

    def abort(self, producer: Any) -> None:
        self._end(producer, lambda _: producer._fake_core.abort(), "abort")
        self._served(producer)


class AsyncFakeKit(FakeKit):
    """An asyncio client's fake kit: as `SyncFakeKit`, with coroutines."""

    is_async = True

    async def __call__(self) -> Any:
        if not self.transactional:
            return await self._opened(None)
        return await self._transactional_ids().acreate(self._opened)

    async def _opened(self, transactional_id: str | None) -> Any:
        producer = self._new_producer(transactional_id)
        await producer.start()
        return producer

    async def close(
        self, producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
    ) -> None:
        core = core_of(producer)
        if core is None:
            return
        timeout = self.drain_timeout if timeout is None else timeout
        futures: AsyncDeliveries = getattr(producer, "_futures")  # noqa: B009 - every async fake's
        self._undelivered(await futures.drain(core, timeout, deadline), timeout)

    async def begin(self, producer: Any) -> None:
        await producer.begin_transaction()

    async def commit(self, producer: Any) -> None:
        await self._aend(producer, producer.commit_transaction(), "commit")

    async def abort(self, producer: Any) -> None:
        await self._aend(producer, producer.abort_transaction(), "abort")


#: Every fake kit's fatal errors end with the pool's own: a transaction step past its time.
TIMEOUTS = (TransactionTimeout,)
