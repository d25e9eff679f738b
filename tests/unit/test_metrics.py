"""The exporters read real values after a scripted workload: the Prometheus exposition text
and the OpenTelemetry in-memory reader."""

from __future__ import annotations

import gc
import weakref

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from producer_pool import (
    AsyncProducerPool,
    ConfigError,
    DeliveryCounts,
    PoolCloseError,
    PoolTimeout,
    ProducerPool,
)
from producer_pool.metrics.otel import PoolInstruments
from producer_pool.metrics.prometheus import PoolCollector
from tests.fakes import CountingFactory


def scripted_workload(pool) -> None:
    """5 leases, then a timeout while the only object is held; 2 deliveries, 1 failure."""
    for _ in range(5):
        with pool.acquire():
            pass
    with pool.acquire(), pytest.raises(PoolTimeout):
        pool.acquire(timeout=0.01).__enter__()


@pytest.fixture
def orders():
    deliveries = DeliveryCounts()
    pool = ProducerPool(CountingFactory(), max_size=1, name="orders", deliveries=deliveries)
    scripted_workload(pool)
    deliveries.on_delivered()
    deliveries.on_delivered()
    deliveries.on_failed()
    yield pool
    with pytest.raises(PoolCloseError, match="1 message\\(s\\) undelivered"):
        pool.close()


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_prometheus_collector_exposes_gauges_counters_and_histograms(orders):
    registry = CollectorRegistry()
    PoolCollector([orders], registry=registry)
    got = samples(registry)
    pool = (("pool", "orders"),)
    assert got[("producer_pool_size", pool)] == 1
    assert got[("producer_pool_idle", pool)] == 1
    assert got[("producer_pool_waiting", pool)] == 0
    assert got[("producer_pool_acquired_total", pool)] == 6
    assert got[("producer_pool_timeouts_total", pool)] == 1
    assert got[("producer_pool_created_total", pool)] == 1
    assert got[("producer_pool_deliveries_acknowledged_total", pool)] == 2
    assert got[("producer_pool_deliveries_failed_total", pool)] == 1
    # 6 leases and the timed-out wait; the first lease waited for the creation
    assert got[("producer_pool_acquire_wait_seconds_count", pool)] == 7
    assert got[("producer_pool_acquire_wait_seconds_bucket", (("le", "+Inf"), *pool))] == 7
    assert got[("producer_pool_acquire_wait_seconds_sum", pool)] >= 0.01
    assert got[("producer_pool_creation_seconds_count", pool)] == 1


async def test_an_async_pool_is_exported_beside_a_threaded_one(orders):
    registry = CollectorRegistry()
    events = AsyncProducerPool(CountingFactory(), max_size=2, name="events")
    async with events, events.acquire(), events.acquire():
        collector = PoolCollector([orders], registry=registry)
        collector.add(events)
        got = samples(registry)
    assert got[("producer_pool_in_use", (("pool", "events"),))] == 2
    assert got[("producer_pool_acquired_total", (("pool", "orders"),))] == 6


def test_a_pool_twice_or_two_pools_with_one_name_is_a_clear_error(orders, make_pool):
    registry = CollectorRegistry()
    collector = PoolCollector([orders], registry=registry)
    with pytest.raises(ConfigError, match="pool 'orders' is registered twice"):
        collector.add(orders)
    namesake = make_pool(CountingFactory(), name="orders")
    with pytest.raises(ConfigError, match="two pools are named 'orders'"):
        collector.add(namesake)
    with pytest.raises(ConfigError, match="already has a pool collector"):
        PoolCollector([], registry=registry)


def test_the_otel_instruments_report_the_same_values(orders):
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    PoolInstruments(meter, [orders])
    points = {
        (metric.name, tuple(sorted(point.attributes.items()))): point.value
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    }
    pool = (("pool.name", "orders"),)
    assert points[("producer_pool.acquired", pool)] == 6
    assert points[("producer_pool.timeouts", pool)] == 1
    assert points[("producer_pool.idle", pool)] == 1
    assert points[("producer_pool.deliveries_failed", pool)] == 1
    assert points[("producer_pool.acquire_wait", (*pool, ("quantile", "1")))] >= 0.01
    with pytest.raises(ConfigError, match="already has pool instruments"):
        PoolInstruments(meter, [])


def test_closed_pools_leave_the_exporters_and_their_names_can_be_reused():
    """1,000 pools of one name, each exported, used and closed in turn: the exporters keep
    none of them (alive, or in a scrape), and each new pool takes the closed one's name."""
    registry = CollectorRegistry()
    collector = PoolCollector(registry=registry)
    reader = InMemoryMetricReader()
    instruments = PoolInstruments(MeterProvider(metric_readers=[reader]).get_meter("t"))
    closed = weakref.WeakSet()
    for _ in range(1_000):
        pool = ProducerPool(CountingFactory(), max_size=1, name="events")
        collector.add(pool)
        instruments.add(pool)
        with pool.acquire():
            pass
        pool.close()
        closed.add(pool)
    del pool
    gc.collect()
    assert len(closed) == 0
    assert not any(name == "producer_pool_size" for name, _ in samples(registry))
    assert reader.get_metrics_data() is None or not [
        point
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    ]
    with ProducerPool(CountingFactory(), name="events") as reopened:
        collector.add(reopened)
        assert samples(registry)[("producer_pool_size", (("pool", "events"),))] == 0
