"""All dependency-injector wiring: settings from YAML, the client's kit, the pool, publisher.

The file names its client (`kafka.client`): the container builds that client's kit and a
pool around it. Threaded clients (kafka-python, confluent) live in `Container`, asyncio
ones (aiokafka, confluent-aio) in `AsyncContainer`, so a threaded service's
`init_resources()` never meets a coroutine; a file for the other kind of container is
refused when the container is created. Tests override only `producer_factory` (or
`async_producer_factory`) with a factory of their own (an int factory, say).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..errors import BrokerUnavailable, ConfigError, PoolClosed, missing_extra

try:
    from dependency_injector import containers, providers
except ImportError as exc:
    raise ImportError(missing_extra("producer_pool.wiring.containers", "di", exc)) from exc

from ..clients._base import KitBase
from ..clients.kit import KITS, kit_class
from ..clients.pools import async_pool, pool
from ..core.async_pool import AsyncProducerPool
from ..core.calls import drop_locals
from ..core.pool import ProducerPool
from .config_file import load_config
from .services import AsyncEventPublisher, EventPublisher
from .settings import DEFAULT_CLIENT, Settings, validate_settings

__all__ = [
    "CONFIG_DIR",
    "DEFAULT_CONFIG_PATH",
    "SHIPPED_CONFIGS",
    "AsyncContainer",
    "Container",
    "check_config",
    "client_container",
    "create_container",
    "shipped_config",
]


def _config_dir() -> Path:
    """The shipped YAML files: inside the wheel, or `config/` in a source checkout."""
    package = Path(__file__).parents[1]
    packaged = package / "config"
    return packaged if packaged.is_dir() else package.parents[1] / "config"


CONFIG_DIR = _config_dir()
"""The folder of the shipped config files (in the package, or `config/` of a source checkout)."""
SHIPPED_CONFIGS = {
    "kafka-python": "producer_pool.yaml",
    "confluent": "confluent.yaml",
    "confluent-aio": "confluent-aio.yaml",
    "aiokafka": "aiokafka.yaml",
}
"""The shipped file of each client, in `CONFIG_DIR`."""


def shipped_config(client: str) -> Path:
    """The shipped YAML file for `client` (a name of `KITS`)."""
    if client not in SHIPPED_CONFIGS:
        kit_class(client)  # an unknown name: its one-line error, with "did you mean"
        raise ConfigError(f"no shipped config for the {client} client: write your own")
    return CONFIG_DIR / SHIPPED_CONFIGS[client]


DEFAULT_CONFIG_PATH = shipped_config(DEFAULT_CLIENT)
"""The shipped kafka-python file: `create_container()`'s default."""


def _kit(settings: Settings) -> Any:
    """The kit of the file's client, for the container's one pool."""
    return settings.kafka.kit()


def _pool_around(factory: Callable[[], Any], settings: Settings, *, asyncio: bool) -> Any:
    """A pool around a kit, or around any other factory a test put in its place."""
    options = settings.pool.kwargs()
    if isinstance(factory, KitBase):
        return async_pool(factory, **options) if asyncio else pool(factory, **options)
    return AsyncProducerPool(factory, **options) if asyncio else ProducerPool(factory, **options)


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


def _unreachable(exc: BrokerUnavailable, source: str) -> BrokerUnavailable:
    return BrokerUnavailable(f"{source}: kafka.bootstrap_servers: {exc}")


def _pool(
    factory: Callable[[], Any],
    settings: Settings,
    fail_fast: bool,
    source: str,
    shut_down: _ShutDown,
) -> Iterator[ProducerPool[Any]]:
    """The pool as a resource: `shutdown_resources()` closes it, flushing every producer.
    With `fail_fast`, `init_resources()` first makes a producer (bounded by the kit's
    bootstrap timeout): a cluster out of reach fails the start, not the first request."""
    shut_down.refuse("pool")
    the_pool: ProducerPool[Any] = _pool_around(factory, settings, asyncio=False)
    try:
        if fail_fast:
            try:
                with the_pool.acquire():
                    pass
            except BrokerUnavailable as exc:
                raise _unreachable(exc, source) from None
        yield the_pool
        shut_down.done = True  # only a pool that was built and shut down: a failed build may retry
    finally:
        the_pool.close()


async def _async_pool(
    factory: Callable[[], Any],
    settings: Settings,
    fail_fast: bool,
    source: str,
    shut_down: _ShutDown,
) -> AsyncIterator[AsyncProducerPool[Any]]:
    """The asyncio pool as an async resource: `await shutdown_resources()` closes it;
    `fail_fast` as for `_pool`."""
    shut_down.refuse("async_pool")
    the_pool: AsyncProducerPool[Any] = _pool_around(factory, settings, asyncio=True)
    try:
        if fail_fast:
            try:
                async with the_pool.acquire():
                    pass
            except BrokerUnavailable as exc:
                raise _unreachable(exc, source) from None
        yield the_pool
        shut_down.done = True
    finally:
        await the_pool.close()


def _prometheus_collector(pool: Any) -> Any:
    """An unregistered `PoolCollector` for the pool: register it with your registry (or
    `prometheus_client.REGISTRY`). prometheus-client is an extra, imported only here."""
    from ..metrics.prometheus import PoolCollector

    return PoolCollector([pool], registry=None)


class Container(containers.DeclarativeContainer):
    """Production wiring for threaded services (kafka-python, confluent). Build it with
    `create_container()`, which reads a YAML file safely (`config_file.load_config`) and
    validates it; a bare `Container()` has no settings. `init_resources()` and
    `shutdown_resources()` stay synchronous calls."""

    IS_ASYNC: ClassVar[bool] = False
    """Whether its clients are asyncio ones."""
    DEFAULT_CLIENT: ClassVar[str] = DEFAULT_CLIENT
    """The client of a file that names none."""

    config = providers.Configuration(strict=True)
    """The file's content, as `create_container` loaded it (environment substituted)."""
    config_source = providers.Object(str(DEFAULT_CONFIG_PATH))
    """The file's path: errors name it."""
    fail_fast = providers.Object(False)
    """Make a producer at `init_resources()`: a cluster out of reach fails the start."""
    settings = providers.Singleton(validate_settings, config, config_source, DEFAULT_CLIENT)
    """The validated `Settings`: a bad file fails here, in one line naming the key."""
    shut_down = providers.Singleton(_ShutDown)
    """Set by `shutdown_resources()`: the container then refuses to build a pool again."""

    producer_factory = providers.Singleton(_kit, settings)
    """The kit of the file's client; tests override it (with a fake kit or an int factory)."""

    pool = providers.Resource(
        _pool,
        factory=producer_factory,
        settings=settings,
        fail_fast=fail_fast,
        source=config_source,
        shut_down=shut_down,
    )
    """The `ProducerPool`: built by `init_resources()` (or the first call), closed, every
    producer flushed, by `shutdown_resources()`."""

    publisher = providers.Factory(
        EventPublisher,
        pool=pool,
        topic=settings.provided.publisher.topic,
        client=settings.provided.kafka.client,
    )
    """An `EventPublisher` on the pool, to the file's `publisher.topic`."""

    prometheus_collector = providers.Singleton(_prometheus_collector, pool=pool)
    """An unregistered Prometheus `PoolCollector` of the pool (extra `prometheus`)."""


class AsyncContainer(containers.DeclarativeContainer):
    """The same wiring for asyncio services (aiokafka, confluent-aio; aiokafka when the
    file names no client): `await container.init_resources()` builds `async_pool`, `await
    container.shutdown_resources()` closes it. Its other providers are `Container`'s."""

    IS_ASYNC: ClassVar[bool] = True
    DEFAULT_CLIENT: ClassVar[str] = "aiokafka"

    config = providers.Configuration(strict=True)
    config_source = providers.Object(str(shipped_config("aiokafka")))
    fail_fast = providers.Object(False)
    settings = providers.Singleton(validate_settings, config, config_source, "aiokafka")
    shut_down = providers.Singleton(_ShutDown)

    async_producer_factory = providers.Singleton(_kit, settings)
    """The kit of the file's asyncio client; tests override it (with a fake kit)."""

    async_pool = providers.Resource(
        _async_pool,
        factory=async_producer_factory,
        settings=settings,
        fail_fast=fail_fast,
        source=config_source,
        shut_down=shut_down,
    )
    """The `AsyncProducerPool`: built by `await init_resources()` (or the first `await`),
    closed, every producer flushed, by `await shutdown_resources()`."""

    async_publisher = providers.Factory(
        AsyncEventPublisher,
        pool=async_pool,
        topic=settings.provided.publisher.topic,
        client=settings.provided.kafka.client,
    )
    """An `AsyncEventPublisher` on the pool (`await container.async_publisher()`)."""

    prometheus_collector = providers.Singleton(_prometheus_collector, pool=async_pool)


C = TypeVar("C", Container, AsyncContainer)


def create_container(
    config_path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    container_class: type[C] = Container,  # type: ignore[assignment]
    fail_fast: bool = False,
) -> C:
    """A container whose settings are validated now: a bad file fails here, in one line.

    `overrides` (nested like the YAML) is merged over the file, e.g. a demo's broker
    address. `container_class=AsyncContainer` wires the asyncio pool (its default file is
    the shipped aiokafka one). `fail_fast=True`: `init_resources()` makes a producer
    before it returns, so a cluster out of reach fails the start in one line
    (`BrokerUnavailable`) instead of the first request.
    """
    client = container_class.DEFAULT_CLIENT
    path = shipped_config(client) if config_path is None else Path(config_path)
    container = container_class()
    container.config.from_dict(load_config(path, overrides))
    container.config_source.override(str(path))
    container.fail_fast.override(fail_fast)
    settings: Settings = container.settings()
    client = settings.kafka.client
    is_async: bool = kit_class(client).is_async
    if is_async != container_class.IS_ASYNC:
        kind, other = ("an asyncio", "AsyncContainer") if is_async else ("a threaded", "Container")
        raise ConfigError(
            f"{path}: kafka.client: {client} is {kind} client: create_container(..., "
            f"container_class={other})"
        )
    return container


def client_container(
    config_path: str | Path | None = None,
    *,
    client: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    fail_fast: bool = False,
) -> Container | AsyncContainer:
    """The container for a file's client, whichever it is: `Container` for a threaded
    client, `AsyncContainer` for an asyncio one (what `producer-pool check` and `demo`
    use). `client` overrides the file's `kafka.client`; without a file, it picks the
    client's shipped one."""
    path = shipped_config(client or DEFAULT_CLIENT) if config_path is None else Path(config_path)
    if client is not None:
        overrides = {**(overrides or {})}
        overrides["kafka"] = {**overrides.get("kafka", {}), "client": client}
    kafka = load_config(path, overrides).get("kafka")
    named = kafka.get("client", DEFAULT_CLIENT) if isinstance(kafka, dict) else DEFAULT_CLIENT
    if _is_async_client(named):
        return create_container(
            path, overrides, container_class=AsyncContainer, fail_fast=fail_fast
        )
    return create_container(path, overrides, container_class=Container, fail_fast=fail_fast)


def _is_async_client(name: object) -> bool:
    """Whether `name` is a known asyncio client (anything else fails its validation later,
    in one line: an unknown name, a missing extra)."""
    try:
        return isinstance(name, str) and name in KITS and bool(kit_class(name).is_async)
    except ImportError:
        return False


def check_config(
    config_path: str | Path | None = None, *, client: str | None = None
) -> dict[str, Any]:
    """Validate a config file and prove its cluster answers: one producer of its client
    made (within the kit's bootstrap timeout) and closed. What `producer-pool check` does;
    returns what it reports (`config`, `client`, `servers`)."""
    container = client_container(config_path, client=client)
    settings: Settings = container.settings()
    source = container.config_source()
    kit = settings.kafka.kit()  # a kit of its own: the container's serves its pool
    try:
        if kit.is_async:
            asyncio.run(_make_and_close_async(kit))
        else:
            kit.destroy(kit(), timeout=_CHECK_CLOSE_SECONDS)
    except BrokerUnavailable as exc:
        drop_locals(exc)  # the producer made and closed must not live on in its frames
        raise _unreachable(exc, source) from None
    return {"config": source, "client": settings.kafka.client, "servers": kit.servers}


#: How long `check_config` gives its producer to close (it sent nothing).
_CHECK_CLOSE_SECONDS = 5.0


async def _make_and_close_async(kit: Any) -> None:
    await kit.destroy(await kit(), timeout=_CHECK_CLOSE_SECONDS)
