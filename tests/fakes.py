"""Small fakes for the pool's unit tests: counting factories and closable resources."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable


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
        self.in_use = False

    def close(self) -> None:
        self.close_calls += 1

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

    def __call__(self) -> int:
        self.entered.set()
        if not self.release.wait(30):
            raise TimeoutError("GatedFactory was never released")
        return 42


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
