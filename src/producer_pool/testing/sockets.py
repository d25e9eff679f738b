"""Find who made a socket that was never closed: an opt-in tracer and its pytest plugin.

Python's `ResourceWarning: unclosed <socket ...>` says which socket, never who made it, and
it is raised wherever the garbage collector happens to run, often in another test. The
tracer records each socket's creating thread and stack, and reports every socket that is
finalized while still open, with both. Run a suite with it loaded as a plugin::

    pytest -p producer_pool.testing.sockets

or wrap any code in `SocketTracer()` and read its `leaks`. It costs a stack walk per socket:
a tool for a hunt, never left on.
"""

from __future__ import annotations

import gc
import socket
import textwrap
import threading
import traceback
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = ["LeakedSocket", "SocketTracer"]

_STACK_DEPTH = 30  # frames kept of each socket's creation: enough to reach the caller's code


@dataclass
class LeakedSocket:
    """A socket finalized while open: where it was made and where it was collected."""

    fd: int  # as in the ResourceWarning's `<socket.socket fd=...>`
    family: str
    thread: str  # the thread that created it
    created: traceback.StackSummary
    collected: traceback.StackSummary
    during: str = ""  # the test running when it was collected, under the plugin

    def __str__(self) -> str:
        where = f" during {self.during}" if self.during else ""
        created = textwrap.indent("".join(self.created.format()), "  ")
        collected = textwrap.indent("".join(self.collected.format()[-8:]), "  ")
        return (
            f"socket fd={self.fd} ({self.family}) finalized while open{where}\n"
            f"  created on thread {self.thread!r}:\n{created}"
            f"  collected at:\n{collected}"
        )


@dataclass
class _Record:
    fd: int
    family: str
    thread: str
    created: traceback.StackSummary
    closed: bool = False


@dataclass
class SocketTracer:
    """While installed, every `socket.socket` (and subclass, SSL included) is watched.

    A socket counts as closed once its `close()` (or `detach()`) has released it; one that is
    garbage before then is appended to `leaks`. Tracers nest: uninstall them in reverse.
    """

    leaks: list[LeakedSocket] = field(default_factory=list)
    during: str = ""  # a label copied into each leak found (the plugin sets the test's id)
    _records: dict[int, _Record] = field(default_factory=dict, repr=False)
    _originals: dict[str, Any] = field(default_factory=dict, repr=False)

    def install(self) -> None:
        cls = socket.socket
        self._originals = {
            name: cls.__dict__[name] for name in ("__init__", "_real_close", "detach")
        }
        original_init, original_real_close, original_detach = self._originals.values()
        tracer = self

        def __init__(sock: socket.socket, *args: Any, **kwargs: Any) -> None:
            original_init(sock, *args, **kwargs)
            tracer._watch(sock)

        def _real_close(sock: socket.socket, *args: Any, **kwargs: Any) -> None:
            tracer._closed(sock)
            original_real_close(sock, *args, **kwargs)

        def detach(sock: socket.socket) -> int:
            tracer._closed(sock)
            return int(original_detach(sock))

        for name, function in zip(self._originals, (__init__, _real_close, detach), strict=True):
            setattr(cls, name, function)

    def uninstall(self) -> None:
        for name, function in self._originals.items():
            setattr(socket.socket, name, function)
        self._originals = {}

    def __enter__(self) -> SocketTracer:
        self.install()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()

    def _watch(self, sock: socket.socket) -> None:
        # not the last two frames: this method and the __init__ wrapper
        stack = traceback.StackSummary.from_list(traceback.extract_stack(limit=_STACK_DEPTH)[:-2])
        key = id(sock)
        family = getattr(sock.family, "name", str(sock.family))
        self._records[key] = _Record(sock.fileno(), family, threading.current_thread().name, stack)
        # Runs once the socket is garbage: after its own finalizer when freed at once, before
        # it when a cycle is collected, so closing is noted by close() and detach() instead.
        weakref.finalize(sock, self._finalized, key).atexit = False  # alive at exit: not a leak

    def _closed(self, sock: socket.socket) -> None:
        record = self._records.get(id(sock))
        if record is not None:
            record.closed = True

    def _finalized(self, key: int) -> None:
        record = self._records.pop(key, None)
        if record is None or record.closed:
            return
        collected = [  # not this method, nor weakref's
            frame for frame in traceback.extract_stack()[:-1] if frame.filename != weakref.__file__
        ]
        self.leaks.append(
            LeakedSocket(
                record.fd,
                record.family,
                record.thread,
                record.created,
                traceback.StackSummary.from_list(collected),
                self.during,
            )
        )


# The pytest plugin: `pytest -p producer_pool.testing.sockets`.

_tracer = SocketTracer()


def pytest_configure(config: pytest.Config) -> None:
    _tracer.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    _tracer.uninstall()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    _tracer.during = item.nodeid
    try:
        return (yield)
    finally:
        _tracer.during = ""


def pytest_sessionfinish(session: pytest.Session) -> None:
    gc.collect()  # garbage still uncollected at the end is reported too
    if _tracer.leaks and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _tracer.leaks:
        return
    terminalreporter.section("sockets finalized while open", sep="=", red=True)
    for leak in _tracer.leaks:
        terminalreporter.write_line(str(leak))
