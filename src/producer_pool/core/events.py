"""`PoolListener`: a pool's events, for logs and traces without subclassing the pool.

Give one to a pool (`ProducerPool(..., listener=MyListener())`) and override the methods you
need. They run outside the pool's lock (for the asyncio pool, on its event loop: keep them
quick); one that raises is logged and ignored, so a listener never breaks a lease. With no
listener, the pool's fast path pays nothing for them.
"""

from __future__ import annotations

__all__ = ["PoolListener"]


class PoolListener:
    """No-op hooks; override the ones you need."""

    def on_create(self, obj: object, seconds: float) -> None:
        """A factory call made `obj` in `seconds`."""

    def on_create_failed(self, error: BaseException) -> None:
        """A factory call raised `error` (it goes to the longest waiter, if any)."""

    def on_acquire(self, obj: object, wait: float) -> None:
        """A lease on `obj` began after `wait` seconds (0 when an idle object was ready)."""

    def on_timeout(self, waited: float) -> None:
        """A caller gave up after `waited` seconds: `PoolTimeout`."""

    def on_destroy(self, obj: object, reason: str) -> None:
        """`obj` left the pool and was destroyed. `reason`: "discarded" (an exception in
        `discard_on`), "failed check", "lifetime", "idle" or "closed"."""

    def on_leak(self, held: float, stack: str) -> None:
        """A lease has been held `held` seconds, beyond `leak_timeout`; `stack` is where it
        was taken."""
