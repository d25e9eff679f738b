"""`LatencyRelay`: a loopback TCP relay that delays traffic and can cut it, in user space.

The kernel here has no netem, so benchmarks get network latency from this relay, and
outage tests "stop" the broker by cutting the relay while the broker keeps its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any

from .broker import free_port

__all__ = ["LatencyRelay"]

_CHUNK = 65536


class LatencyRelay:
    """Forward `127.0.0.1:port` to `target`, delaying each direction by `one_way_delay`.

    Throughput is not limited by the delay: bytes are timestamped when read and written
    once their time has come, as on a long link.
    """

    def __init__(self, target_port: int, *, one_way_delay: float = 0.0, port: int = 0) -> None:
        self.target_port = target_port
        self.one_way_delay = one_way_delay
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="relay")
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> LatencyRelay:
        self._thread.start()
        self.resume()
        return self

    def cut(self) -> None:
        """Stop listening and drop every connection: the broker seems gone."""
        self._call(self._cut())

    def resume(self) -> None:
        """Listen again on the same port: the broker seems back."""
        self._call(self._listen())

    def close(self) -> None:
        """Cut, then end every relay task before the loop stops, so no socket outlives it."""
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._relay, "127.0.0.1", self.port, reuse_address=True
            )

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._connections):
            writer.transport.abort()
        self._connections.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    async def _shutdown(self) -> None:
        await self._cut()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        writers = [client_w]
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            writers.append(server_w)
            if self._server is None:  # cut while the upstream connection was being made
                return
            self._connections.update(writers)
            await asyncio.gather(
                self._pump(client_r, server_w),
                self._pump(server_r, client_w),
                return_exceptions=True,
            )
        except OSError:
            pass
        finally:  # also on cancellation (close): every socket of this connection is closed
            for writer in writers:
                self._connections.discard(writer)
                writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    writer.transport.abort()
                    return
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)  # the simulated link delay, not synchronisation
                writer.write(data)
                await writer.drain()

        delivery = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(_CHUNK):
                queue.put_nowait((loop.time() + self.one_way_delay, data))
        finally:
            queue.put_nowait((loop.time() + self.one_way_delay, b""))
            with contextlib.suppress(Exception):
                await delivery

    def __enter__(self) -> LatencyRelay:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
