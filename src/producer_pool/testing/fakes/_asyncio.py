"""What the asyncio fakes share: futures resolved on their loop, whichever thread settles a
message (an outage may end on another thread), and a drain that awaits them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from ...clients._base import DrainClock
from ...core.clock import Deadline
from ._core import FakeProducerCore

__all__ = ["AsyncDeliveries"]


class AsyncDeliveries:
    """The futures of one asyncio fake producer's messages still in flight."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self.futures: set[asyncio.Future[Any]] = set()

    def new(self) -> asyncio.Future[Any]:
        """A future on the running loop (the producer's from its first call on)."""
        if self.loop is None:
            self.loop, self._thread = asyncio.get_running_loop(), threading.get_ident()
        future: asyncio.Future[Any] = self.loop.create_future()
        self.futures.add(future)
        future.add_done_callback(self.futures.discard)
        return future

    def resolve(self, future: asyncio.Future[Any], settle: Callable[[], None]) -> None:
        """Run `settle` (which resolves `future`) on the loop: now if this is its thread."""
        if threading.get_ident() == self._thread:
            settle()
        elif self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(settle)

    async def wait(self, timeout: float | None) -> None:
        """Until every message in flight has its result, or `timeout`."""
        if self.futures:
            await asyncio.wait(set(self.futures), timeout=timeout)

    async def drain(self, core: FakeProducerCore, timeout: float, deadline: Deadline | None) -> int:
        """`FakeKit._drain` for asyncio: await the results until the drain's time is up
        (close() may bring it forward), fail what is left, close; how many were left."""
        drain = DrainClock(timeout, deadline)
        while self.futures and (step := drain.next_slice()) > 0:
            await self.wait(step)
        left = core.close(0)
        await asyncio.sleep(0)  # the failures' callbacks (counting) run on the loop
        return left
