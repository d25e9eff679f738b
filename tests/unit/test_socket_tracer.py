"""The socket tracer names the thread and the code that made a socket finalized while open,
and never a socket that was closed or handed off."""

from __future__ import annotations

import gc
import socket
import textwrap
import threading

import pytest

from producer_pool.testing.sockets import SocketTracer
from tests.fakes import run_users_pytest


def open_a_socket_and_forget_it() -> None:
    socket.socket()


def test_a_socket_dropped_open_is_reported_with_its_thread_and_maker():
    with SocketTracer() as tracer, pytest.warns(ResourceWarning, match="unclosed"):
        maker = threading.Thread(target=open_a_socket_and_forget_it, name="maker")
        maker.start()
        maker.join()
    (leak,) = tracer.leaks
    assert leak.thread == "maker"
    assert leak.created[-1].name == "open_a_socket_and_forget_it"
    assert leak.family == "AF_INET"
    assert "created on thread 'maker'" in str(leak)


def test_a_socket_collected_open_in_a_cycle_is_reported():
    """As kafka-python's were: held by objects in a reference cycle, freed by the collector."""

    class Holder:
        pass

    with SocketTracer() as tracer, pytest.warns(ResourceWarning, match="unclosed"):
        holder = Holder()
        holder.sock, holder.me = socket.socket(), holder
        del holder
        gc.collect()
    (leak,) = tracer.leaks
    assert leak.created[-1].name == "test_a_socket_collected_open_in_a_cycle_is_reported"
    assert leak.collected[-1].line == "gc.collect()"


def test_closed_and_detached_sockets_are_not_reported():
    with SocketTracer() as tracer:
        socket.socket().close()
        with socket.socket():
            pass
        first, second = socket.socketpair()
        first.close(), second.close()
        detached = socket.socket()
        socket.socket(fileno=detached.detach()).close()
        del detached
        gc.collect()
    assert tracer.leaks == []


def test_uninstalled_it_leaves_sockets_as_it_found_them():
    before = {name: socket.socket.__dict__[name] for name in ("__init__", "_real_close", "detach")}
    with SocketTracer(), SocketTracer():  # nested, as when the plugin is loaded too
        pass
    assert {name: socket.socket.__dict__[name] for name in before} == before


def test_the_plugin_fails_the_run_and_names_the_test_and_the_maker(tmp_path):
    (tmp_path / "test_leaky.py").write_text(
        textwrap.dedent(
            """
            import socket

            def make_a_socket():
                return socket.socket()

            def test_leaks():
                make_a_socket()

            def test_closes():
                make_a_socket().close()
            """
        )
    )
    run = run_users_pytest(tmp_path, "-p", "producer_pool.testing.sockets", str(tmp_path))
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout + run.stderr
    assert "2 passed" in run.stdout
    report = run.stdout.split("sockets finalized while open", 1)[1]
    assert "finalized while open during test_leaky.py::test_leaks" in report
    assert "in make_a_socket" in report
    assert "test_closes" not in report
