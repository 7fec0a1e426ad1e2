"""The stack's process bookkeeping: who holds a port, leftovers, clean stops, why a child died."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import psutil
import pytest

from stack.local import LocalStack
from stack.processes import (
    ComponentDied,
    Managed,
    Ownership,
    PortBusy,
    check_ports_free,
    free_port,
    port_holders,
)
from stack.ray_cluster import RayLogs, RayPorts

NOBODY = Ownership(dirs=("/nonexistent/stack-under-test",))

# A child that listens on argv[1] until killed (argv[2] is only a marker in its command line).
LISTENER = (
    "import socket, sys, time\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
    "s.listen()\n"
    "print('listening', flush=True)\n"
    "time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 60)\n"
)


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, int]]:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield sock, port


def _spawn_listener(port: int, marker: str, lifetime_s: float = 60) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", LISTENER, str(port), marker, str(lifetime_s)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "listening"
    return proc


def test_a_held_port_fails_the_start_at_once_naming_port_and_holder(
    listener: tuple[socket.socket, int],
) -> None:
    _, port = listener
    started = time.monotonic()
    with pytest.raises(PortBusy) as failure:
        check_ports_free({"Ray dashboard_agent_grpc": port}, NOBODY, leftover_wait_s=10)
    assert time.monotonic() - started < 5  # a foreign holder: no waiting
    message = str(failure.value)
    assert f"port {port} (Ray dashboard_agent_grpc)" in message
    assert f"pid {os.getpid()}" in message and "not part of this stack" in message


def test_free_ports_pass_and_foreign_listeners_inside_a_pool_are_tolerated(
    listener: tuple[socket.socket, int],
) -> None:
    _, port = listener
    check_ports_free({"media origin": free_port()}, NOBODY, ranges={"pool": range(port, port + 1)})


def test_a_closed_listener_no_longer_counts() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert port_holders([port]) == {port: [os.getpid()]}
    assert port_holders([port]) == {}


def test_a_leftover_of_this_stack_is_named_as_such_with_the_fix(tmp_path: Path) -> None:
    port = free_port()
    leftover = _spawn_listener(port, str(tmp_path / "ray"))
    try:
        with pytest.raises(PortBusy) as failure:
            check_ports_free(
                {"Redis": port},
                Ownership(dirs=(str(tmp_path / "ray"),)),
                leftover_wait_s=0.5,
                say=lambda _: None,
            )
        message = str(failure.value)
        assert f"port {port} (Redis)" in message and f"pid {leftover.pid}" in message
        assert (
            "a process of an earlier run of this stack" in message
            and f"kill {leftover.pid}" in message
        )
    finally:
        leftover.kill()
        leftover.wait()


def test_a_leftover_that_exits_soon_is_waited_for(tmp_path: Path) -> None:
    port = free_port()
    leftover = _spawn_listener(port, str(tmp_path / "data"), lifetime_s=1.0)
    said: list[str] = []
    try:
        check_ports_free(
            {"Redis": port}, Ownership(dirs=(str(tmp_path / "data"),)), say=said.append
        )
        assert said and str(port) in said[0]
    finally:
        leftover.kill()
        leftover.wait()


def test_stop_returns_once_its_descendants_exited_and_its_port_is_free(tmp_path: Path) -> None:
    """The child starts a listening grandchild in another session and exits: the grandchild
    re-parents to pid 1 (like ray::DashboardAgent), and the stop must still end it."""
    port = free_port()
    spawn = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2], 'x'],"
        " start_new_session=True)\n"
        "time.sleep(60)\n"
    )
    child = Managed.start(
        "spawner",
        [sys.executable, "-c", spawn, LISTENER, str(port)],
        tmp_path / "spawner.log",
        ports=(port,),
    )
    child.wait_listening(port, 30)
    child.remember_family()  # what a running stack samples
    (grandchild,) = [p for p in child.family.values() if p.pid != child.proc.pid]
    child.stop(timeout_s=5)
    assert not grandchild.is_running() or grandchild.status() == psutil.STATUS_ZOMBIE
    assert port_holders([port]) == {}


def test_a_child_dying_at_start_is_reported_with_the_line_saying_why(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "print('starting up')\n"
        "print('OSError: [Errno 98] Address already in use: 127.0.0.1:6380')\n"
        "print('shutting down')\n"
        "sys.exit(3)\n"
    )
    child = Managed.start("redis", [sys.executable, "-c", script], tmp_path / "redis.log")
    started = time.monotonic()
    with pytest.raises(ComponentDied) as failure:
        child.wait_listening(free_port(), 60)
    assert time.monotonic() - started < 10
    message = str(failure.value)
    assert "redis exited with code 3" in message and str(tmp_path / "redis.log") in message
    assert "Address already in use" in message


def test_ray_logs_report_a_fatal_line_of_our_session_only(tmp_path: Path) -> None:
    old = tmp_path / "session_old" / "logs"
    old.mkdir(parents=True)
    (old / "dashboard_agent.err").write_text("Address already in use (an earlier session)\n")
    (tmp_path / "session_latest").symlink_to(tmp_path / "session_old")
    logs = RayLogs.before_start(tmp_path)
    assert logs.fatal() is None  # the earlier session's lines are not ours

    new = tmp_path / "session_new" / "logs"
    new.mkdir(parents=True)
    (tmp_path / "session_latest").unlink()
    (tmp_path / "session_latest").symlink_to(tmp_path / "session_new")
    (new / "raylet.out").write_text("I all good\n")
    assert logs.fatal() is None
    line = (
        "E1202 add_port.cc:83] Failed to add port to server: Error in bind for address "
        "'0.0.0.0:8081': Address already in use"
    )
    (new / "dashboard_agent.err").write_text(line + "\n")
    found = logs.fatal()
    assert found is not None and found.startswith(str(new / "dashboard_agent.err"))
    assert "0.0.0.0:8081': Address already in use" in found
    assert logs.reason() == found


def test_ray_ports_name_every_fixed_listener() -> None:
    named = RayPorts().named()
    assert named["Ray dashboard_agent_grpc"] == 8081
    assert named["Ray http"] == 8000 and named["Ray gcs"] == 6379
    assert "Ray node_manager" not in named  # 0: Ray picks
    assert RayPorts().pools()["Serve direct_ingress_http"] == range(30000, 31001)


class _Readyz(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, dict[str, object]]]] = []

    def do_GET(self) -> None:
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def readyz(tmp_path: Path) -> Iterator[tuple[LocalStack, type[_Readyz]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Readyz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack = LocalStack(tmp_path, tmp_path, ports=RayPorts(http=server.server_address[1]))
    try:
        yield stack, _Readyz
    finally:
        server.shutdown()
        server.server_close()


def _not_ready(**checks: str) -> tuple[int, dict[str, object]]:
    return 503, {"status": "not_ready", "checks": {"mongodb": "ok", "redis": "ok", **checks}}


def test_wait_ready_reports_what_readyz_says_and_waits_while_the_catalog_loads(
    readyz: tuple[LocalStack, type[_Readyz]],
) -> None:
    stack, handler = readyz
    loading = _not_ready(catalog="not ready: catalog loading: 4000 titles read")
    ready = (200, {"status": "ready", "checks": {}})
    handler.answers = [loading] * 6 + [ready]
    said: list[str] = []
    # No new answer for longer than stall_s, but the catalog is what is missing: keep waiting.
    stack.wait_ready(said.append, stall_s=0.5, catalog_s=30, every_s=0.5)
    assert any("catalog loading: 4000 titles read" in line for line in said), said
    assert said[-1].startswith("/readyz answered 200")


def test_wait_ready_wants_every_replica_ready_not_just_one(
    readyz: tuple[LocalStack, type[_Readyz]],
) -> None:
    stack, handler = readyz
    ready = (200, {"status": "ready", "checks": {}})
    loading = _not_ready(catalog="not ready: catalog loading: 10 titles read")
    # Two replicas answering in turn, one still loading: a lone 200 is not the stack ready.
    handler.answers = [ready, loading, ready, loading, ready, ready, ready, ready, ready]
    stack.wait_ready(lambda _: None, stall_s=5, catalog_s=30, streak=4)
    assert len(handler.answers) == 1  # it read through the loading answers to a streak of 4


def test_wait_ready_fails_when_nothing_progresses(
    readyz: tuple[LocalStack, type[_Readyz]],
) -> None:
    stack, handler = readyz
    handler.answers = [_not_ready(redis="unavailable: TimeoutError")]
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"no progress for 1s.*redis unavailable: TimeoutError"):
        stack.wait_ready(lambda _: None, stall_s=1, catalog_s=30)
    assert time.monotonic() - started < 5


def test_free_port_never_hands_out_one_port_twice() -> None:
    """A stack draws a dozen ports before any listener holds one: a repeat broke start-up."""
    drawn = [free_port() for _ in range(500)]
    assert len(set(drawn)) == len(drawn)
