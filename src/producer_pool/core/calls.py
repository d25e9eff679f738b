"""Calling what a user gives a pool: `close_object`, the default destroy, and `settled`,
the value of a call that may be sync or async. The pools and the client kits share them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["close_object", "settled", "takes_deadline"]


def close_object(obj: object) -> object:
    """The default destroy: call `obj.close()` when the object has one (the asyncio pool
    awaits what it returns, so an `async def close` works there)."""
    close = getattr(obj, "close", None)
    if callable(close):
        return close()
    return None


async def settled(result: object) -> Any:
    """The value of a callable that may be sync or async (factory, check, destroy)."""
    if inspect.isawaitable(result):
        return await result
    return result


def takes_deadline(destroy: Callable[..., object]) -> bool:
    """Whether `destroy` accepts `deadline=`, so close() can bound it."""
    try:
        return "deadline" in inspect.signature(destroy).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False
