"""All dependency-injector wiring: settings from YAML, the producer factory, pool, publisher.

Tests override only `producer_factory` (with an int factory, say) on their own container.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

try:
    from dependency_injector import containers, providers
except ImportError as exc:
    raise ImportError(
        f"producer_pool.containers needs the 'di' extra ({exc.name} is missing): "
        "pip install 'producer-pool[di]'"
    ) from exc

from .config_file import load_config
from .kafka import KafkaProducerFactory, pool_for_factory
from .pool import ProducerPool
from .services import EventPublisher
from .settings import Settings, validate_settings

__all__ = ["DEFAULT_CONFIG_PATH", "Container", "create_container"]


def _default_config_path() -> Path:
    """The shipped YAML: inside the wheel, or `config/` in a source checkout."""
    packaged = Path(__file__).with_name("producer_pool.yaml")
    return (
        packaged if packaged.exists() else Path(__file__).parents[2] / "config/producer_pool.yaml"
    )


DEFAULT_CONFIG_PATH = _default_config_path()


def _pool(factory: Callable[[], Any], settings: Settings) -> Iterator[ProducerPool[Any]]:
    """The pool as a resource: `shutdown_resources()` closes it, flushing every producer."""
    pool = pool_for_factory(factory, **settings.pool.pool_options())
    try:
        yield pool
    finally:
        pool.close()


class Container(containers.DeclarativeContainer):
    """Production wiring. Build it with `create_container()`, which reads a YAML file safely
    (`config_file.load_config`) and validates it; a bare `Container()` has no settings."""

    config = providers.Configuration(strict=True)
    config_source = providers.Object(str(DEFAULT_CONFIG_PATH))

    settings = providers.Singleton(validate_settings, config, config_source)

    producer_factory = providers.Singleton(
        KafkaProducerFactory, settings.provided.kafka.producer_options.call()
    )

    pool = providers.Resource(_pool, factory=producer_factory, settings=settings)

    publisher = providers.Factory(
        EventPublisher, pool=pool, topic=settings.provided.publisher.topic
    )


def create_container(
    config_path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Container:
    """A container whose settings are validated now: a bad file fails here, in one line.

    `overrides` (nested like the YAML) is merged over the file, e.g. a demo's broker address.
    """
    path = DEFAULT_CONFIG_PATH if config_path is None else Path(config_path)
    container = Container()
    container.config.from_dict(load_config(path, overrides))
    container.config_source.override(str(path))
    container.settings()
    return container
