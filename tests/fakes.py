"""Small fakes and helpers for the tests: counting factories, closable resources, threads."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class CountingFactory:
    """Returns 0, 1, 2, ...: the identity of each leased object is its creation number."""

    def __init__(self) -> None:
        self._numbers = itertools.count()
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return next(self._numbers)


class Resource:
    """A closable client object that records how often it was closed."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.close_calls = 0
        self.closed = threading.Event()  # destroys run on their own thread: wait for this
        self.in_use = False

    def close(self) -> None:
        self.close_calls += 1
        self.closed.set()

    def __repr__(self) -> str:
        return f"Resource({self.number})"


class ResourceFactory:
    """Makes numbered `Resource`s and remembers them all."""

    def __init__(self) -> None:
        self.made: list[Resource] = []
        self._lock = threading.Lock()

    def __call__(self) -> Resource:
        with self._lock:
            resource = Resource(len(self.made))
            self.made.append(resource)
        return resource


class GatedFactory:
    """A factory whose calls block until `release` is set: a broker that does not answer."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        self.entered.set()
        if not self.release.wait(30):
            raise TimeoutError("GatedFactory was never released")
        return 42


class Broker:
    """A factory of numbered objects (0, 1, 2, ...) behind a scripted broker: call number
    `n` fails with `failures[n]`, if any, and hangs while `n in hanging` until `release`
    is set (a connection attempt the broker never answers). `make_async` is the same for
    the asyncio pool, hanging without blocking its loop; the twins use it."""

    def __init__(
        self,
        failures: dict[int, BaseException] | None = None,
        hanging: tuple[int, ...] = (),
        name: str = "127.0.0.1:9",
    ) -> None:
        self.failures = failures or {}
        self.hanging = hanging
        self.release = threading.Event()
        self.entered = threading.Event()  # a hanging call began
        self.name = name
        self._numbers = itertools.count()

    def __call__(self) -> int:
        number = next(self._numbers)
        if number in self.hanging:
            self.entered.set()
            self.release.wait(30)
        return self._outcome(number)

    async def make_async(self) -> int:
        number = next(self._numbers)
        if number in self.hanging:
            self.entered.set()
            await asyncio.to_thread(self.release.wait, 30)
        return self._outcome(number)

    def _outcome(self, number: int) -> int:
        if number in self.failures:
            raise copy.copy(self.failures[number])  # a fresh one, as a real factory's
        return number

    def __repr__(self) -> str:
        return f"Broker({self.name!r})"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for an observable outcome another thread produces; fail loudly if it never comes."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout}s: {predicate}")
        pause.wait(0.001)


@contextlib.contextmanager
def ctrl_c() -> Iterator[Callable[[], None]]:
    """Within the block SIGINT raises KeyboardInterrupt in the main thread, once, as in a
    terminal, whatever the process inherited (started in the background by a non-interactive
    shell, Python begins with SIGINT ignored; a handler of Python's own left by another test
    is a bug of that test). Yields `press`, for another thread: it sends SIGINT until the
    main thread raised. CPython runs a handler only between bytecodes: a signal that lands
    after the main thread released the GIL to block in a wait, and before that wait began,
    is seen only when the wait ends (3.11: 24 of 300 such waits on a Condition went unseen
    for their whole second). A user presses again."""
    inherited = signal.getsignal(signal.SIGINT)
    assert inherited in (signal.default_int_handler, signal.SIG_IGN), inherited
    raised = threading.Event()
    main = threading.main_thread().ident
    assert main is not None

    def interrupt(signum: int, frame: object) -> None:
        if not raised.is_set():
            raised.set()
            raise KeyboardInterrupt

    def press() -> None:
        for _ in range(600):  # 30 s
            signal.pthread_kill(main, signal.SIGINT)
            if raised.wait(0.05):
                return

    signal.signal(signal.SIGINT, interrupt)
    try:
        yield press
    finally:
        signal.signal(signal.SIGINT, inherited)


def in_forked_child(work: Callable[[], str]) -> str:
    """Run `work` in a forked child (which leaves with `os._exit`, running none of the
    parent's cleanup) and return what it reported; the child must exit 0."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.write(write_end, work().encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        report = reader.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report
    return report


def lease_once(pool: Any, timeout: float | None = None) -> Any:
    """Take one lease, give it back, and return the object that was leased."""
    with pool.acquire(timeout=timeout) as obj:
        return obj


def run_in_thread(work: Callable[[], T]) -> Future[T]:
    """Run `work` on a daemon thread; the future bounds how long a test waits for it."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def run_together(count: int, work: Callable[[], None], timeout: float = 60) -> list[BaseException]:
    """Run `work` in `count` threads released at once by a barrier; return what they raised."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(10)
            work()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return errors


def publish_from_threads(pool, topic: str, threads: int, per_thread: int) -> list:
    """Each thread sends `per_thread` messages keyed `{thread}-{i}`, a lease per message,
    all threads starting together; returns every future."""
    numbers = itertools.count()
    futures: list = []

    def send_all() -> None:
        number = next(numbers)
        mine = []
        for i in range(per_thread):
            with pool.acquire() as producer:
                mine.append(producer.send(topic, key=f"{number}-{i}".encode(), value=b"x" * 100))
        futures.extend(mine)

    assert run_together(threads, send_all, timeout=120) == []
    return futures


async def publish_from_tasks(pool, send, tasks: int, per_task: int) -> tuple[list, set[int]]:
    """Each task sends `per_task` messages keyed `{task}-{i}` with `send(producer, key)`, a
    lease per message, all tasks at once; returns every delivery future (all awaited) and
    the identities of the producers leased."""
    leased: set[int] = set()

    async def task(number: int) -> list:
        futures = []
        for i in range(per_task):
            async with pool.acquire() as producer:
                leased.add(id(producer))
                futures.append(await send(producer, f"{number}-{i}".encode()))
        return futures

    batches = await asyncio.gather(*(task(t) for t in range(tasks)))
    futures = [f for batch in batches for f in batch]
    await asyncio.gather(*futures)
    return futures, leased


def run_users_pytest(directory: Any, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run pytest in `directory` as a user's project would: our plugin loaded (installed),
    but none of the plugins only our suite uses (pytest-asyncio, pytest-randomly)."""
    plugins = ["-p", "no:asyncio", "-p", "no:randomly", "-p", "no:cacheprovider"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, *arguments],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
