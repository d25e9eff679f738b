"""`producer-pool broker`: a throwaway broker a service can use, gone when the command ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from producer_pool.clients.kafka_python import kafka_pool
from producer_pool.command.cli import main
from producer_pool.testing.broker import free_port
from producer_pool.testing.topics import create_topic, read_topic
from producer_pool.wiring.services import EventPublisher
from tests.fakes import wait_until

#: The installed entry point, run from a subprocess.
CODE = "from producer_pool.command.script import run; run()"
STOPS: dict[str, Callable[[subprocess.Popen[str]], None]] = {
    "Ctrl-C to its process group": lambda command: os.killpg(command.pid, signal.SIGINT),
    "SIGTERM to its process group": lambda command: os.killpg(command.pid, signal.SIGTERM),
    "SIGHUP, its terminal closed": lambda command: command.send_signal(signal.SIGHUP),
}


@pytest.mark.parametrize("how", sorted(STOPS))
def test_the_broker_serves_a_pool_until_stopped_and_leaves_nothing_behind(how, closing):
    port = free_port()
    # A cluster named in the environment must not stop the command starting its own broker.
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    with subprocess.Popen(
        [sys.executable, "-c", CODE, "broker", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a terminal gives it
    ) as command:
        assert command.stdout is not None and command.stderr is not None
        try:
            line = command.stdout.readline()  # printed once the broker accepts connections
            assert line == f"export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{port}\n"
            assert "Ctrl-C stops it" in command.stderr.readline()
            servers = line.strip().split("=", 1)[1]
            (tansu,) = [pid for pid in descendants(command.pid) if program(pid).startswith("tansu")]
            assert alive(tansu)
            create_topic(servers, "tried")
            pool = closing(kafka_pool({"bootstrap_servers": servers}, max_size=1))
            EventPublisher(pool, "tried").publish({"order": 1}, key="customer-7").get(10)
            pool.close()
            assert [r.key for r in read_topic(servers, "tried")] == [b"customer-7"]
        finally:
            STOPS[how](command)
            stdout, stderr = command.communicate(timeout=30)
    assert command.returncode == 0, stderr[-2000:]
    assert (stdout, stderr) == ("", "")  # no traceback, nothing more
    assert not alive(tansu)
    with pytest.raises(ConnectionRefusedError):  # nothing listens there any more
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_a_broker_that_dies_on_its_own_ends_the_command_with_one_line():
    """tansu killed (the OOM killer, a crash): the command used to wait on for a signal,
    its services failing with no word of why."""
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-c", CODE, "broker", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as command:
        assert command.stdout is not None and command.stderr is not None
        try:
            assert command.stdout.readline().startswith("export KAFKA_BOOTSTRAP_SERVERS=")
            assert "Ctrl-C stops it" in command.stderr.readline()
            (tansu,) = [pid for pid in descendants(command.pid) if program(pid).startswith("tansu")]
            os.kill(tansu, signal.SIGKILL)
            stdout, stderr = command.communicate(timeout=30)
        finally:
            if command.poll() is None:  # the failure this test looks for: leave nothing behind
                os.killpg(command.pid, signal.SIGTERM)
    assert command.returncode == 1
    assert stdout == ""
    assert stderr.startswith("Error: the broker (tansu) exited; its log ends: ")
    assert stderr.count("\n") == 1, stderr  # one line, no traceback
    assert not accepts(port)


def test_the_broker_stops_itself_when_the_process_that_started_it_dies():
    """A wrapper killed outright signals nobody: the orphan must not hold the port forever."""
    port = free_port()
    broker = f"{sys.executable} -c '{CODE}' broker --port {port}"
    with subprocess.Popen(
        ["sh", "-c", f"{broker} & echo $!; wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    ) as wrapper:
        assert wrapper.stdout is not None
        lines = {wrapper.stdout.readline(), wrapper.stdout.readline()}  # in either order
        assert f"export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{port}\n" in lines
        (command,) = [int(line) for line in lines if line.strip().isdigit()]
        (tansu,) = [pid for pid in descendants(command) if program(pid).startswith("tansu")]
        assert alive(command) and alive(tansu)
        wrapper.kill()
        wrapper.wait(30)
        try:
            wait_until(lambda: not alive(command), timeout=30)
        finally:
            if alive(command):  # the failure this test looks for: leave no orphan behind
                os.kill(command, signal.SIGTERM)
    assert not alive(tansu)
    assert not accepts(port)


def test_in_process_the_broker_command_gives_the_signal_handlers_back():
    """As the demo's: a handler left behind would swallow the caller's next Ctrl-C."""
    port = free_port()
    handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]
    with CliRunner().isolation() as (stdout, _, _):

        def interrupt_once_serving() -> None:
            wait_until(lambda: stdout.getvalue().endswith(b"\n"), timeout=30)
            os.kill(os.getpid(), signal.SIGINT)

        interrupter = threading.Thread(target=interrupt_once_serving)
        interrupter.start()
        with pytest.raises(SystemExit) as exit:
            main.main(["broker", "--port", str(port)])
        interrupter.join()
    assert exit.value.code == 0
    assert stdout.getvalue() == f"export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{port}\n".encode()
    assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)] == (
        handlers
    )
    assert not accepts(port)


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def descendants(pid: int) -> list[int]:
    """The processes under `pid` (Linux's /proc): the broker's watchdog shell and tansu."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def program(pid: int) -> str:
    """The name of the program `pid` runs (not the shell that started it)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    return Path(argv[0].decode(errors="replace")).name


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie waiting for its reaper does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
