"""A fork while the pool creates on its threads (prewarm under gunicorn --preload): the child
never inherits a creation half done, nor the locks it holds."""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from producer_pool import ConfigError, PoolCloseError
from producer_pool.core import fork
from tests.fakes import GatedFactory, ResourceFactory, in_forked_child

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


@pytest.fixture
def fork_wait() -> Iterator[None]:
    """Restore the process-wide fork wait whatever the test set."""
    before = fork.fork_wait_timeout()
    yield
    fork.set_fork_wait_timeout(before)


#: Set when a fork begins: registered after the fork registry's own hook, so it runs first
#: (before-fork hooks run in reverse order), while the fork has not yet waited for anything.
_forking = threading.Event()
os.register_at_fork(before=_forking.set)


def test_a_fork_waits_for_a_creation_in_flight_so_the_child_inherits_no_held_lock(make_pool):
    import_lock = threading.Lock()  # stands for the module lock a first getaddrinfo holds
    entered = threading.Event()
    _forking.clear()

    def factory() -> object:
        with import_lock:
            entered.set()
            # The creation's own work, still running when the fork comes: it ends only once
            # the fork has begun (a fork that did not wait would copy the lock held).
            _forking.wait(10)
        return object()

    make_pool(factory, min_size=1)  # prewarm: the factory runs on the pool's thread
    assert entered.wait(10)
    # Without the wait, the child's lock stays held by a thread it does not have.
    assert in_forked_child(lambda: str(import_lock.acquire(timeout=2))) == "True"


def test_a_fork_waits_at_most_the_bound_and_says_so(make_pool, fork_wait, capfd):
    factory = GatedFactory()  # a creation that does not end: a broker that does not answer
    make_pool(factory, min_size=1)
    assert factory.entered.wait(10)
    fork.set_fork_wait_timeout(0.1)
    try:
        assert in_forked_child(lambda: "forked") == "forked"
    finally:
        factory.release.set()
    assert "forking with 1 creation(s) still running after 0.1s" in capfd.readouterr().err


def test_a_factory_that_forks_does_not_wait_for_itself(make_pool, fork_wait, capfd):
    fork.set_fork_wait_timeout(600)  # waiting for itself would exceed the test's timeout
    reports: list[str] = []

    def factory() -> object:
        reports.append(in_forked_child(lambda: "forked"))
        return object()

    pool = make_pool(factory)
    with pool.acquire(timeout=30):
        pass
    assert reports == ["forked"]
    assert "forking with" not in capfd.readouterr().err


def test_no_creation_starts_while_a_fork_is_pending():
    """Else creations that overlap one another would hold a fork until its bound."""
    gate = fork._ForkGate(timeout=30)
    gate.before_fork()  # nothing running: returns at once, the fork is now pending
    started = threading.Event()

    def create() -> None:
        with gate.block():
            started.set()

    creator = threading.Thread(target=create, daemon=True)
    creator.start()
    assert not started.wait(0.2)  # held at the gate (a negative check: it must not start)
    gate.after_fork_in_parent()
    assert started.wait(10)
    creator.join(10)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "5", True, None])
def test_a_bad_fork_wait_is_refused_in_one_line_as_a_config_error(bad, fork_wait):
    """Our one hierarchy (a `ConfigError` is a `ValueError` too). `inf` was accepted, and a
    fork during a creation then did not wait at all (an `OverflowError` in the hook)."""
    before = fork.fork_wait_timeout()
    with pytest.raises(ConfigError, match=r"^fork wait timeout must be a finite number of"):
        fork.set_fork_wait_timeout(bad)
    assert fork.fork_wait_timeout() == before


def test_closing_at_a_workers_exit_logs_each_pools_outcome(make_pool):
    """What multiprocessing's finalizer (and Celery's integration) runs at a child's exit."""

    def refuse_to_close(resource: object) -> None:
        raise PoolCloseError("3 message(s) undelivered", undelivered=3)

    clean = make_pool(ResourceFactory(), name="clean")
    failing = make_pool(ResourceFactory(), name="failing", destroy=refuse_to_close)

    def child() -> str:
        for pool in (clean, failing):
            with pool.acquire(timeout=5):
                pass  # an object of the child's own, to close
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logger = logging.getLogger("producer_pool")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)  # the child's own logger: the parent's is untouched
        fork.close_registered()
        ours = [r for r in records if "'clean'" in r.getMessage() or "'failing'" in r.getMessage()]
        return "\n".join(f"{r.levelname} {r.getMessage()}" for r in ours)

    report = in_forked_child(child)
    assert "INFO <ProducerPool 'clean' size=1/4 idle=1 in_use=0 waiting=0> closed at the" in report
    assert "ERROR <ProducerPool 'failing'" in report
    assert "3 message(s) undelivered" in report
    assert not clean.closed  # the parent's pools are the parent's


#: A service whose pool module is imported first in a multiprocessing child: in `run()`, or
#: (with "top") by the main module, which a spawned child imports again.
FIRST_IMPORT_IN_A_CHILD = textwrap.dedent(
    """
    import multiprocessing
    import sys

    start_method, closes, where = sys.argv[1:]
    if where == "top" and __name__ == "__mp_main__":
        from producer_pool.core.pool import ProducerPool


    class Producer:
        def close(self):
            with open(closes, "a") as out:
                out.write("closed\\n")


    POOLS = []  # alive when the child ends, as a module-level pool is


    def work():
        from producer_pool.core.pool import ProducerPool

        POOLS.append(ProducerPool(Producer))
        with POOLS[0].acquire():
            pass


    if __name__ == "__main__":
        assert "producer_pool" not in sys.modules
        child = multiprocessing.get_context(start_method).Process(target=work)
        child.start()
        child.join(30)
        sys.exit(child.exitcode)
    """
)


@pytest.mark.parametrize(
    ("start_method", "where"),
    [
        (start_method, where)
        for start_method in multiprocessing.get_all_start_methods()
        for where in ("run", "top")
        if (start_method, where) != ("fork", "top")  # a forked child imports nothing again
    ],
)
def test_a_pool_first_imported_in_a_multiprocessing_child_is_closed_at_its_exit(
    start_method, where, tmp_path: Path
):
    """Before, only a pool whose module the parent had imported before the fork was."""
    script, closes = tmp_path / "service.py", tmp_path / "closes.txt"
    script.write_text(FIRST_IMPORT_IN_A_CHILD)
    run = subprocess.run(
        [sys.executable, str(script), start_method, str(closes), where],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert closes.read_text() == "closed\n"  # before: no such file
