"""The WSGI example, wired with @inject, publishing from request threads to the broker."""

from __future__ import annotations

import json
import threading
import urllib.request

from examples import wsgi_app
from producer_pool.containers import create_container
from producer_pool.kafka import read_topic


def test_the_example_app_publishes_every_order_from_request_threads(
    kafka_bootstrap_servers, kafka_topic
):
    container = create_container(
        overrides={
            "kafka": {"bootstrap_servers": kafka_bootstrap_servers},
            "publisher": {"topic": kafka_topic},
        }
    )
    container.wire(modules=[wsgi_app])
    container.init_resources()
    server = wsgi_app.serve(port=0)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/orders"

    def post(customer: int) -> None:
        body = json.dumps({"customer": customer, "total": 10}).encode()
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as reply:
            assert reply.status == 202
            assert "offset" in json.loads(reply.read())

    try:
        clients = [threading.Thread(target=post, args=(n,)) for n in range(12)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(30)
    finally:
        server.shutdown()
        server.server_close()
        container.unwire()
        container.shutdown_resources()
    customers = sorted(
        json.loads(r.value)["customer"] for r in read_topic(kafka_bootstrap_servers, kafka_topic)
    )
    assert customers == list(range(12))
