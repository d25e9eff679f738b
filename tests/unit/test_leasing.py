"""Leasing basics: exclusivity, reuse order, lazy growth, release on every exit path."""

from __future__ import annotations

import pytest

from producer_pool import ConfigError, PoolError, PoolListener, ProducerPool
from tests.fakes import CountingFactory, lease_once, run_in_thread, wait_until


def test_lease_yields_a_factory_object_and_returns_it(make_pool):
    """The object comes from the factory and is idle again after the block."""
    pool = make_pool(CountingFactory(), max_size=2)
    with pool.acquire() as obj:
        assert obj == 0
        assert pool.stats().in_use == 1
    stats = pool.stats()
    assert (stats.in_use, stats.idle, stats.acquired, stats.created) == (0, 1, 1, 1)


def test_idle_objects_are_reused_most_recent_first(make_pool):
    """LIFO reuse keeps the warmest object busy and lets the others age out."""
    pool = make_pool(CountingFactory(), max_size=3)
    with pool.acquire() as first, pool.acquire() as second:
        assert (first, second) == (0, 1)
    with pool.acquire() as obj:
        assert obj == 0  # returned last (outer block exits last)


def test_pool_grows_lazily_up_to_max_size(make_pool):
    """Objects are created only when no idle one exists, never beyond max_size."""
    factory = CountingFactory()
    pool = make_pool(factory, max_size=3)
    assert factory.calls == 0
    with pool.acquire(), pool.acquire(), pool.acquire():
        assert pool.stats().size == 3
    assert factory.calls == 3


@pytest.mark.parametrize(
    "options",
    [
        {"max_lifetime": None, "max_idle": None},
        {"max_lifetime": None, "max_idle": None, "min_size": 1},
        {"max_lifetime": 3600, "max_idle": None, "check": lambda obj: True},
        {"max_lifetime": None, "max_idle": 600, "leak_timeout": 60},
    ],
    ids=["bare", "bare-prewarmed", "lifetime-checked", "idle-tracked"],
)
def test_every_option_set_leases_and_reuses(make_pool, options):
    pool = make_pool(CountingFactory(), max_size=2, **options)
    for _ in range(3):
        with pool.acquire(timeout=5) as first, pool.acquire(timeout=5) as second:
            assert {first, second} == {0, 1}
    assert pool.stats().created == 2


def test_lease_is_returned_when_the_block_raises(make_pool):
    pool = make_pool(CountingFactory(), max_size=1)
    with pytest.raises(ValueError, match="boom"), pool.acquire():
        raise ValueError("boom")
    assert pool.stats().idle == 1
    with pool.acquire(timeout=0) as obj:
        assert obj == 0


def test_lease_is_returned_on_keyboard_interrupt(make_pool):
    pool = make_pool(CountingFactory(), max_size=1)
    with pytest.raises(KeyboardInterrupt), pool.acquire():
        raise KeyboardInterrupt
    assert pool.stats().in_use == 0


class CtrlC(PoolListener):
    """Raises KeyboardInterrupt once when armed, from a check or a listener's on_acquire."""

    def __init__(self) -> None:
        self.armed = False

    def strike(self) -> None:
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt

    def check(self, obj: object) -> bool:
        self.strike()
        return True

    def on_acquire(self, obj: object, wait: float) -> None:
        self.strike()


@pytest.mark.parametrize("where", ["check", "listener"])
@pytest.mark.parametrize("reused", ["idle", "handed to a waiter"])
def test_a_ctrl_c_before_the_caller_gets_the_object_gives_it_back(make_pool, where, reused):
    """A check may do I/O and a listener may log, so Ctrl-C can land in either: the object
    was never handed out, so it must not stay counted in use (a pool of one would then time
    out forever, and close() would wait for it and never flush it)."""
    ctrl_c = CtrlC()
    hooks = {"check": ctrl_c.check} if where == "check" else {"listener": ctrl_c}
    pool = make_pool(CountingFactory(), max_size=1, **hooks)
    with pool.acquire():
        pass
    if reused == "idle":
        ctrl_c.armed = True
        with pytest.raises(KeyboardInterrupt), pool.acquire():
            pass
    else:  # the slow path: the object comes back to a caller already queued for it
        holder = pool.acquire()
        holder.__enter__()
        ctrl_c.armed = True
        waiting = run_in_thread(lambda: lease_once(pool, timeout=30))
        wait_until(lambda: pool.stats().waiting == 1)
        holder.__exit__(None, None, None)
        with pytest.raises(KeyboardInterrupt):
            waiting.result(30)
    stats = pool.stats()
    assert (stats.in_use, stats.idle, stats.size) == (0, 1, 1)
    with pool.acquire(timeout=0) as obj:
        assert obj == 0  # the same object, still usable
    assert pool.stats().acquired == (2 if reused == "idle" else 3)


def test_a_held_lease_cannot_be_entered_again(make_pool):
    pool = make_pool(CountingFactory(), max_size=2)
    lease = pool.acquire()
    with lease, pytest.raises(RuntimeError, match="already held"):
        lease.__enter__()


def test_an_unentered_lease_holds_nothing(make_pool):
    pool = make_pool(CountingFactory(), max_size=1)
    pool.acquire()
    with pool.acquire(timeout=5) as obj:  # the first lease would have taken the only slot
        assert obj == 0


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"max_size": 0}, "max_size"),
        ({"max_size": True}, "max_size"),
        ({"min_size": 3, "max_size": 2}, "min_size"),
        ({"min_size": -1}, "min_size"),
        ({"acquire_timeout": -1}, "acquire_timeout"),
        ({"acquire_timeout": float("nan")}, "acquire_timeout"),
        ({"close_timeout": -1}, "close_timeout"),
        ({"max_waiting": False}, "max_waiting"),
        ({"name": ""}, "name"),
        ({"max_waiting": -1}, "max_waiting"),
        ({"max_lifetime": 0}, "max_lifetime"),
        ({"max_idle": -5}, "max_idle"),
        ({"leak_timeout": 0}, "leak_timeout"),
        ({"on_exhausted": "grow"}, "on_exhausted"),
        ({"check": 3}, "check"),
        ({"discard_on": [ValueError]}, "discard_on"),
    ],
)
def test_bad_limits_raise_config_error_naming_the_argument(options, argument):
    with pytest.raises(ConfigError, match=rf"^{argument} ") as caught:
        ProducerPool(CountingFactory(), **options)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, PoolError)


def test_a_non_callable_factory_is_rejected():
    with pytest.raises(ConfigError, match=r"^factory "):
        ProducerPool(42)  # type: ignore[arg-type]


class AsyncFactory:
    async def __call__(self) -> int:
        return 1


async def _async_check(obj: object) -> bool:
    return True


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"factory": AsyncFactory()}, "factory"),
        ({"check": _async_check}, "check"),
        ({"destroy": _async_check}, "destroy"),
    ],
)
def test_the_threaded_pool_refuses_coroutine_functions_in_one_line(options, argument):
    """It would hand out coroutines, accept every object, or close none."""
    options = {"factory": CountingFactory(), **options}
    with pytest.raises(
        ConfigError, match=rf"^{argument} is a coroutine function .*AsyncProducerPool$"
    ):
        ProducerPool(**options)


def test_a_check_that_returns_an_awaitable_is_refused_and_its_object_comes_back(make_pool):
    """An `async def` check the constructor cannot see (behind a lambda, a partial, a kit's
    wrapper): a thread cannot await its answer. Dropped, it left the object leased for
    good, and every later acquire timed out with in_use=max_size."""
    pool = make_pool(CountingFactory(), max_size=1, check=lambda obj: _async_check(obj))
    lease_once(pool)  # a new object is not checked; from its second lease on, it is
    for _ in range(2):  # the second time proves the object came back
        with pytest.raises(
            ConfigError, match=r"the check returned an awaitable .*AsyncProducerPool$"
        ):
            pool.acquire(timeout=0).__enter__()
    stats = pool.stats()
    assert (stats.idle, stats.in_use, stats.acquired, stats.timeouts) == (1, 0, 1, 0)


async def _stop() -> None:
    pass


def test_a_factory_that_returns_an_awaitable_fails_the_acquire_in_one_line(make_pool):
    """An `async def` behind a lambda: the caller was leased the coroutine itself."""
    pool = make_pool(lambda: _stop(), max_size=1)
    with pytest.raises(
        ConfigError, match=r"the factory returned an awaitable .*AsyncProducerPool$"
    ):
        pool.acquire(timeout=5).__enter__()
    assert (pool.stats().size, pool.stats().factory_errors) == (0, 1)


def test_a_destroy_that_returns_an_awaitable_is_reported_by_close(make_pool):
    """An `async def` behind a lambda closed nothing, and close() said all went well."""
    pool = make_pool(CountingFactory(), destroy=lambda obj: _stop())
    lease_once(pool)
    with pytest.raises(PoolError, match=r"1 object\(s\) failed to close cleanly") as closing:
        pool.close(timeout=5)
    (error,) = closing.value.errors
    assert isinstance(error, ConfigError)
    assert "the destroy returned an awaitable" in str(error)


def test_repr_shows_name_size_and_gauges(make_pool):
    pool = make_pool(CountingFactory(), max_size=10, name="events")
    lease = pool.acquire()
    with lease:
        assert repr(pool) == "<ProducerPool 'events' size=1/10 idle=0 in_use=1 waiting=0>"
        assert repr(lease).startswith("<Lease holding 0 from <ProducerPool 'events'")
    assert repr(lease).startswith("<Lease not held")


def test_stats_export_as_a_plain_dict(make_pool):
    pool = make_pool(CountingFactory(), name="metrics")
    with pool.acquire():
        pass
    exported = pool.stats().as_dict()
    assert exported["name"] == "metrics"
    assert exported["acquired"] == 1
    assert set(exported) >= {"size", "idle", "in_use", "waiting", "shared_leases"}
