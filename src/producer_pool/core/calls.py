"""Calling what a user gives a pool: `close_object`, the default destroy, `settled`, the
value of a call that may be sync or async, and `drop_locals`, for a failed call's error.
The pools and the client kits share them."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["close_object", "drop_locals", "settled", "takes_deadline"]


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


def drop_locals(error: BaseException) -> None:
    """Clear the locals of the ended frames in `error`'s tracebacks, its cause's and its
    context's: a factory that made a producer, failed to bootstrap it and closed it left it
    in those frames, alive as long as the error (a waiter's, a task's, in a cycle with its
    frames until a collection). A forked child that collects a closed librdkafka producer
    of its parent crashes. The tracebacks still print; only the values are gone."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)  # skips the frames still running
        pending += [exc.__cause__, exc.__context__]
