"""A threaded WSGI app that publishes each POSTed order through the container's publisher.

Run it as it is meant to run, under gunicorn, forked after the pool exists:

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 \\
        gunicorn --preload -w 2 --threads 8 -b 127.0.0.1:8000 'examples.wsgi_app:create_app()'

or alone, for a quick try: `python -m examples.wsgi_app --port 8000`. Then
`curl -d '{"customer": 7, "total": 12.5}' http://127.0.0.1:8000/orders`.
"""

from __future__ import annotations

import argparse
import atexit
import json
import sys
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from dependency_injector.wiring import Provide, inject

from producer_pool.wiring.containers import Container, create_container
from producer_pool.wiring.services import EventPublisher

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MAX_BODY = 64 * 1024


@inject
def publish_order(
    order: dict[str, Any], publisher: EventPublisher = Provide[Container.publisher]
) -> dict[str, int]:
    """Business code: gets the publisher injected, never touches the container or the pool."""
    metadata = publisher.publish(order, key=str(order["customer"])).get(timeout=10)
    return {"partition": metadata.partition, "offset": metadata.offset}


def parse_order(body: bytes) -> dict[str, Any]:
    """The order in a request body; `ValueError` with the reason if it is not one."""
    try:
        order = json.loads(body)
    except ValueError:
        raise ValueError("the body must be JSON") from None
    if not isinstance(order, dict):
        raise ValueError("the body must be a JSON object")
    customer, total = order.get("customer"), order.get("total")
    if not isinstance(customer, int) or isinstance(customer, bool):
        raise ValueError("customer must be an integer")
    if not isinstance(total, (int, float)) or isinstance(total, bool):
        raise ValueError("total must be a number")
    return order


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    def reply(status: str, body: dict[str, Any], *headers: tuple[str, str]) -> list[bytes]:
        start_response(status, [("Content-Type", "application/json"), *headers])
        return [json.dumps(body).encode()]

    if environ["PATH_INFO"] != "/orders":
        return reply("404 Not Found", {"error": "POST /orders"})
    if environ["REQUEST_METHOD"] != "POST":
        return reply("405 Method Not Allowed", {"error": "POST only"}, ("Allow", "POST"))
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY:
        return reply("413 Content Too Large", {"error": f"at most {MAX_BODY} bytes"})
    try:
        order = parse_order(environ["wsgi.input"].read(length))
    except ValueError as exc:
        return reply("400 Bad Request", {"error": str(exc)})
    return reply("202 Accepted", publish_order(order))


def create_app(config_path: str | None = None) -> WSGIApp:
    """The app factory for gunicorn: wires the container and builds the pool now, so that
    `--preload` forks workers after the pool exists (each worker's pool then forgets the
    parent's producers and makes its own), and closes the pool when the process exits."""
    container = create_container(config_path)
    container.wire(modules=[__name__])
    container.init_resources()
    atexit.register(container.shutdown_resources)  # flushes this process's producers
    settings = container.settings()
    print(
        f"orders app: POST /orders publishes to {settings.publisher.topic!r} at "
        f"{settings.kafka.bootstrap_servers} (pool of {settings.pool.max_size})",
        file=sys.stderr,
        flush=True,
    )
    return app


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request, as Flask's or Django's development servers run."""

    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(wsgi_app: WSGIApp, host: str = "127.0.0.1", port: int = 8000) -> ThreadingWSGIServer:
    server = make_server(host, port, wsgi_app, ThreadingWSGIServer, QuietHandler)
    assert isinstance(server, ThreadingWSGIServer)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="The orders example, without gunicorn.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--config", default=None, help="YAML settings (default: shipped)")
    args = parser.parse_args()
    server = serve(create_app(args.config), port=args.port)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
