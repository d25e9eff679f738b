"""Each client's pool driven one way, whatever stands behind its kit (a fake broker, the
embedded broker, the mock cluster): the parity tests and the fakes' own tests share it.
The asyncio clients run on a loop in a thread of their own; callers block on it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from producer_pool.clients import async_pool, pool, transaction

T = TypeVar("T")
#: How long a driver waits for a result before the test fails (an upper bound, not a hope).
SETTLE_TIMEOUT = 45.0


class LoopThread:
    """An event loop running in its own thread, for driving the asyncio pools from a sync test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="cluster-loop")
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = SETTLE_TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


#: Each message: key, value, headers.
MESSAGES = [
    (b"k1", b"v1", [("h", b"1")]),
    (None, b"v2", []),
    (b"k3", b"", [("a", b"x"), ("b", b"y")]),
]


def messages_for(client: str) -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
    """confluent-kafka's AIOProducer refuses headers (a parity test checks the fake does)."""
    return [(k, v, []) for k, v, _ in MESSAGES] if client == "confluent-aio" else MESSAGES


class Driver:
    """One client's pool, driven the same way whatever the backend."""

    def __init__(self, client: str, kit: Any) -> None:
        self.client = client
        self.loop = LoopThread() if kit.is_async else None
        self.pool = (async_pool if kit.is_async else pool)(kit, max_size=1)

    def _run(self, coroutine: Any) -> Any:
        assert self.loop is not None
        return self.loop.run(coroutine)

    def send(self, topic: str, key: bytes | None, value: bytes, headers: list[Any]) -> tuple:
        """Send one message, wait for its result; (topic, partition, offset) as told."""
        if self.client == "kafka-python":
            with self.pool.acquire() as producer:
                future = producer.send(topic, value=value, key=key, headers=headers)
            result = future.get(30)
            return (result.topic, result.partition, result.offset)
        if self.client == "confluent":
            told: list[Any] = []
            with self.pool.acquire() as producer:
                producer.produce(
                    topic, value=value, key=key, headers=headers,
                    on_delivery=lambda error, message: told.append((error, message)),
                )  # fmt: skip
                assert producer.flush(30) == 0
            [(error, message)] = told
            assert error is None
            assert (message.key(), message.value()) == (key, value)
            return (message.topic(), message.partition(), message.offset())
        return self._run(self._asend(topic, key, value, headers))

    async def _asend(self, topic: str, key: Any, value: bytes, headers: list[Any]) -> tuple:
        async with self.pool.acquire() as producer:
            if self.client == "aiokafka":
                future = await producer.send(topic, value=value, key=key, headers=headers)
            else:  # AIOProducer refuses any headers argument, even an empty one
                extra = {"headers": headers} if headers else {}
                future = await producer.produce(topic, value=value, key=key, **extra)
        result = await future
        if self.client == "aiokafka":
            return (result.topic, result.partition, result.offset)
        assert (result.key(), result.value()) == (key, value)
        return (result.topic(), result.partition(), result.offset())

    def send_nowait(self, topic: str, value: bytes) -> Any:
        """Send one message without waiting: a handle for `outcome`."""
        if self.client == "kafka-python":
            with self.pool.acquire() as producer:
                return producer.send(topic, value=value)
        if self.client == "confluent":
            told: list[Any] = []
            with self.pool.acquire() as producer:
                producer.produce(topic, value=value, on_delivery=lambda e, m: told.append(e))
            return told
        return self._run(self._asend_nowait(topic, value))

    async def _asend_nowait(self, topic: str, value: bytes) -> Any:
        async with self.pool.acquire() as producer:
            send = producer.send if self.client == "aiokafka" else producer.produce
            return await send(topic, value=value)

    def outcome(self, handle: Any, timeout: float = SETTLE_TIMEOUT) -> str:
        """What the caller was told: ok, the name of the error, or pending after `timeout`."""
        if self.client == "kafka-python":
            try:
                handle.get(timeout)
            except Exception as exc:
                return "pending" if not handle.is_done else type(exc).__name__
            return "ok"
        if self.client == "confluent":
            deadline = time.monotonic() + timeout
            while not handle:
                with self.pool.acquire() as producer:
                    producer.poll(0.01)
                if time.monotonic() >= deadline:
                    return "pending"
            return "ok" if handle[0] is None else handle[0].name()
        if handle.done():  # also once the pool closed and its loop stopped
            error = handle.exception()
            return "ok" if error is None else type(error).__name__
        return self._run(self._aoutcome(handle, timeout))

    @staticmethod
    async def _aoutcome(future: asyncio.Future[Any], timeout: float) -> str:
        done, _ = await asyncio.wait({future}, timeout=timeout)
        if not done:
            return "pending"
        error = future.exception()
        return "ok" if error is None else type(error).__name__

    def transaction(self, topic: str, key: bytes, *, abort: bool = False) -> None:
        """One transaction sending `key`; aborted (after the record is on the log) if asked."""
        try:
            if self.loop is None:
                with transaction(self.pool) as producer:
                    self._send_in(producer, topic, key, abort)
            else:
                self._run(self._atransaction(topic, key, abort))
        except _Abort:
            pass

    def _send_in(self, producer: Any, topic: str, key: bytes, abort: bool) -> None:
        if self.client == "kafka-python":
            producer.send(topic, key=key, value=b"x")
        else:
            producer.produce(topic, key=key, value=b"x")
        if abort:
            producer.flush(30)
            raise _Abort

    async def _atransaction(self, topic: str, key: bytes, abort: bool) -> None:
        async with transaction(self.pool) as producer:
            send = producer.send if self.client == "aiokafka" else producer.produce
            delivery = await send(topic, key=key, value=b"x")
            if abort:
                await delivery
                raise _Abort

    #: The pool's close budget (None: the pool's own).
    close_timeout: float | None = None

    def close(self) -> Any:
        try:
            if self.loop is None:
                self.pool.close(timeout=self.close_timeout)
            else:
                self._run(self.pool.close(timeout=self.close_timeout))
        finally:
            if self.loop is not None:
                self.loop.stop()
        return self.pool.stats()


class _Abort(Exception):
    """Raised in a transaction's block to abort it."""
