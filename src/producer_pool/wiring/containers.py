"""All dependency-injector wiring: settings from YAML, the producer factory, pool, publisher.

Tests override only `producer_factory` (with an int factory, say) on their own container.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

try:
    from dependency_injector import containers, providers
except ImportError as exc:
    raise ImportError(
        f"producer_pool.containers needs the 'di' extra ({exc.name} is missing): "
        "pip install 'producer-pool[di]'"
    ) from exc

from ..clients.kafka_python import KafkaProducerFactory, pool_for_factory
from ..core.async_pool import AsyncProducerPool
from ..core.pool import ProducerPool
from ..errors import PoolClosed
from .config_file import load_config
from .services import AsyncEventPublisher, EventPublisher
from .settings import Settings, validate_settings

__all__ = ["DEFAULT_CONFIG_PATH", "AsyncContainer", "Container", "create_container"]


def _default_config_path() -> Path:
    """The shipped YAML: inside the wheel, or `config/` in a source checkout."""
    package = Path(__file__).parents[1]
    packaged = package / "producer_pool.yaml"
    return packaged if packaged.exists() else package.parents[1] / "config/producer_pool.yaml"


DEFAULT_CONFIG_PATH = _default_config_path()


class _ShutDown:
    """Whether the container's pool was shut down. dependency-injector's Resource builds a
    new one on the next call after `shutdown_resources()`: a hook that touched the container
    after shutdown (an atexit, a worker's exit signal) would leak its producers, unclosed."""

    def __init__(self) -> None:
        self.done = False

    def refuse(self, resource: str) -> None:
        if self.done:
            raise PoolClosed(
                f"container.{resource}(): this container was shut down "
                "(shutdown_resources()); build a new one (create_container()) to publish again"
            )


def _pool(
    factory: Callable[[], Any], settings: Settings, shut_down: _ShutDown
) -> Iterator[ProducerPool[Any]]:
    """The pool as a resource: `shutdown_resources()` closes it, flushing every producer."""
    shut_down.refuse("pool")
    pool = pool_for_factory(factory, **settings.pool.kwargs())
    try:
        yield pool
        shut_down.done = True  # only a pool that was built and shut down: a failed build may retry
    finally:
        pool.close()


def _aiokafka_factory(options: Mapping[str, Any]) -> Callable[[], Any]:
    """The async pool's factory; aiokafka is imported only when it is built (an extra)."""
    from ..clients.aiokafka import AIOKafkaProducerFactory

    return AIOKafkaProducerFactory(options)


async def _async_pool(
    factory: Callable[[], Any], settings: Settings, shut_down: _ShutDown
) -> AsyncIterator[AsyncProducerPool[Any]]:
    """The asyncio pool as an async resource: `await shutdown_resources()` closes it."""
    from ..clients.aiokafka import pool_for_factory as aiokafka_pool_for_factory

    shut_down.refuse("async_pool")
    pool = aiokafka_pool_for_factory(factory, **settings.pool.kwargs())
    try:
        yield pool
        shut_down.done = True
    finally:
        await pool.close()


def _prometheus_collector(pool: Any) -> Any:
    """An unregistered `PoolCollector` for the pool: register it with your registry (or
    `prometheus_client.REGISTRY`). prometheus-client is an extra, imported only here."""
    from ..metrics.prometheus import PoolCollector

    return PoolCollector([pool], registry=None)


class _Settings(containers.DeclarativeContainer):
    """What both containers share: the YAML's configuration, validated once."""

    config = providers.Configuration(strict=True)
    config_source = providers.Object(str(DEFAULT_CONFIG_PATH))

    settings = providers.Singleton(validate_settings, config, config_source)
    #: Set by `shutdown_resources()`: the container then refuses to build a pool again.
    shut_down = providers.Singleton(_ShutDown)


class Container(_Settings):
    """Production wiring for threaded services. Build it with `create_container()`, which
    reads a YAML file safely (`config_file.load_config`) and validates it; a bare
    `Container()` has no settings. `init_resources()` and `shutdown_resources()` stay
    synchronous calls."""

    producer_factory = providers.Singleton(
        KafkaProducerFactory, _Settings.settings.provided.kafka.producer_options.call()
    )

    pool = providers.Resource(
        _pool,
        factory=producer_factory,
        settings=_Settings.settings,
        shut_down=_Settings.shut_down,
    )

    publisher = providers.Factory(
        EventPublisher, pool=pool, topic=_Settings.settings.provided.publisher.topic
    )

    prometheus_collector = providers.Singleton(_prometheus_collector, pool=pool)


class AsyncContainer(_Settings):
    """The same wiring for asyncio services (aiokafka producers, the same YAML):
    `await container.init_resources()` builds `async_pool`, `await
    container.shutdown_resources()` closes it. A container of its own, so that a threaded
    service's `init_resources()` never meets a coroutine."""

    async_producer_factory = providers.Singleton(
        _aiokafka_factory, _Settings.settings.provided.kafka.producer_options.call()
    )

    async_pool = providers.Resource(
        _async_pool,
        factory=async_producer_factory,
        settings=_Settings.settings,
        shut_down=_Settings.shut_down,
    )

    async_publisher = providers.Factory(
        AsyncEventPublisher, pool=async_pool, topic=_Settings.settings.provided.publisher.topic
    )

    prometheus_collector = providers.Singleton(_prometheus_collector, pool=async_pool)


C = TypeVar("C", Container, AsyncContainer)


def create_container(
    config_path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    container_class: type[C] = Container,  # type: ignore[assignment]
) -> C:
    """A container whose settings are validated now: a bad file fails here, in one line.

    `overrides` (nested like the YAML) is merged over the file, e.g. a demo's broker address.
    `container_class=AsyncContainer` wires the asyncio pool instead.
    """
    path = DEFAULT_CONFIG_PATH if config_path is None else Path(config_path)
    container = container_class()
    container.config.from_dict(load_config(path, overrides))
    container.config_source.override(str(path))
    container.settings()
    return container
