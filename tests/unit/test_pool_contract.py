"""The contract both pools keep: each test runs against `ProducerPool` and `AsyncProducerPool`
(the `make_twin` fixture), driven through one asyncio interface (tests/twins.py)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from producer_pool import (
    PoolClosed,
    PoolCloseError,
    PoolError,
    PoolListener,
    PoolTimeout,
    TooManyWaiters,
)
from tests.fakes import Broker, CountingFactory, ResourceFactory
from tests.twins import AsyncTwin, ThreadedTwin, eventually


async def test_leases_are_exclusive_up_to_max_size(make_twin):
    twin = make_twin(CountingFactory(), max_size=3, name="exclusive")
    async with contextlib.AsyncExitStack() as stack:
        held = [await stack.enter_async_context(twin.acquire()) for _ in range(3)]
        assert sorted(held) == [0, 1, 2]
        with pytest.raises(
            PoolTimeout, match=r"exclusive: no object available within 0\.05s \(size=3/3"
        ) as timed_out:
            async with twin.acquire(timeout=0.05):
                pass
        assert isinstance(timed_out.value, TimeoutError)
        stats = twin.stats()
        assert (stats.in_use, stats.size, stats.timeouts, stats.waiting) == (3, 3, 1, 0)
    assert (twin.stats().idle, twin.stats().in_use) == (3, 0)


async def test_an_object_goes_back_when_the_block_raises(make_twin):
    twin = make_twin(CountingFactory(), max_size=1)
    with pytest.raises(ValueError):
        async with twin.acquire():
            raise ValueError("in the block")
    async with twin.acquire() as again:
        assert again == 0
    assert twin.stats().created == 1


async def test_discard_on_destroys_the_object_and_the_next_lease_gets_a_new_one(make_twin):
    factory = ResourceFactory()
    twin = make_twin(factory, max_size=1, discard_on=(ConnectionError,))
    with pytest.raises(ConnectionError):
        async with twin.acquire():
            raise ConnectionError("broken")
    await eventually(lambda: factory.made[0].close_calls == 1)
    async with twin.acquire() as replacement:
        assert replacement is factory.made[1]
    assert (twin.stats().created, twin.stats().destroyed) == (2, 1)


async def test_waiters_are_served_first_come_first_served(make_twin):
    twin = make_twin(CountingFactory(), max_size=1)
    served: list[int] = []

    async def waiter(number: int) -> None:
        async with twin.acquire(timeout=10):
            served.append(number)

    async with twin.acquire():
        tasks = []
        for number in range(4):
            tasks.append(asyncio.create_task(waiter(number)))
            await eventually(lambda n=number: twin.stats().waiting == n + 1)
    await asyncio.gather(*tasks)
    assert served == [0, 1, 2, 3]
    assert twin.stats().created == 1


@pytest.mark.parametrize("verdict", ["false", "raises"])
async def test_a_failing_check_replaces_the_object(make_twin, verdict, caplog):
    """The candidate that fails is destroyed and not counted as a lease; a check that
    raises fails it too, logged."""
    factory = ResourceFactory()

    def check(resource) -> bool:
        if resource.number == 0 and verdict == "raises":
            raise OSError("socket closed")
        return resource.number != 0

    twin = make_twin(factory, max_size=1, check=check)
    async with twin.acquire() as first:  # a new object is not checked
        assert first is factory.made[0]
    with caplog.at_level("WARNING", logger="producer_pool"):
        async with twin.acquire() as second:
            assert second is factory.made[1]
    await eventually(lambda: factory.made[0].close_calls == 1)
    stats = twin.stats()
    assert (stats.failed_checks, stats.acquired, stats.created) == (1, 2, 2)
    assert ("check raised" in caplog.text) == (verdict == "raises")


async def test_a_factory_error_reaches_the_waiter_and_frees_the_slot(make_twin):
    twin = make_twin(Broker(failures={0: ConnectionError("broker down")}), max_size=1)
    with pytest.raises(ConnectionError, match="broker down"):
        async with twin.acquire(timeout=5):
            pass
    assert (twin.stats().factory_errors, twin.stats().size) == (1, 0)
    async with twin.acquire(timeout=5) as obj:  # max_size=1 still allows a new object
        assert obj == 1


async def test_acquire_timeout_bounds_a_hanging_factory_whose_late_object_is_kept(make_twin):
    broker = Broker(hanging=(0,))
    twin = make_twin(broker, max_size=1)
    with pytest.raises(PoolTimeout, match=r"within 0\.05s"):
        async with twin.acquire(timeout=0.05):
            pass
    assert broker.entered.is_set() and twin.stats().creating == 1
    broker.release.set()  # the creation carries on: its object goes idle
    await eventually(lambda: twin.stats().idle == 1)
    async with twin.acquire(timeout=0) as obj:
        assert obj == 0
    assert (twin.stats().timeouts, twin.stats().created) == (1, 1)


async def test_a_hung_creation_whose_caller_gave_up_does_not_stall_growth(make_twin):
    """SQLAlchemy's test_hanging_connect_within_overflow: one connection attempt hangs; its
    caller gives up; the next callers still get objects of their own while there is room."""
    broker = Broker(hanging=(0,))
    twin = make_twin(broker, max_size=3)
    with pytest.raises(PoolTimeout):
        async with twin.acquire(timeout=0.05):
            pass
    async with twin.acquire(timeout=5) as first, twin.acquire(timeout=5) as second:
        assert (first, second) == (1, 2)
        assert (twin.stats().size, twin.stats().creating) == (3, 1)  # the hung one, 3rd slot
    broker.release.set()
    await eventually(lambda: twin.stats().creating == 0)
    assert twin.stats().idle == 3


async def test_a_timeout_names_the_creation_it_waited_on_and_chains_the_last_failure(make_twin):
    """As HikariCP does: a PoolTimeout says why the pool could not make an object."""
    broker = Broker(failures={0: ConnectionError("connection refused")}, hanging=(1,))
    twin = make_twin(broker, max_size=2, name="events")
    with pytest.raises(ConnectionError, match="connection refused"):
        async with twin.acquire(timeout=5):
            pass
    with pytest.raises(PoolTimeout) as timed_out:
        async with twin.acquire(timeout=0.05):
            pass
    message = str(timed_out.value)
    assert message.startswith("events: no object available within 0.05s (size=1/2, in_use=0")
    assert "a creation has been running for 0." in message
    assert "the whole wait (factory " in message and "Broker('127.0.0.1:9')" in message
    assert message.endswith("the last creation failed: ConnectionError('connection refused')")
    assert isinstance(timed_out.value.__cause__, ConnectionError)
    broker.release.set()


class Interrupted(BaseException):
    """A factory stopped by something that is not an error (as Ctrl-C or a cancellation)."""


async def test_a_factory_raising_a_base_exception_fails_its_waiter_and_keeps_the_books(make_twin):
    twin = make_twin(Broker(failures={0: Interrupted("stop")}), max_size=1)
    with pytest.raises(
        PoolError, match=r"creating an object was interrupted: Interrupted\('stop'\)"
    ):
        async with twin.acquire(timeout=5):
            pass
    stats = twin.stats()
    assert (stats.size, stats.creating, stats.factory_errors) == (0, 0, 1)
    async with twin.acquire(timeout=5) as obj:
        assert obj == 1


async def test_share_mode_hands_out_a_second_lease_on_the_same_object(make_twin):
    twin = make_twin(CountingFactory(), max_size=1, on_exhausted="share", discard_on=(KeyError,))
    async with twin.acquire() as first:
        async with twin.acquire(timeout=1) as second:
            assert first == second == 0
        assert (twin.stats().in_use, twin.stats().idle) == (1, 0)  # the first still holds it
    assert (twin.stats().shared_leases, twin.stats().idle) == (1, 1)
    async with twin.acquire():  # a shared lease breaks it: retired when the last one ends
        with pytest.raises(KeyError):
            async with twin.acquire(timeout=1):
                raise KeyError("fenced")
        assert (twin.stats().in_use, twin.stats().destroyed) == (1, 0)
    await eventually(lambda: twin.stats().destroyed == 1)
    async with twin.acquire() as replacement:
        assert replacement == 1


async def test_share_mode_gives_every_caller_queued_for_the_first_object_a_lease_at_once(
    make_twin,
):
    """Callers that arrive while the only object is being created queue; once it exists
    they all share it at once, as a caller arriving then would, instead of being served
    one release at a time (an asyncio service's first burst, max_size 1)."""
    broker = Broker(hanging=(0,))
    twin = make_twin(broker, max_size=1, on_exhausted="share")
    holding: list[int] = []
    all_held = asyncio.Event()

    async def hold() -> None:
        async with twin.acquire(timeout=30) as obj:
            holding.append(obj)
            await all_held.wait()  # served one at a time, the others would never get in

    tasks = [asyncio.create_task(hold()) for _ in range(3)]
    try:
        await eventually(lambda: twin.stats().waiting == 3)
        broker.release.set()
        await eventually(lambda: len(holding) == 3)
        stats = twin.stats()
        assert (holding, stats.in_use, stats.acquired, stats.shared_leases) == ([0] * 3, 1, 3, 2)
    finally:
        all_held.set()
        await asyncio.gather(*tasks)
    assert (twin.stats().idle, twin.stats().waiting) == (1, 0)


async def test_max_waiting_sheds_load(make_twin):
    twin = make_twin(CountingFactory(), max_size=1, max_waiting=0)
    async with twin.acquire():
        with pytest.raises(TooManyWaiters, match="max_waiting=0") as shed:
            async with twin.acquire(timeout=5):
                pass
        assert isinstance(shed.value, PoolError)


async def test_prewarm_fills_min_size_and_wait_returns(make_twin):
    twin = make_twin(CountingFactory(), max_size=3, min_size=2)
    await twin.wait(timeout=10)
    stats = twin.stats()
    assert (stats.idle, stats.created) == (2, 2)


async def test_a_returned_object_past_its_lifetime_is_retired(make_twin, clock):
    factory = ResourceFactory()
    twin = make_twin(factory, max_size=1, max_lifetime=10)
    async with twin.acquire() as first:
        clock.advance(20)  # beyond the lifetime and its jitter
    await eventually(lambda: first.close_calls == 1)
    async with twin.acquire() as second:
        assert second is factory.made[1]


async def queue_a_caller(twin: ThreadedTwin | AsyncTwin) -> asyncio.Task[None]:
    """A task queued for an object (the test holds them all), which it gives back at once."""

    async def wait_for_one() -> None:
        async with twin.acquire(timeout=10):
            pass

    waiter = asyncio.create_task(wait_for_one())
    await eventually(lambda: twin.stats().waiting == 1)
    return waiter


async def test_close_fails_waiters_awaits_leases_and_destroys_everything(make_twin):
    factory = ResourceFactory()
    twin = make_twin(factory, max_size=1)
    lease = twin.acquire()
    await lease.__aenter__()
    waiter = await queue_a_caller(twin)
    closing = asyncio.create_task(twin.close(timeout=10))
    with pytest.raises(PoolClosed):
        await waiter
    assert not closing.done()  # the lease is still out
    await lease.__aexit__(None, None, None)
    await closing
    assert factory.made[0].close_calls == 1
    stats = twin.stats()
    assert (stats.created, stats.destroyed, stats.size) == (1, 1, 0)
    with pytest.raises(PoolClosed):
        async with twin.acquire():
            pass


async def test_close_reports_a_failing_destroy(make_twin):
    def destroy(obj: int) -> None:
        raise OSError(f"cannot close {obj}")

    twin = make_twin(CountingFactory(), max_size=1, destroy=destroy)
    async with twin.acquire():
        pass
    with pytest.raises(PoolCloseError, match="1 object\\(s\\) failed to close cleanly") as failed:
        await twin.close(timeout=5)
    assert [str(error) for error in failed.value.errors] == ["cannot close 0"]


async def test_stats_summarise_waits_holds_and_creations(make_twin, clock):
    """A scripted workload on a hand-driven clock: 32 leases held 10 ms each, one caller
    that waits 250 ms, a factory that takes 500 ms."""

    def slow_factory() -> int:
        clock.advance(0.5)
        return 7

    twin = make_twin(slow_factory, max_size=1)
    for _ in range(32):
        async with twin.acquire():
            clock.advance(0.01)
    held = twin.acquire()
    await held.__aenter__()
    waiter = await queue_a_caller(twin)
    clock.advance(0.25)
    await held.__aexit__(None, None, None)
    await waiter
    stats = twin.stats()
    assert stats.acquired == 34
    assert stats.acquire_wait.count == 34  # the 32 that found an idle object waited 0
    assert stats.acquire_wait.sum == pytest.approx(0.5 + 0.25)  # the first (the create), the last
    assert stats.acquire_wait.max == pytest.approx(0.5)
    assert stats.acquire_wait.p50 <= 1e-6
    assert stats.hold.count == 2  # one lease in 16 is timed
    assert stats.hold.max == pytest.approx(0.01)
    assert (stats.creation.count, stats.creation.max) == (1, pytest.approx(0.5))


class RecordingListener(PoolListener):
    """Records each event as a tuple; `on_acquire` raises once, which must break nothing."""

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []
        self.raise_next_acquire = True

    def on_create(self, obj, seconds):
        self.events.append(("create", obj))

    def on_create_failed(self, error):
        self.events.append(("create failed", str(error)))

    def on_acquire(self, obj, wait):
        self.events.append(("acquire", obj))
        if self.raise_next_acquire:
            self.raise_next_acquire = False
            raise RuntimeError("a listener bug")

    def on_timeout(self, waited):
        self.events.append(("timeout",))

    def on_destroy(self, obj, reason):
        self.events.append(("destroy", obj, reason))

    def on_leak(self, held, stack):
        where = stack.rstrip().splitlines()[-1].strip()  # the caller's line, no pool frames
        self.events.append(("leak", held > 0, where))


async def test_a_listener_sees_every_event_and_its_errors_break_nothing(make_twin, caplog):
    listener = RecordingListener()
    fail_next = [False]
    numbers = CountingFactory()

    def factory() -> int:
        if fail_next[0]:
            fail_next[0] = False
            raise ConnectionError("broker down")
        return numbers()

    twin = make_twin(factory, max_size=1, listener=listener, discard_on=(ValueError,))
    with caplog.at_level("ERROR", logger="producer_pool"):
        async with twin.acquire() as first:  # the listener raises here: logged, ignored
            assert first == 0
    assert "a listener bug" in caplog.text
    async with twin.acquire():
        with pytest.raises(PoolTimeout):
            async with twin.acquire(timeout=0.01):
                pass
    with pytest.raises(ValueError):
        async with twin.acquire():
            raise ValueError("broken")
    fail_next[0] = True
    with pytest.raises(ConnectionError):
        async with twin.acquire(timeout=5):
            pass
    async with twin.acquire():
        pass
    await twin.close(timeout=5)
    await eventually(lambda: ("destroy", 1, "closed") in listener.events)
    assert listener.events == [
        ("create", 0),
        ("acquire", 0),
        ("acquire", 0),
        ("timeout",),
        ("acquire", 0),
        ("destroy", 0, "discarded"),
        ("create failed", "broker down"),
        ("create", 1),
        ("acquire", 1),
        ("destroy", 1, "closed"),
    ]


async def test_a_listener_hears_of_a_leaked_lease_with_its_stack(make_twin):
    listener = RecordingListener()
    listener.raise_next_acquire = False
    twin = make_twin(CountingFactory(), max_size=1, leak_timeout=0.02, listener=listener)
    async with twin.acquire():
        await eventually(lambda: any(event[0] == "leak" for event in listener.events))
    # reported once, with the stack up to the line that took the lease (twins.py's, for the
    # threaded twin, whose leases are taken on worker threads)
    leaks = [event for event in listener.events if event[0] == "leak"]
    assert leaks in (
        [("leak", True, "async with twin.acquire():")],
        [("leak", True, "return lease.__enter__()  # the line a leak report's stack ends at")],
    )
