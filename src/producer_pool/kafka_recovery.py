"""Let an idempotent kafka-python producer recover its producer id after an outage.

When a batch that was already sent expires (delivery timeout during an outage), kafka-python
3.0.12 calls `TransactionManager.reset_producer_id()`, which drops the producer id but leaves
the manager in READY. Its sender only asks for a new id from UNINITIALIZED, so the producer
waits forever: every later `send()` is accepted and never delivered or expired. The Java client
returns to UNINITIALIZED on that reset (KAFKA-7737), which is what this subclass does.
"""

from __future__ import annotations

from kafka import KafkaProducer
from kafka.producer.transaction_manager import TransactionManager, TransactionState


class _RecoveringTransactionManager(TransactionManager):  # type: ignore[misc]
    def reset_producer_id(self) -> None:
        with self._lock:
            super().reset_producer_id()
            # Bypasses the transition check, which forbids UNINITIALIZED as a target.
            self._current_state = TransactionState.UNINITIALIZED


def recover_producer_id_after_reset(producer: KafkaProducer) -> None:
    """Make `producer` request a new producer id after kafka-python resets it."""
    manager = producer._transaction_manager
    if manager is not None and not manager.is_transactional():
        manager.__class__ = _RecoveringTransactionManager
