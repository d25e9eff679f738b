"""A threaded WSGI app that publishes each POSTed order through the container's publisher.

Run it: `.venv/bin/python -m examples.wsgi_app` (needs KAFKA_BOOTSTRAP_SERVERS), then
`curl -d '{"customer": 7, "total": 12.5}' http://127.0.0.1:8000/orders`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from dependency_injector.wiring import Provide, inject

from producer_pool.containers import Container, create_container
from producer_pool.services import EventPublisher


@inject
def publish_order(
    order: dict[str, Any], publisher: EventPublisher = Provide[Container.publisher]
) -> dict[str, int]:
    """Business code: gets the publisher injected, never touches the container or the pool."""
    metadata = publisher.publish(order, key=str(order["customer"])).get(timeout=10)
    return {"partition": metadata.partition, "offset": metadata.offset}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != "/orders":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"POST /orders\n"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    order = json.loads(environ["wsgi.input"].read(length))
    body = json.dumps(publish_order(order)).encode()
    start_response("202 Accepted", [("Content-Type", "application/json")])
    return [body]


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request, as Flask's or Django's development servers run."""

    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(host: str = "127.0.0.1", port: int = 8000) -> ThreadingWSGIServer:
    server = make_server(host, port, app, ThreadingWSGIServer, QuietHandler)
    assert isinstance(server, ThreadingWSGIServer)
    return server


def main() -> None:
    container = create_container()
    container.wire(modules=[__name__])
    container.init_resources()  # build the pool now, not racing in the first requests
    server = serve()
    try:
        server.serve_forever()
    finally:
        server.server_close()
        container.shutdown_resources()  # flushes every producer before exit


if __name__ == "__main__":
    main()
