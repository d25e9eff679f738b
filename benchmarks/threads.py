"""Start worker threads together behind a barrier and time them to the last one's end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def run_concurrently(worker: Callable[[int], None], threads: int) -> float:
    """Run `worker(i)` in `threads` threads released at once; seconds until all are done."""
    start = threading.Barrier(threads + 1)

    def begin(number: int) -> None:
        start.wait()
        worker(number)

    workers = [threading.Thread(target=begin, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in workers:
        thread.join()
    return time.perf_counter() - began
