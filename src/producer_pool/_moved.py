"""The module paths of 0.1, kept as aliases of their new homes for one release (0.2).

Each old module is a stub that calls `alias`: importing it warns once and hands back the new
module itself, so attributes, `isinstance` and monkeypatching behave as with the new path.
A function that left a module it used to live in is forwarded by `moved_names`, imported on
first use, so the old module never imports its new (higher) home.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["MOVED", "MOVED_NAMES", "alias", "moved_names"]

#: Old path -> new path; the stubs beside this module are the only users of the old names.
MOVED = {
    "producer_pool.pool": "producer_pool.core.pool",
    "producer_pool.async_pool": "producer_pool.core.async_pool",
    "producer_pool.stats": "producer_pool.core.stats",
    "producer_pool.events": "producer_pool.core.events",
    "producer_pool.kafka": "producer_pool.clients.kafka_python",
    "producer_pool.confluent": "producer_pool.clients.confluent",
    "producer_pool.aiokafka": "producer_pool.clients.aiokafka",
    "producer_pool.transactions": "producer_pool.clients.transactions",
    "producer_pool.config_file": "producer_pool.wiring.config_file",
    "producer_pool.settings": "producer_pool.wiring.settings",
    "producer_pool.containers": "producer_pool.wiring.containers",
    "producer_pool.services": "producer_pool.wiring.services",
    "producer_pool.broker": "producer_pool.testing.broker",
    "producer_pool.relay": "producer_pool.testing.relay",
    "producer_pool.pytest_plugin": "producer_pool.testing.plugin",
    "producer_pool.cli": "producer_pool.command.cli",
    "producer_pool.demo": "producer_pool.command.demo",
}


def alias(old: str) -> None:
    """Warn that `old` moved, and make `import old` give the new module."""
    new = MOVED[old]
    warnings.warn(
        f"{old} moved to {new}; the old path is removed in 0.3",
        DeprecationWarning,
        stacklevel=3,  # the importer's line (import machinery frames are skipped)
    )
    sys.modules[old] = importlib.import_module(new)


#: (old module, name) -> new module, for names that moved out of a module that stayed.
MOVED_NAMES = {
    ("producer_pool.core.pool", "close_object"): "producer_pool.core.calls",
    ("producer_pool.clients.kafka_python", "create_topic"): "producer_pool.testing.topics",
    ("producer_pool.clients.kafka_python", "read_topic"): "producer_pool.testing.topics",
}


def moved_names(old: str) -> Callable[[str], Any]:
    """A module `__getattr__` for `old` that warns and forwards each name in `MOVED_NAMES`."""
    moved = {name: new for (module, name), new in MOVED_NAMES.items() if module == old}

    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        new = moved[name]
        warnings.warn(
            f"{old}.{name} moved to {new}.{name}; the old path is removed in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new), name)

    return __getattr__
