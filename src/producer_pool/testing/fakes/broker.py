"""`FakeBroker`: the in-memory log every fake producer writes to, and the faults it injects.

One broker per test (a fake kit makes its own): topics of partitions of records with
offsets, transactions that commit or abort (an aborted record is never `published`),
transactional ids with epochs (a newer producer fences an older one), and faults: the next
N sends fail, an outage holds every send until it ends (then delivers or fails them), a
fence. Thread-safe; one condition serves every wait (flush, close, an outage's end).
"""

from __future__ import annotations

import itertools
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ...errors import PoolError

__all__ = ["Delivery", "FailedRecord", "FakeBroker", "FakeBrokerError", "PublishedRecord"]

Headers = tuple[tuple[str, bytes], ...]


class FakeBrokerError(PoolError):
    """A fake was used in a way its client refuses (an unknown partition, say)."""


@dataclass(frozen=True)
class PublishedRecord:
    """A record in the fake log, as a consumer would read it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int = 0


@dataclass(frozen=True)
class FailedRecord:
    """A message whose delivery failed: never written; `reason` says why."""

    topic: str
    key: bytes | None
    value: bytes | None
    reason: str


@dataclass(eq=False)
class Delivery:
    """One message on its way: written (`record`), failed (`failure`), or held in an outage.

    `on_settled` (set by the producer that sent it) runs once its fate is known, outside
    the broker's lock (it may run user callbacks, which may send again).
    """

    topic: str
    partition: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int
    transaction: int | None = None
    record: PublishedRecord | None = None
    failure: str | None = None
    on_settled: Callable[[Delivery], None] | None = field(default=None, repr=False)

    @property
    def settled(self) -> bool:
        return self.record is not None or self.failure is not None


@dataclass
class _Entry:
    record: PublishedRecord
    transaction: int | None  # None: not transactional
    state: str = "committed"  # "open", "committed", "aborted"; markers are not kept


class FakeBroker:
    """The in-memory cluster of the fake producers; see the module's docstring."""

    def __init__(self, *, partitions: int = 1) -> None:
        self.default_partitions = partitions
        self.changed = threading.Condition()
        self._partitions: dict[str, int] = {}
        self._logs: dict[tuple[str, int], list[_Entry]] = {}
        self._next_offset: dict[tuple[str, int], int] = {}
        self._round_robin: dict[str, Iterator[int]] = {}
        self._failed: list[FailedRecord] = []
        self._fail_next: list[str] = []
        self._outage: list[Delivery] | None = None
        self._epochs: dict[str, int] = {}
        self._transactions = itertools.count(1)

    # ------------------------------------------------------------------ topics

    def create_topic(self, name: str, partitions: int = 1) -> str:
        with self.changed:
            self._partitions[name] = partitions
        return name

    def partitions(self, topic: str) -> int:
        with self.changed:
            return self._partitions.setdefault(topic, self.default_partitions)

    def partition_for(self, topic: str, key: bytes | None, partition: int | None) -> int:
        """An explicit partition (checked), else one per key (stable: crc32, not the
        client's own hash), else round robin."""
        count = self.partitions(topic)
        if partition is not None:
            if not 0 <= partition < count:
                raise FakeBrokerError(f"{topic} has no partition {partition} ({count} in all)")
            return partition
        if key is not None:
            return zlib.crc32(key) % count
        with self.changed:
            cycle = self._round_robin.setdefault(topic, itertools.cycle(range(count)))
            return next(cycle)

    # ------------------------------------------------------------------ what was published

    def published(
        self, topic: str, partition: int | None = None, *, committed: bool = True
    ) -> list[PublishedRecord]:
        """The records of `topic` (one partition, or all: by partition, then offset) a
        `read_committed` consumer reads; `committed=False` adds aborted and still-open
        transactions' records (what `read_uncommitted` reads)."""
        with self.changed:
            places = sorted(place for place in self._logs if place[0] == topic)
            return [
                entry.record
                for place in places
                if partition is None or place[1] == partition
                for entry in self._logs[place]
                if not committed or entry.state == "committed"
            ]

    def failed(self, topic: str | None = None) -> list[FailedRecord]:
        """The messages whose delivery failed, in the order they failed."""
        with self.changed:
            return [f for f in self._failed if topic is None or f.topic == topic]

    # ------------------------------------------------------------------ faults

    def fail_next(self, count: int = 1, reason: str = "injected failure") -> None:
        """The next `count` messages sent (by any producer) fail to deliver."""
        with self.changed:
            self._fail_next += [reason] * count

    @contextmanager
    def outage(self, *, fail: bool = False) -> Iterator[None]:
        """Inside, every message sent is held (undelivered: a flush waits, a close cuts it
        short). At the end they are delivered, as after a broker that came back in time,
        or with `fail=True` they fail, as after one that did not."""
        with self.changed:
            if self._outage is not None:
                raise FakeBrokerError("an outage is already under way")
            self._outage = []
        try:
            yield
        finally:
            with self.changed:
                held, self._outage = self._outage or [], None
                settled = [
                    self._settle(d, "broker unavailable" if fail else None)
                    for d in held
                    if not d.settled
                ]
                self.changed.notify_all()
            _report(settled)

    def fence(self, transactional_id: str | None = None) -> None:
        """A newer producer took `transactional_id` (every id, by default): the older one
        is fenced at its next transactional step or send."""
        with self.changed:
            for tid in [transactional_id] if transactional_id else list(self._epochs):
                self._epochs[tid] = self._epochs.get(tid, 0) + 1

    # ------------------------------------------------------------------ the producers' side

    def register(self, transactional_id: str) -> int:
        """`init_transactions`: a new epoch for the id (fencing its previous holder)."""
        with self.changed:
            self._epochs[transactional_id] = self._epochs.get(transactional_id, -1) + 1
            return self._epochs[transactional_id]

    def epoch(self, transactional_id: str) -> int:
        with self.changed:
            return self._epochs.get(transactional_id, -1)

    def new_transaction(self) -> int:
        with self.changed:
            return next(self._transactions)

    def submit(self, delivery: Delivery) -> None:
        """A producer sends `delivery`: failed, held or written now."""
        with self.changed:
            if self._outage is not None and not self._fail_next:
                self._outage.append(delivery)
                return
            self._settle(delivery, self._fail_next.pop(0) if self._fail_next else None)
            self.changed.notify_all()
        _report([delivery])

    def abandon(self, deliveries: list[Delivery], reason: str) -> None:
        """Fail `deliveries` still held (a producer closed, purged or timed out)."""
        with self.changed:
            settled = [self._settle(d, reason) for d in deliveries if not d.settled]
            self.changed.notify_all()
        _report(settled)

    def end_transaction(self, transaction: int, commit: bool) -> None:
        """Commit or abort: its records become visible or never will; like a broker, a
        control marker takes one offset in each partition the transaction wrote to."""
        with self.changed:
            for place, log in self._logs.items():
                entries = [e for e in log if e.transaction == transaction and e.state == "open"]
                for entry in entries:
                    entry.state = "committed" if commit else "aborted"
                if entries:
                    self._next_offset[place] += 1
            self.changed.notify_all()

    def wait_until(self, condition: Callable[[], bool], timeout: float | None) -> bool:
        """Wait (at most `timeout` seconds, None: forever) for `condition`, checked on
        every change; whether it holds."""
        with self.changed:
            return self.changed.wait_for(condition, timeout)

    def _settle(self, delivery: Delivery, failure: str | None) -> Delivery:
        if failure is not None:
            delivery.failure = failure
            self._failed.append(FailedRecord(delivery.topic, delivery.key, delivery.value, failure))
        else:
            place = (delivery.topic, delivery.partition)
            offset = self._next_offset.get(place, 0)
            self._next_offset[place] = offset + 1
            delivery.record = PublishedRecord(
                delivery.topic, delivery.partition, offset, delivery.key, delivery.value,
                delivery.headers, delivery.timestamp_ms,
            )  # fmt: skip
            state = "committed" if delivery.transaction is None else "open"
            self._logs.setdefault(place, []).append(
                _Entry(delivery.record, delivery.transaction, state)
            )
        return delivery


def _report(settled: list[Delivery]) -> None:
    for delivery in settled:
        if delivery.on_settled is not None:
            delivery.on_settled(delivery)


def now_ms() -> int:
    return int(time.time() * 1000)


def as_headers(headers: Any) -> Headers:
    """A client's headers (a list of pairs, or a dict for confluent) as a tuple of pairs."""
    if not headers:
        return ()
    pairs = headers.items() if isinstance(headers, dict) else headers
    return tuple((str(k), v.encode() if isinstance(v, str) else bytes(v)) for k, v in pairs)
