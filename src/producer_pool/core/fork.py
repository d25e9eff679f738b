"""The one fork registry: objects whose per-process state a forked child must reset.

Every module that holds sockets, threads or locks (pools, Kafka producers, transactional id
sets) registers here instead of calling `os.register_at_fork` itself. The child runs each
object's reset once, in registration order; a reset that fails is reported on stderr (never
through `logging`, whose locks another parent thread may have held) and the others still run.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["reset_after_fork"]

_registry: weakref.WeakKeyDictionary[Any, Callable[[Any], None]] = weakref.WeakKeyDictionary()


def reset_after_fork(obj: Any, reset: Callable[[Any], None]) -> None:
    """Call `reset(obj)` in every child forked while `obj` is alive (held weakly)."""
    _registry[obj] = reset


def _reset_in_child() -> None:
    for obj, reset in list(_registry.items()):
        try:
            reset(obj)
        except Exception as exc:  # one broken reset must not leave the others undone
            sys.stderr.write(f"producer-pool: resetting {type(obj).__name__} after fork: {exc}\n")


if hasattr(os, "register_at_fork"):  # not on Windows: there is no fork to survive
    os.register_at_fork(after_in_child=_reset_in_child)
