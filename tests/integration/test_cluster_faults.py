"""The zero-loss fault suite on a 3-broker cluster (librdkafka's mock, replication 3), for
every client: a leader moving mid-publish, a broker down and back (its partition leaderless
meanwhile), a broker failing over, retriable errors on Produce, and a batch rejected outright.

Each ends the same way: every acknowledged message is read back, every message has one
outcome and the pool counted each (close() reports the failures again), and the same pool
publishes again after the fault (the producers healed). Read back exactly once, except for a
message in flight to a broker that went down: the mock de-duplicates the retries of
transactional producers only (`rd_kafka_mock_validate_records`), where a real broker
de-duplicates every idempotent producer's; kafka-python's retries hit that in about 1 round
in 18 under load (50 duplicates: the partition's batches in flight).
"""

from __future__ import annotations

import pytest

from tests.integration.cluster_scenarios import PUBLISHERS, SCENARIOS, run_scenario


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("client", list(PUBLISHERS))
def test_every_acknowledged_message_is_read_back_once_and_every_failure_counted_once(
    kafka_cluster, client, scenario
):
    figures = run_scenario(client, scenario, kafka_cluster)
    assert figures.lost == 0, figures
    assert figures.unexplained_duplicates == 0, figures
    assert figures.acked + figures.failed == figures.sent, figures
    assert (figures.counted_delivered, figures.counted_failed) == (
        figures.acked,
        figures.failed,
    ), figures
    assert figures.undelivered_at_close == figures.failed, figures
    if scenario != "rejected_batch":
        assert figures.failed == 0, figures
