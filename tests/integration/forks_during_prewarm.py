"""One round of the fork-during-prewarm repro, in a fresh interpreter (the hazard is the
process's first `getaddrinfo`): a kafka-python pool prewarming 2 producers, 12 children forked
1 ms apart, each publishing one message. Prints how many children failed, and why on stderr.

    python tests/integration/forks_during_prewarm.py BOOTSTRAP_SERVERS TOPIC ROUND
"""

from __future__ import annotations

import os
import select
import sys
import time
import warnings

from producer_pool.clients.kafka_python import kafka_pool

CHILDREN = 12
CHILD_TIMEOUT = 45.0  # a child that hangs (an inherited lock) is killed and counted failed


def publish_in_child(pool: object, topic: str, value: bytes) -> None:
    code = 1
    try:
        with pool.acquire(timeout=15) as producer:  # type: ignore[attr-defined]
            producer.send(topic, value).get(timeout=15)
        pool.close(timeout=10)  # type: ignore[attr-defined]
        code = 0
    except BaseException as exc:
        sys.stderr.write(f"child {value.decode()}: {type(exc).__name__}: {exc}\n")
    finally:
        os._exit(code)


def reap(pids: list[int]) -> int:
    """Wait for each child (on its pidfd: woken by its exit, not by polling) until a shared
    deadline; a child still running then is killed and counted failed."""
    failed = 0
    deadline = time.monotonic() + CHILD_TIMEOUT
    for pid in pids:
        pidfd = os.pidfd_open(pid)
        try:
            exited, _, _ = select.select([pidfd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(pidfd)
        if not exited:
            sys.stderr.write(f"child pid {pid} hung; killed\n")
            os.kill(pid, 9)
        failed += os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0
    return failed


def main() -> None:
    warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork of a threaded process
    servers, topic, round_ = sys.argv[1:4]
    pool = kafka_pool({"bootstrap_servers": servers}, max_size=4, min_size=2)
    pids = []
    for child in range(CHILDREN):
        pid = os.fork()
        if pid == 0:
            publish_in_child(pool, topic, f"{round_}-{child}".encode())
        pids.append(pid)
        time.sleep(0.001)  # the repro's spacing: forks land all through the prewarm
    failed = reap(pids)
    pool.close(timeout=10)
    print(failed)


if __name__ == "__main__":
    main()
