"""Every private name of kafka-python this project touches, in one guarded place.

kafka-python 3 has no public API for a producer's liveness, its fatal state, the count of
messages still pending, a forced close or fork safety, and it leaves some sockets open for
the garbage collector (`close_sockets_of_*` below). Each is read here, and only here,
through one function with a safe fallback: should a 3.x release rename something, the
function logs one warning and falls back (the pool keeps working, degraded) instead of
failing every checkout. `tests/integration/test_kafka_compat.py` checks that every name below
exists on the installed version; the `kafka` extra pins the range it covers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from . import _quiet_kafka  # noqa: F401 # isort: skip - first: kafka-python warns
import kafka
from kafka import KafkaProducer
from kafka.net.inet import KafkaNetSocket
from kafka.net.transport import KafkaSSLTransport, KafkaTCPTransport
from kafka.producer.sender import Sender
from kafka.producer.transaction_manager import TransactionManager, TransactionState

from ..core.stats import DeliveryCounts

__all__ = [
    "PRIVATE_NAMES",
    "SSL_TRANSPORT_PRIVATE_NAMES",
    "SUPPORTED",
    "TRANSPORT_PRIVATE_NAMES",
    "await_producer_id",
    "build_ssl_context",
    "close_half_built_client",
    "close_sockets_of_cancelled_flushes",
    "close_sockets_of_failed_connects",
    "count_deliveries_by_batch",
    "disarm_in_forked_child",
    "end_transaction",
    "force_close",
    "in_fatal_state",
    "is_alive",
    "recover_producer_id_after_reset",
    "undelivered",
]

logger = logging.getLogger("producer_pool")

#: The kafka-python releases these accesses were checked against (the extra's pin).
SUPPORTED = ((3, 0, 12), (3, 1))

#: Each private attribute path read below, from a `KafkaProducer`.
PRIVATE_NAMES = (
    "_closed",
    "_sender",
    "_sender._client._manager.bootstrapped",
    "_sender._client.least_loaded_node",
    "_sender._client.is_ready",
    "_sender._client.maybe_connect",
    "_sender._client.send",
    "_sender._client.poll",
    "_sender._metadata.request_update",
    "_sender._transaction_manager",
    "_sender._accumulator",
    "_sender._maybe_send_pending_request",
    "_sender._get_expired_inflight_batches",
    "_sender._complete_batch_with_exception",
    "_accumulator._incomplete",
    "_accumulator._incomplete.add",
    "_accumulator.expired_batches",
    "_accumulator.reset_next_batch_expiry_time",
    "_transaction_manager",
    "_transaction_manager.next_request_handler",
    "_transaction_manager.next_in_flight_request_correlation_id",
    "_transaction_manager.retry",
    "_transaction_manager.begin_commit",
    "_transaction_manager.begin_abort",
    "_unregister_cleanup",
)

#: Each private name read on a `KafkaTCPTransport` (kafka.net.transport), a connection's.
TRANSPORT_PRIVATE_NAMES = ("_write_to_sock", "_closed", "_sock", "_write_task", "_close")

#: Each private name read on `KafkaSSLTransport` (the class).
SSL_TRANSPORT_PRIVATE_NAMES = ("_build_ssl_context",)

R = TypeVar("R")
_SENDER_STOP_GRACE = 1.0  # seconds a force-closed sender gets to abort batches and exit
_ID_POLL_INTERVAL = 0.002  # how often a new producer's id is looked for (about one round trip)
_warned: set[str] = set()


def _version() -> tuple[int, ...]:
    return tuple(int(part) for part in kafka.__version__.split(".")[:3] if part.isdigit())


if not SUPPORTED[0] <= _version() < SUPPORTED[1]:
    logger.warning(
        "kafka-python %s is outside the range producer-pool supports (%s to %s): "
        "health checks and undelivered counts may fall back",
        kafka.__version__,
        ".".join(map(str, SUPPORTED[0])),
        ".".join(map(str, SUPPORTED[1])),
    )


def _fallback(what: str, value: R, error: AttributeError) -> R:
    """A private name is missing: warn once about `what`, then answer `value`."""
    if what not in _warned:
        _warned.add(what)
        logger.warning(
            "kafka-python %s changed (%s): %s falls back", kafka.__version__, error, what
        )
    return value


def is_alive(producer: KafkaProducer) -> bool:
    """Not closed, sender thread running, bootstrapped (kafka-python's own
    `bootstrap_connected()` is true only *while* bootstrapping). On every checkout: cheap."""
    try:
        sender = producer._sender
        return (
            not producer._closed
            and sender.is_alive()
            and bool(sender._client._manager.bootstrapped)
        )
    except AttributeError as error:
        return _fallback("the health check", True, error)


def in_fatal_state(producer: KafkaProducer) -> bool:
    """Fenced, or another fatal transactional error: it must never serve another lease."""
    try:
        manager = producer._transaction_manager
        return manager is not None and bool(manager.has_fatal_error())
    except AttributeError as error:
        return _fallback("the fatal-state check", False, error)


def undelivered(producer: KafkaProducer) -> int:
    """Messages accepted by `send()` whose batches are not complete yet."""
    try:
        return sum(batch.record_count for batch in producer._accumulator._incomplete.all())
    except AttributeError as error:
        return _fallback("the undelivered count", 0, error)


def count_deliveries_by_batch(producer: KafkaProducer, deliveries: DeliveryCounts) -> bool:
    """Count `producer`'s delivery results a batch at a time: one callback per batch where
    counting each message costs two callbacks and two locks per `send()` (4 % of a send's
    CPU). Batches a MESSAGE_TOO_LARGE split creates are counted, the split one never
    completes. False if kafka-python's internals moved: the caller counts each message."""
    try:
        incomplete = producer._accumulator._incomplete
        add = incomplete.add
    except AttributeError as error:
        return _fallback("counting deliveries per batch", False, error)

    def add_and_count(batch: Any) -> None:
        add(batch)
        batch.produce_future.add_both(_count_batch, deliveries, batch)

    incomplete.add = add_and_count
    return True


def _count_batch(deliveries: DeliveryCounts, batch: Any, result: Any) -> None:
    """A batch's result: (base offset, timestamp, record errors), the errors None unless
    every record of the batch failed (an abort, an expiry, a broker error)."""
    if isinstance(result, BaseException) or result[2] is not None:
        deliveries.on_failed(count=batch.record_count)
    else:
        deliveries.on_delivered(count=batch.record_count)


def end_transaction(producer: KafkaProducer, commit: bool, timeout: float) -> bool:
    """Commit (or abort) the open transaction, waiting at most `timeout` seconds: False if
    it did not finish. kafka-python's own `commit_transaction()` waits without a bound,
    and a commit that meets an outage never returns, even once the broker is back. What
    it raises (fenced, ...) is raised here too."""
    try:
        manager = producer._transaction_manager
        result = manager.begin_commit() if commit else manager.begin_abort()
        producer._sender.wakeup()
    except AttributeError as error:
        _fallback("bounded transactions", None, error)
        (producer.commit_transaction if commit else producer.abort_transaction)()
        return True
    return bool(result.wait(timeout_ms=timeout * 1000))


def force_close(producer: KafkaProducer, timeout: float) -> None:
    """Abort what cannot be delivered (failing its futures), then close.

    `KafkaProducer.close()` always flushes first and would wait again, so the sender is
    told to give up (it aborts the incomplete batches) before the producer is closed.
    """

    try:
        producer._sender.force_close()
        # Aborting and closing the network client takes a moment even at a close's deadline.
        producer._sender.join(max(timeout, _SENDER_STOP_GRACE))
    except AttributeError as error:
        _fallback("the forced close", None, error)
    try:
        producer.close(timeout=0)
    except kafka.errors.KafkaTimeoutError:
        logger.error(
            "producer %s: sender did not stop; abandoning it", producer.config["client_id"]
        )


def disarm_in_forked_child(producer: KafkaProducer) -> None:
    """A child must never flush or close its parent's producer, which kafka-python would do
    from `__del__` and an `atexit` hook."""

    try:
        producer._unregister_cleanup()
        producer._closed = True
    except AttributeError as error:
        _fallback("fork safety", None, error)


def close_half_built_client(exc: BaseException) -> None:
    """Release the network client a failed `KafkaProducer.__init__` built and dropped.

    kafka-python creates its client (a selector with a wakeup socket pair) before it
    bootstraps and leaks it when bootstrap fails; only the failed frame still holds it.
    """
    trace = exc.__traceback__
    while trace is not None:
        frame = trace.tb_frame
        if frame.f_code is KafkaProducer.__init__.__code__:  # subclasses call it too
            client: Any = frame.f_locals.get("client")
            if client is not None:
                client.close()
            return
        trace = trace.tb_next


class _RecoveringTransactionManager(TransactionManager):  # type: ignore[misc]
    """kafka-python 3.0.12 resets the producer id when a sent batch expires (an outage) but
    stays READY, and its sender asks for a new id only from UNINITIALIZED: every later send
    waits forever. The Java client returns to UNINITIALIZED (KAFKA-7737); so does this."""

    def reset_producer_id(self) -> None:
        with self._lock:
            super().reset_producer_id()
            # Bypasses the transition check, which forbids UNINITIALIZED as a target.
            self._current_state = TransactionState.UNINITIALIZED


class _ExpiringSender(Sender):  # type: ignore[misc]
    """While an idempotent producer waits for a new producer id, kafka-python 3.0.12's sender
    loops in `_maybe_send_pending_request` until a broker answers, never expiring batches:
    with the broker down, every future hangs past `delivery_timeout_ms` until it is back.
    Here the request is sent only once a node is ready; until then each pass expires what
    is due (with the error the sender gives any expired batch), starts a connection and
    polls once, so the loop comes back."""

    def _maybe_send_pending_request(self) -> bool:
        manager = self._transaction_manager
        if manager.is_transactional() or manager.has_producer_id():
            return bool(super()._maybe_send_pending_request())
        self._expire_due_batches()
        node = self._client.least_loaded_node()
        if node is not None and self._client.is_ready(node):
            return self._send_once(node)
        if node is None:
            update = self._metadata.request_update()
            self._client.poll(timeout_ms=self.config["retry_backoff_ms"], future=update)
        else:
            self._client.maybe_connect(node, wakeup=False)
            self._client.poll(timeout_ms=self.config["retry_backoff_ms"])
        return True

    def _send_once(self, node: int) -> bool:
        """One pass of kafka-python's send of the pending request (InitProducerId), to a
        node found ready. Its own loop retries a node that dies after that check until the
        node is back, expiring nothing meanwhile (seen under CPU load); here a failed send
        queues the request again, and the next pass expires what is due first."""
        manager = self._transaction_manager
        handler = manager.next_request_handler(self._accumulator.has_incomplete)
        if handler is None:
            return False
        correlation_id = manager.next_in_flight_request_correlation_id()
        try:
            future = self._client.send(node, handler.request)
        except Exception as error:  # the node went away: retry on a later pass
            logger.debug("sending %s to node %s failed: %s", handler.request, node, error)
            manager.retry(handler)
            return True
        future.add_both(handler.on_complete, correlation_id)
        return True

    def _expire_due_batches(self) -> None:
        now = time.monotonic()
        self._accumulator.reset_next_batch_expiry_time()
        expired = self._accumulator.expired_batches(now=now)
        expired.extend(self._get_expired_inflight_batches(now=now))
        for batch in expired:
            self._complete_batch_with_exception(
                batch,
                kafka.errors.KafkaTimeoutError(
                    f"Expiring {batch.record_count} record(s) for {batch.topic_partition}: "
                    "delivery timeout passed while waiting for a producer id"
                ),
            )


def await_producer_id(producer: KafkaProducer, timeout: float) -> bool:
    """Wait (up to `timeout` s) until an idempotent producer holds its producer id.

    Its sender thread asks for one as the producer is built, in kafka-python's own loop,
    before `recover_producer_id_after_reset` can replace that loop; should the broker go away
    meanwhile, that loop spins until it is back and no batch ever expires (the outage test
    hung so, under two CPU hogs). Handing the producer out only once it holds an id closes
    the window: the first request has then left the loop. Transactional producers get theirs
    in `init_transactions()`.
    """
    try:
        manager = producer._transaction_manager
        if manager is None or manager.is_transactional():
            return True
        deadline = time.monotonic() + timeout
        while not manager.has_producer_id():
            if time.monotonic() >= deadline:
                return False
            time.sleep(_ID_POLL_INTERVAL)
    except AttributeError as error:
        return _fallback("waiting for the producer id", True, error)
    return True


def recover_producer_id_after_reset(producer: KafkaProducer) -> None:
    """Make an idempotent `producer` request a new producer id after kafka-python resets it,
    and expire its batches on time while it waits for one."""

    try:
        manager = producer._transaction_manager
        if manager is not None and not manager.is_transactional():
            manager.__class__ = _RecoveringTransactionManager
            producer._sender.__class__ = _ExpiringSender
    except AttributeError as error:
        _fallback("producer id recovery", None, error)


def _patch_once(owner: Any, name: str, what: str, wrap: Callable[[Any], Any]) -> None:
    """Replace `owner.name` by `wrap(original)`, once per process, or warn that it moved."""
    try:
        original = getattr(owner, name)
    except AttributeError as error:
        _fallback(what, None, error)
        return
    if getattr(original, "_producer_pool_patch", False):
        return
    patched = wrap(original)
    patched._producer_pool_patch = True
    setattr(owner, name, patched)


def close_sockets_of_failed_connects() -> None:
    """Make kafka-python close the socket of a connect that fails, times out or is cancelled.

    kafka-python 3.0.12 closes none of them. A connect cancelled because its client closed
    (a producer or consumer closed while connecting, e.g. at a timeout under load) can be
    one the kernel already completed: a connected socket, left for the garbage collector,
    which reports it as `ResourceWarning: unclosed <socket ... raddr=...>` wherever it runs.
    Installed once, at import; every kafka-python client in the process benefits.
    """

    def wrap(original: Any) -> Any:
        async def sock_connect(
            self: KafkaNetSocket, net: Any, sock: Any, sockaddr: Any, timeout_at: Any = None
        ) -> Any:
            try:
                return await original(self, net, sock, sockaddr, timeout_at=timeout_at)
            except BaseException:
                sock.close()
                raise

        return sock_connect

    _patch_once(KafkaNetSocket, "sock_connect", "closing the sockets of failed connects", wrap)


def close_sockets_of_cancelled_flushes() -> None:
    """Make a transport closed with bytes still unsent close its socket, even when the I/O
    loop stops before they are sent.

    A kafka-python 3.0.12 race (still in its 3.1 development branch). `KafkaTCPTransport.close()`
    leaves the socket of a transport with unsent bytes to the task flushing them
    (`_write_to_sock`), which closes it once the buffer is empty. A client's `close()` closes
    its connections from the caller's thread, then stops the I/O loop, whose own `close()`
    cancels every pending task: a flush still waiting for the socket to be writable is
    cancelled and never reaches that close. The socket stays open, held by its connection,
    until the garbage collector reports it (`ResourceWarning: unclosed <socket ...>`) in
    whatever code runs then. A consumer closed right after `poll()` (as `read_topic` does)
    meets it whenever its metadata refresh or its next fetch was queued a moment earlier;
    admin clients and producers close the same way. Here the cancelled flush finishes the
    close it was carrying (what it would have sent was for a client going away).
    Installed once, at import; every kafka-python client in the process benefits.
    """

    def wrap(original: Any) -> Any:
        async def _write_to_sock(self: KafkaTCPTransport) -> Any:
            try:
                return await original(self)
            except BaseException:  # GeneratorExit: the loop cancelled the flush
                # Only a graceful close() sets _closed and keeps _sock: abort() and a
                # finished flush both go through _close(), which clears _sock.
                if self._closed and self._sock is not None:
                    self._write_task = None  # being cancelled already: _close() must not
                    self._close()  # closes the socket, then connection_lost(None)
                raise

        return _write_to_sock

    _patch_once(
        KafkaTCPTransport, "_write_to_sock", "closing the sockets of cancelled flushes", wrap
    )


close_sockets_of_failed_connects()
close_sockets_of_cancelled_flushes()


def build_ssl_context(config: dict[str, Any]) -> None:
    """Build the TLS context kafka-python builds at each connection, from the same options,
    with its own code: a file that does not load raises here (`OSError`, `TypeError`,
    `ValueError`) instead of failing every connection in the I/O thread. Skipped, with one
    warning, where that code moved (kafka-python then meets the files at its first
    connection, as before)."""
    try:
        build = KafkaSSLTransport._build_ssl_context
    except AttributeError as exc:
        _fallback("the early check of TLS files", None, exc)
        return
    build(config)
