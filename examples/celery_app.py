"""A Celery app whose tasks publish orders through the container's publisher.

Run a worker as it is meant to run (prefork, the default pool; each child builds its own
pool after the fork and flushes it when it is retired or stopped):

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 CELERY_BROKER_URL=redis://localhost \\
        celery -A examples.celery_app worker --concurrency 2 --max-tasks-per-child 100

or with `--pool threads`. Without CELERY_BROKER_URL it uses kombu's filesystem transport
under CELERY_DATA_FOLDER (default: producer-pool-celery in the system's temporary
directory), which needs no broker at all.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from celery import Celery
from dependency_injector.wiring import Provide, inject

from producer_pool.integrations.celery import connect
from producer_pool.wiring.containers import Container, create_container
from producer_pool.wiring.services import EventPublisher

#: Where a trial without a broker keeps its queues: never in the caller's working directory.
DEFAULT_DATA_FOLDER = str(Path(tempfile.gettempdir()) / "producer-pool-celery")


def _filesystem_transport(folder: Path) -> dict[str, Any]:
    """kombu's filesystem transport: queues are files in `folder` (tests, trials)."""
    for sub in ("queue", "processed", "results", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": "filesystem://",
        "broker_transport_options": {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),  # else ./control, in the caller's cwd
        },
        "result_backend": f"file://{folder / 'results'}",
    }


app = Celery("orders")
if broker := os.environ.get("CELERY_BROKER_URL"):
    app.conf.broker_url = broker
else:
    app.conf.update(
        _filesystem_transport(Path(os.environ.get("CELERY_DATA_FOLDER", DEFAULT_DATA_FOLDER)))
    )

container = create_container(os.environ.get("PRODUCER_POOL_CONFIG"))
connect(container)  # build in each process that runs tasks, flush and close at its end


@app.task
@inject
def publish_order(
    order: dict[str, Any],
    wait_for_ack: bool = False,
    publisher: EventPublisher = Provide[Container.publisher],
) -> int | None:
    """Publish one order. Without `wait_for_ack` the task ends once the message is buffered
    (the pool flushes it when the child ends); with it, once Kafka has stored it."""
    sent = publisher.publish(order, key=str(order["customer"]))
    return sent.get(timeout=30).offset if wait_for_ack else None


container.wire(modules=[__name__])  # after the tasks it injects into are defined
