"""A one-file Django app that publishes each POSTed order through the container's publisher.

Run it under gunicorn, forked after the pool exists:

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 \\
        gunicorn --preload -w 2 --threads 8 -b 127.0.0.1:8000 examples.django_app:application

Then `curl -d '{"customer": 7, "total": 12.5}' http://127.0.0.1:8000/orders`. In a Django
project the same lines go to their usual homes: the container in a module of its own, built
and wired in an `AppConfig.ready()` (which runs once every view module is imported) or in
`wsgi.py`; the view in `views.py`.
"""

from __future__ import annotations

import atexit
import os
import secrets
import sys
from typing import Any

import django
from dependency_injector.wiring import Provide, inject
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_POST

from examples.wsgi_app import parse_order
from producer_pool.wiring.containers import Container, create_container
from producer_pool.wiring.services import EventPublisher

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(32),
    MIDDLEWARE=[],  # an API without sessions or CSRF cookies
    DATA_UPLOAD_MAX_MEMORY_SIZE=64 * 1024,
)
django.setup()


@require_POST
@inject
def orders(
    request: HttpRequest, publisher: EventPublisher = Provide[Container.publisher]
) -> HttpResponse:
    """Business code: gets the publisher injected, never touches the container or the pool;
    answers 202 once Kafka has acknowledged the order."""
    try:
        order: dict[str, Any] = parse_order(request.body)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    metadata = publisher.publish(order, key=str(order["customer"])).get(timeout=10)
    return JsonResponse({"partition": metadata.partition, "offset": metadata.offset}, status=202)


urlpatterns = [path("orders", orders)]

# Wire after the views are defined: wiring finds the @inject functions that exist when it
# runs, and a view defined later would get the Provide marker instead of a publisher.
container = create_container(os.environ.get("PRODUCER_POOL_CONFIG"))
container.wire(modules=[__name__])
container.init_resources()  # the pool exists before gunicorn --preload forks the workers
atexit.register(container.shutdown_resources)  # each process flushes its own producers
print(
    f"orders app: POST /orders publishes to {container.settings().publisher.topic!r} "
    f"at {container.settings().kafka.bootstrap_servers} (Django {django.get_version()})",
    file=sys.stderr,
    flush=True,
)

application = get_wsgi_application()
