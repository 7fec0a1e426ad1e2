"""Child processes that the stack starts, waits for, and stops in reverse order.

Also the bookkeeping a clean stop and a safe start need: which process holds a port, whether
a process belongs to this stack, terminating a set of processes and waiting until they are
gone (not just signalled), and waiting until ports are free again.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil


class ComponentDied(RuntimeError):
    """A process of the stack exited (or logged a fatal error) while the stack was starting."""


class PortBusy(RuntimeError):
    """A port the stack binds is already held by another process."""


class StopIncomplete(RuntimeError):
    """The stop deadline passed while a process of the stack or one of its ports was still there."""


Check = Callable[[], None]  # raises ComponentDied when something died


def wait_for_port(
    host: str,
    port: int,
    timeout_s: float,
    proc: subprocess.Popen[bytes] | None = None,
    check: Check | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check is not None:
            check()
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {host}:{port} opened")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{host}:{port} did not open within {timeout_s:.0f}s")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) != 0


# Listeners of private stacks take ports from here, below the kernel's ephemeral range
# (32768+ by default), so an outbound connection can never grab a port between the moment we
# pick it and the moment Ray binds it.
PRIVATE_PORTS = range(25_000, 32_000)


# Ports this process has handed out. A port is only probed, not held, until its listener starts,
# so without this a stack's dozen draws could return one port twice: Ray then refused to start
# ("a port number … that is used by other components"), or a listener failed to bind.
_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now and this process has not handed out before."""
    for _ in range(1000):
        port = random.choice(PRIVATE_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {PRIVATE_PORTS}")


# -- who holds a port ------------------------------------------------------------------------


def _held(conn: Any) -> bool:  # psutil's sconn or pconn
    """A socket that keeps others from binding its port: a TCP listener or a bound UDP socket.
    Connections (ESTABLISHED, TIME_WAIT, ...) do not count: servers bind with SO_REUSEADDR,
    and a client's local port is not a listener's."""
    if not conn.laddr or conn.raddr:
        return False
    return bool(conn.type == socket.SOCK_DGRAM or conn.status == psutil.CONN_LISTEN)


def port_holders(ports: Iterable[int]) -> dict[int, list[int | None]]:
    """``{port: [pid, ...]}`` for every port in ``ports`` that some socket holds (``None``: a
    process we may not inspect). Ports nobody holds are absent."""
    wanted = set(ports)
    conns: list[tuple[Any, int | None]] = []
    try:
        conns = [(conn, conn.pid) for conn in psutil.net_connections(kind="inet")]
    except psutil.AccessDenied:  # e.g. macOS without root: ask each process we may inspect
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                conns.extend((conn, proc.pid) for conn in proc.net_connections(kind="inet"))
    found: dict[int, list[int | None]] = {}
    for conn, pid in conns:
        if _held(conn) and conn.laddr.port in wanted:
            pids = found.setdefault(conn.laddr.port, [])
            if pid not in pids:
                pids.append(pid)
    return found


def describe(pid: int | None) -> str:
    """``pid 123 (name: cmdline...)`` for messages; tolerant of processes that just exited."""
    if pid is None:
        return "a process we may not inspect (another user or container)"
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            name = proc.name()
            cmdline = " ".join(" ".join(proc.cmdline()).split()) or name
            ppid = proc.ppid()
    except psutil.NoSuchProcess:
        return f"pid {pid} (exited meanwhile)"
    except psutil.AccessDenied:
        return f"pid {pid} (not ours to inspect)"
    if len(cmdline) > 160:
        cmdline = cmdline[:157] + "..."
    return f"pid {pid} ({name}, parent {ppid}: {cmdline})"


# -- which processes belong to this stack ----------------------------------------------------


def _mentions(text: str, path: str) -> bool:
    """``path`` occurs in ``text`` as a whole path (``/tmp/ray`` is not in ``/tmp/ray2``)."""
    return re.search(re.escape(path.rstrip("/")) + r"(?![\w.-])", text) is not None


@dataclass(frozen=True)
class Ownership:
    """How to recognise processes of one stack, including leftovers of its earlier runs.

    ``dirs``: directories only this stack uses (Ray's temp dir, the data dir). A process is ours
    if its command line mentions one, if its environment says ``STREAMING_DATA_DIR`` is ours, or
    (for processes that rewrote their command line, like ``ray::DashboardAgent``, whose
    environment is overwritten by the new title too) if it has a file open under one of
    ``file_dirs`` (Ray's logs, which every Ray process keeps open)."""

    dirs: tuple[str, ...]
    file_dirs: tuple[str, ...] = ()
    data_dir: str | None = None
    # If set, only processes whose name starts with one of these count by their open files
    # (so a `tail -f` on a Ray log is never mistaken for Ray).
    file_names: tuple[str, ...] = ()

    def why(self, proc: psutil.Process) -> str | None:
        """Why ``proc`` is ours (for messages), or ``None`` if it is not."""
        try:
            cmdline = " ".join(proc.cmdline())
            for path in self.dirs:
                if _mentions(cmdline, path):
                    return f"its command line mentions {path}"
            if self.data_dir is not None:
                with contextlib.suppress(psutil.Error, OSError):
                    if proc.environ().get("STREAMING_DATA_DIR") == self.data_dir:
                        return f"its environment has STREAMING_DATA_DIR={self.data_dir}"
            if self.file_dirs and (not self.file_names or proc.name().startswith(self.file_names)):
                for opened in proc.open_files():
                    for path in self.file_dirs:
                        if _mentions(opened.path, path):
                            return f"it has {opened.path} open"
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return None
        return None

    def find(self, exclude: Iterable[int] = ()) -> list[psutil.Process]:
        """Every live process that is ours, except ``exclude``, this process and its ancestors
        (``python -m stack`` itself has our data dir in its environment)."""
        skip = set(exclude) | _self_and_ancestors()
        found = []
        for proc in psutil.process_iter():
            if proc.pid in skip or not _alive(proc):
                continue
            if self.why(proc) is not None:
                found.append(proc)
        return found


def _self_and_ancestors() -> set[int]:
    me = psutil.Process()
    return {me.pid, *(p.pid for p in me.parents())}


def _alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (a zombie holds no port, and pid 1 may reap it late)."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def descendants(pid: int) -> list[psutil.Process]:
    try:
        children: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
        return children
    except psutil.NoSuchProcess:
        return []


def terminate(procs: Iterable[psutil.Process], grace_s: float = 10.0) -> list[psutil.Process]:
    """SIGTERM ``procs``, SIGKILL whatever is left after ``grace_s``, wait until they are gone.
    Returns the processes still alive after all that (normally none)."""
    procs = [p for p in procs if _alive(p)]
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    alive = wait_gone(procs, grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return wait_gone(alive, 5.0)


def wait_gone(procs: Sequence[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    alive = [p for p in procs if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if _alive(p)]
    return alive


def wait_ports_free(ports: Mapping[str, int], timeout_s: float) -> dict[int, list[int | None]]:
    """Wait until nobody holds any of ``ports``; returns who still holds what at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        held = port_holders(p for p in ports.values() if p)
        if not held or time.monotonic() >= deadline:
            return held
        time.sleep(0.2)


def describe_held(labels: Mapping[int, str], held: Mapping[int, Sequence[int | None]]) -> str:
    """``port 8081 (dashboard agent) held by pid 12 (...)`` for each held port."""
    return "; ".join(
        f"port {port} ({labels.get(port, '?')}) held by " + ", ".join(describe(p) for p in pids)
        for port, pids in sorted(held.items())
    )


def _exited(pid: int) -> bool:
    """Gone, or a zombie: either way it no longer holds anything and cannot be inspected."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def check_ports_free(
    ports: Mapping[str, int],
    ours: Ownership,
    *,
    ranges: Mapping[str, range] | None = None,
    leftover_wait_s: float = 10.0,
    say: Callable[[str], None] = print,
) -> None:
    """Before starting anything: every port in ``ports`` (``{label: port}``) must be free.
    Raises :class:`PortBusy` within seconds, naming each held port and its holder.

    A holder that is a leftover of an earlier run of this same stack (its previous stop may
    still be finishing) gets ``leftover_wait_s`` to go away first. Inside ``ranges`` (pools that
    Ray and Serve pick from, skipping busy ports) only our own leftovers count."""
    labels = {port: label for label, port in ports.items() if port}
    pooled = {port: label for label, pool in (ranges or {}).items() for port in pool}
    deadline = time.monotonic() + leftover_wait_s
    said = False
    while True:
        held = port_holders([*labels, *pooled])
        patience = time.monotonic() < deadline
        problems: list[str] = []
        leftovers: set[int] = set()
        foreign = False
        waiting: dict[int, list[int | None]] = {}
        for port, pids in sorted(held.items()):
            label = labels.get(port) or pooled[port]
            for pid in pids:
                if pid is not None and _exited(pid) and patience:
                    waiting.setdefault(port, []).append(pid)  # exited meanwhile: look again
                    continue
                why = _why_ours(ours, pid)
                if why is None and port not in labels:
                    continue  # someone else's listener inside a pool: Ray and Serve skip it
                if why is None:
                    foreign = True
                    problems.append(
                        f"port {port} ({label}) is already in use by {describe(pid)}, "
                        "which is not part of this stack"
                    )
                elif patience:
                    waiting.setdefault(port, []).append(pid)
                else:
                    leftovers.add(pid)  # type: ignore[arg-type]  # why is None for pid None
                    problems.append(
                        f"port {port} ({label}) is held by {describe(pid)}, a process of an "
                        f"earlier run of this stack ({why}) that did not exit within "
                        f"{leftover_wait_s:.0f}s"
                    )
        if problems:
            hints = []
            if leftovers:
                hints.append(
                    "if another `make run` on this data dir is still running, stop it there; "
                    f"otherwise end the leftovers (`kill {' '.join(map(str, sorted(leftovers)))}`, "
                    "then `kill -9` if they ignore it) and start again"
                )
            if foreign:
                hints.append("stop the other process, or run this stack on other ports")
            hint = "; ".join(hints)
            raise PortBusy("cannot start: " + "; ".join(problems) + f". Fix: {hint}.")
        if not waiting:
            return
        if not said:
            say(
                "waiting up to "
                f"{leftover_wait_s:.0f}s for an earlier run of this stack to release its ports: "
                + describe_held({**pooled, **labels}, waiting)
            )
            said = True
        time.sleep(0.5)


def _why_ours(ours: Ownership, pid: int | None) -> str | None:
    if pid is None:
        return None
    try:
        return ours.why(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return None


# -- why a process died ----------------------------------------------------------------------

REASON = re.compile(
    r"address already in use|errno|error|fatal|failed|exception|cannot|could not|killed|denied",
    re.IGNORECASE,
)


def log_reason(path: Path, pattern: re.Pattern[str] = REASON, tail_bytes: int = 64_000) -> str:
    """The last line of ``path``'s tail that says why (matches ``pattern``), else its last line."""
    try:
        with path.open("rb") as log:
            log.seek(max(0, path.stat().st_size - tail_bytes))
            lines = [
                line.strip()
                for line in log.read().decode("utf-8", "replace").splitlines()
                if line.strip()
            ]
    except OSError:
        return "(no log)"
    if not lines:
        return "(empty log)"
    fatal = [line for line in lines if "address already in use" in line.lower()]
    matching = [line for line in lines if pattern.search(line)]
    return (fatal or matching or lines)[-1][:400]


@dataclass
class Managed:
    """A started child: its name (for messages), the process, and where its output goes."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    ports: tuple[int, ...] = ()  # what it listens on: a stop waits until they are free
    family: dict[int, psutil.Process] = field(default_factory=dict)  # descendants seen

    @classmethod
    def start(
        cls,
        name: str,
        argv: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        ports: tuple[int, ...] = (),
    ) -> Managed:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not them
            )
        return cls(name, proc, log_path, ports)

    def died(self) -> str | None:
        """``None`` while it runs; once it exited, why (its exit code and its log's last word)."""
        code = self.proc.poll()
        if code is None:
            return None
        return f"{self.name} exited with code {code}; {self.log_path}: {log_reason(self.log_path)}"

    def check(self) -> None:
        if (why := self.died()) is not None:
            raise ComponentDied(why)

    def wait_listening(self, port: int, timeout_s: float, check: Check | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check()
            if check is not None:
                check()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(
            f"{self.name} did not open 127.0.0.1:{port} within {timeout_s:.0f}s; "
            f"{self.log_path}: {log_reason(self.log_path)}"
        )

    def remember_family(self) -> None:
        for child in descendants(self.proc.pid):
            self.family.setdefault(child.pid, child)

    def stop(self, timeout_s: float = 20.0, ports_timeout_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns once it, every descendant it had
        and its process group have exited and its ports are free (else :class:`StopIncomplete`)."""
        self.remember_family()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        survivors = terminate(self.family.values(), grace_s=5.0)
        self.family.clear()
        problems = [f"{describe(p.pid)} did not exit" for p in survivors]
        ports = {f"{self.name} {port}": port for port in self.ports}
        held = wait_ports_free(ports, ports_timeout_s) if ports else {}
        if held:
            labels = {port: self.name for port in self.ports}
            problems.append(
                f"still held after {ports_timeout_s:.0f}s: {describe_held(labels, held)}"
            )
        if problems:
            raise StopIncomplete(f"{self.name}: " + "; ".join(problems))
