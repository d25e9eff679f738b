"""An asyncio FastAPI app that publishes each POSTed order through the async container.

Run it as it is meant to run, under uvicorn:

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 \\
        uvicorn --factory examples.fastapi_app:create_app --host 127.0.0.1 --port 8000

Then `curl -H 'Content-Type: application/json' -d '{"customer": 7, "total": 12.5}'
http://127.0.0.1:8000/orders`. The lifespan builds the pool at start-up (with `fail_fast`:
a cluster out of reach fails the start, in one line, not the first order) and closes it at
shutdown (every producer flushed), so an order answered 202 is in the topic. The shipped
aiokafka file (AsyncContainer's default) publishes through one producer that every request
shares: an event loop gains nothing from several.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dependency_injector.wiring import Provide, inject
from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from producer_pool.wiring.containers import AsyncContainer, create_container
from producer_pool.wiring.services import AsyncEventPublisher


class Order(BaseModel):
    """What a client may post: a customer number and a total; nothing else."""

    model_config = ConfigDict(extra="forbid", strict=True)

    customer: int
    total: float = Field(ge=0)
    id: int | None = None


@inject
async def publish_order(
    order: Order,
    publisher: AsyncEventPublisher = Depends(Provide[AsyncContainer.async_publisher]),  # noqa: B008
) -> dict[str, int]:
    """Business code: gets the publisher injected, never touches the container or the pool;
    answers once the broker has acknowledged the order."""
    metadata = await publisher.publish(order.model_dump(), key=str(order.customer))
    return {"partition": metadata.partition, "offset": metadata.offset}


def create_app(config_path: str | None = None) -> FastAPI:
    """The app factory for `uvicorn --factory`: the container's resources live as long as
    the app's lifespan."""
    container = create_container(config_path, container_class=AsyncContainer, fail_fast=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await container.init_resources()
        settings = container.settings()
        print(
            f"orders app: POST /orders publishes to {settings.publisher.topic!r} at "
            f"{settings.kafka.bootstrap_servers} ({settings.kafka.client}, async pool of "
            f"{settings.pool.max_size} in {settings.pool.on_exhausted} mode)",
            file=sys.stderr,
            flush=True,
        )
        try:
            yield
        finally:
            await container.shutdown_resources()  # flushes every producer

    app = FastAPI(lifespan=lifespan)
    container.wire(modules=[__name__])
    app.add_api_route("/orders", publish_order, methods=["POST"], status_code=202)
    app_state: Any = app.state
    app_state.container = container
    return app
