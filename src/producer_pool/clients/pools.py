"""`pool(kit)` and `async_pool(kit)`: the one wiring of a pool around any client's kit.

The kit supplies what makes a pool of Kafka producers lose nothing: its destroy (a drain
bounded by close's deadline), its health check, its fatal errors (discarded), its
delivery counts (close() reports every failure). None of them can be replaced by an
option; a `check` of your own runs after the kit's, `discard_on` adds to its errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..core.async_pool import AsyncProducerPool
from ..core.options import PoolKwargs, PoolOptions
from ..core.pool import ProducerPool
from ..errors import ConfigError
from .kit import AnyKit, AsyncClientKit, ClientKit

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["async_pool", "pool"]

P = TypeVar("P")

#: What the kit wires and an option may not replace: the zero-loss contract.
_KIT_OWNED = ("factory", "destroy", "deliveries")


def pool(kit: ClientKit[P], **pool_options: Unpack[PoolKwargs]) -> ProducerPool[P]:
    """A `ProducerPool` of `kit`'s producers (threaded clients: kafka-python, confluent)."""
    if kit.is_async:
        raise ConfigError(f"the {kit.name} kit is for asyncio: use async_pool(kit)")
    return ProducerPool(kit, **_wired(kit, dict(pool_options)))


def async_pool(kit: AsyncClientKit[P], **pool_options: Unpack[PoolKwargs]) -> AsyncProducerPool[P]:
    """An `AsyncProducerPool` of `kit`'s producers (confluent-aio, aiokafka)."""
    if not kit.is_async:
        raise ConfigError(f"the {kit.name} kit is for threads: use pool(kit)")
    return AsyncProducerPool(kit, **_wired(kit, dict(pool_options)))


def _wired(kit: AnyKit, options: dict[str, Any]) -> dict[str, Any]:
    """The pool's options around `kit`: its destroy, check, fatal errors and counts."""
    owned = sorted(set(options) & set(_KIT_OWNED))
    if owned:
        raise ConfigError(f"{', '.join(owned)}: wired by the {kit.name} kit, not an option")
    # Checked before the kit is taken (a refused pool would leave it serving none), and
    # before the wrapper below hides an `async def` check from the threaded pool's test.
    given = PoolOptions.of(options)
    given.check_factory(kit, threaded=not kit.is_async)
    kit.attach(given.max_size)
    user_check = options.pop("check", None)
    check: Callable[[Any], object] = kit.is_healthy
    if user_check is not None:
        kit_check = kit.is_healthy

        def check(producer: Any) -> object:
            return kit_check(producer) and user_check(producer)

    return {
        "name": kit.servers,
        **options,
        "destroy": kit.destroy,
        "check": check,
        "discard_on": (*kit.FATAL_ERRORS, *options.get("discard_on", ())),
        "deliveries": kit.deliveries,
    }


def kit_defaults(kit: type[Any], factory: object, options: dict[str, Any]) -> dict[str, Any]:
    """0.1's `pool_for_factory` around a factory that is not a kit (tests' int factory):
    `options`, with the kit class's destroy (or the factory's own), check, fatal errors and
    the factory's delivery counts wherever they name none."""
    options.setdefault("destroy", getattr(factory, "destroy", kit.close))
    options.setdefault("check", kit.is_healthy)
    options.setdefault("discard_on", kit.FATAL_ERRORS)
    options.setdefault("deliveries", getattr(factory, "deliveries", None))
    return options
