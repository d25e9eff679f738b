"""The module paths of 0.1, kept as aliases of their new homes for one release (0.2).

Each old module is a stub that calls `alias`: importing it warns once and hands back the new
module itself, so attributes, `isinstance` and monkeypatching behave as with the new path.
"""

from __future__ import annotations

import importlib
import sys
import warnings

__all__ = ["MOVED", "alias"]

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
