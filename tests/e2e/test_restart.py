"""``make run`` stopped and started again at once, repeatedly, as an SRE would.

Each start binds the same ports as the one before (``STACK_KEEP_PORTS=1``), so a process of the
previous stack still holding one (Ray's dashboard agent used to, for up to a minute after
"stopped.") fails the next start. After every stop, before the next start, the test checks that
no process of the stopped stack survives and that none of the ports every start binds is held.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from stack.local import PROJECT_ROOT, kept_ports
from stack.processes import Ownership, port_holders

pytestmark = pytest.mark.e2e

CYCLES = 3


def _until_ready(proc: subprocess.Popen[str], timeout_s: float) -> list[str]:
    """``python -m stack``'s output up to its ready banner."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"exited early with {proc.wait()}:\n{''.join(lines)}")
        lines.append(line)
        if line.startswith("Ctrl-C stops everything"):
            return lines
    raise AssertionError(f"not ready within {timeout_s:.0f}s:\n{''.join(lines)}")


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_stop_then_start_back_to_back_leaves_nothing_behind(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {
        key: value for key, value in os.environ.items() if key not in ("MONGODB_URL", "REDIS_URL")
    }
    env.update(
        STACK_PRIVATE_PORTS="1",
        STACK_KEEP_PORTS="1",  # every start binds the ports of the one before
        STREAMING_DATA_DIR=str(data_dir),  # kept: later starts skip packaging
        DEMO_CATALOG_TITLES="300",
        MEDIA_POOL_CLIPS="1",
    )
    base_urls = set()
    for cycle in range(CYCLES):
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "stack"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        family: list[psutil.Process] = []
        try:
            lines = _until_ready(proc, 300)
            ready_s = time.monotonic() - started
            base_url = next(line.split()[1] for line in lines if line.startswith("ready: "))
            temp_dir = next(
                line.split("(temp dir ")[1].split(")")[0] for line in lines if "(temp dir " in line
            )
            base_urls.add(base_url)
            for _ in range(4):  # "ready" means every Ingress replica is, whichever answers
                readyz = httpx.get(f"{base_url}/readyz", timeout=30)
                assert readyz.status_code == 200, f"cycle {cycle}: {readyz.text}"
            family = psutil.Process(proc.pid).children(recursive=True)

            stopping = time.monotonic()
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            output, _ = proc.communicate(timeout=180)
            stop_s = time.monotonic() - stopping
        finally:
            if proc.poll() is None:  # failed before its own stop
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=180)
        assert proc.returncode == 0 and "stopped." in output, output
        survivors = [p for p in family if _alive(p)]
        leftovers = Ownership(dirs=(temp_dir,), file_dirs=(temp_dir,), file_names=("ray",)).find()
        # The ports the next start binds again. Not every port the stack listened on: a port
        # the OS assigned one of its processes may go to an unrelated process next (CI saw a
        # Ray worker's ephemeral listener port reused elsewhere right after the stop).
        held = port_holders(kept_ports(data_dir))
        for straggler in survivors + leftovers:  # do not leak them into the next test
            with contextlib.suppress(psutil.Error):
                straggler.kill()
        assert not survivors, f"cycle {cycle}: still running after 'stopped.': {survivors}"
        assert not leftovers, f"cycle {cycle}: processes of Ray's temp dir survive: {leftovers}"
        assert not held, f"cycle {cycle}: ports still held after 'stopped.': {held}"
        print(f"cycle {cycle}: ready in {ready_s:.0f}s, stopped in {stop_s:.0f}s", flush=True)
    assert len(base_urls) == 1  # the same ports every time: the restart is the real test
