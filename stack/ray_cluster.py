"""An isolated local Ray head with Serve's HAProxy ingress, and the deploy of ``ray_config.yaml``.

Isolated means its own temp dir and ports, so a test stack can run beside ``make run`` (and
neither joins the other). The head runs as ``ray start --block`` in its own process group:
stopping it stops exactly the processes of this cluster, never another on the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from stack.processes import (
    REASON,
    Check,
    ComponentDied,
    Managed,
    Ownership,
    StopIncomplete,
    describe,
    describe_held,
    free_port,
    terminate,
    wait_ports_free,
)


@dataclass
class RayPorts:
    gcs: int = 6379
    dashboard: int = 8265
    dashboard_metrics: int = 44227  # the dashboard's own Prometheus endpoint (Ray's default)
    http: int = 8000
    haproxy_metrics: int = 9101
    haproxy_stats: int = 8404
    client_server: int = 10001
    metrics_export: int = 8080
    dashboard_agent_grpc: int = 8081
    dashboard_agent_http: int = 52365
    runtime_env_agent: int = 52366
    node_manager: int = 0
    object_manager: int = 0
    min_worker: int = 0
    max_worker: int = 0
    fallback_proxy_http: int = 8500  # HAProxy's backup server: Serve's Python proxy
    fallback_proxy_grpc: int = 9500
    direct_ingress_http: tuple[int, int] = (30000, 31000)  # replicas' own HTTP ports
    direct_ingress_grpc: tuple[int, int] = (40000, 41000)

    def named(self) -> dict[str, int]:
        """Every single port this cluster binds, by field name (``0``: Ray picks, left out)."""
        return {
            f"Ray {f.name}": value
            for f in fields(self)
            if isinstance(value := getattr(self, f.name), int) and value and "worker" not in f.name
        }

    def node_flags(self) -> list[str]:
        """``ray start`` flags for the ports every node (head or worker) binds; ``0``: Ray picks."""
        argv = [
            "--metrics-export-port",
            str(self.metrics_export),
            "--dashboard-agent-grpc-port",
            str(self.dashboard_agent_grpc),
            "--dashboard-agent-listen-port",
            str(self.dashboard_agent_http),
            "--runtime-env-agent-port",
            str(self.runtime_env_agent),
        ]
        for flag, value in (
            ("--node-manager-port", self.node_manager),
            ("--object-manager-port", self.object_manager),
            ("--min-worker-port", self.min_worker),
            ("--max-worker-port", self.max_worker),
        ):
            if value:
                argv += [flag, str(value)]
        return argv

    def pools(self) -> dict[str, range]:
        """The port ranges Ray's workers and Serve's replicas pick from (they skip busy ports)."""
        pools = {
            "Serve direct_ingress_http": range(
                self.direct_ingress_http[0], self.direct_ingress_http[1] + 1
            ),
            "Serve direct_ingress_grpc": range(
                self.direct_ingress_grpc[0], self.direct_ingress_grpc[1] + 1
            ),
        }
        if self.min_worker and self.max_worker:
            pools["Ray worker ports"] = range(self.min_worker, self.max_worker + 1)
        return pools


def private_ports() -> RayPorts:
    """Free ports for every listener, so a second stack runs beside ``make run`` (whose Ray
    workers use 10002-19999). Port ranges come from one of five 1,000-port blocks in
    20000-24999, picked at random, so two private stacks (a test run and a benchmark) rarely
    share one; single listeners come from :data:`stack.processes.PRIVATE_PORTS`."""
    block = 20_000 + 1_000 * random.randrange(5)
    return RayPorts(
        gcs=free_port(),
        dashboard=free_port(),
        dashboard_metrics=free_port(),
        http=free_port(),
        haproxy_metrics=free_port(),
        haproxy_stats=free_port(),
        client_server=free_port(),
        metrics_export=free_port(),
        dashboard_agent_grpc=free_port(),
        dashboard_agent_http=free_port(),
        runtime_env_agent=free_port(),
        node_manager=free_port(),
        object_manager=free_port(),
        min_worker=block,
        max_worker=block + 799,
        fallback_proxy_http=free_port(),
        fallback_proxy_grpc=free_port(),
        direct_ingress_http=(block + 800, block + 899),
        direct_ingress_grpc=(block + 900, block + 999),
    )


def _ray_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def serve_env(ports: RayPorts, haproxy_dir: Path) -> dict[str, str]:
    """What every Ray process of this cluster needs, replicas included (they inherit it)."""
    haproxy_dir.mkdir(parents=True, exist_ok=True)
    return {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        # Ray has no `ray start` flag for it; two heads on one host would share 44227.
        "DASHBOARD_METRIC_PORT": str(ports.dashboard_metrics),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(ports.haproxy_metrics),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(ports.haproxy_stats),
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(haproxy_dir / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(haproxy_dir / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(haproxy_dir),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(haproxy_dir / "server-state"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(haproxy_dir / "metrics.sock"),
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(ports.fallback_proxy_http),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(ports.fallback_proxy_grpc),
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(ports.direct_ingress_http[0]),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(ports.direct_ingress_http[1]),
        "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(ports.direct_ingress_grpc[0]),
        "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(ports.direct_ingress_grpc[1]),
        # A replica leaving HAProxy drains at least this long (Serve's default is 30 s); a
        # production cluster behind a cloud load balancer may want the longer default back.
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": os.environ.get(
            "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "2"
        ),
        # A replica killed mid-request: HAProxy replays the request on another replica when
        # nothing came back (`empty-response`) instead of closing the client's connection
        # without an answer. Safe for this API: progress only moves forward, a device's new
        # start replaces its own session, events have deterministic ids. Bounded: a connect
        # that takes a second means a dead replica on a local network, a replica silent for
        # 30 s (e.g. stopped) gets a 504 instead of holding the client forever, health checks
        # every second notice a dead replica sooner than Serve's default 5 s. See the README.
        **{
            name: os.environ.get(name, default)
            for name, default in (
                ("RAY_SERVE_HAPROXY_RETRY_ON", "conn-failure empty-response"),
                ("RAY_SERVE_HAPROXY_RETRIES", "2"),
                ("RAY_SERVE_HAPROXY_TIMEOUT_CONNECT_S", "1"),
                ("RAY_SERVE_HAPROXY_TIMEOUT_SERVER_S", "30"),
                ("RAY_SERVE_HAPROXY_HEALTH_CHECK_INTER", "1s"),
            )
        },
        # User code on the replica's own event loop (no thread hop per request), GC frozen after
        # start-up, buffered request-path logs: +50% for a Serve hello world here (see
        # ../shared/ARCHITECTURE.md). Our code never blocks its loop, which this requires.
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": os.environ.get("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1"),
        "RAY_USAGE_STATS_ENABLED": "0",
        # On SIGTERM `ray start` first waits (30 s by default) for the node to go idle, for
        # Kubernetes upgrades. Our stop has already drained the shards and shut Serve down, and
        # the shard actors never go idle, so that wait would always run out: skip it.
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": os.environ.get(
            "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S", "0"
        ),
        # Ray turns token auth on by itself once ~/.ray/auth_token exists (any `ray
        # get-auth-token --generate` on the host); our dashboard calls send no token, so without
        # this the head comes up and answers only 401. Set RAY_AUTH_MODE=token to opt in.
        "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"),
        "RAY_SERVE_LOG_TO_STDERR": "0",
    }


# Lines in Ray's session logs that mean the node is going down (a port conflict makes the
# dashboard agent exit, and the raylet fate-shares with it), and the files they show up in.
FATAL = re.compile(
    # "check failed" is a Ray CHECK (assertion); "Health check failed for node" is the GCS
    # noticing that another node died, which the head survives.
    r"address already in use|failed to bind|raylet exited immediately|fate-shares"
    r"|(?<!health )check failed",
    re.IGNORECASE,
)
WATCHED_LOGS = (
    "dashboard_agent.err",
    "dashboard_agent.log",
    "raylet.out",
    "raylet.err",
    "gcs_server.out",
    "gcs_server.err",
    "runtime_env_agent.err",
    "runtime_env_agent.log",
)
# Where a death may be explained, too. Not watched for fatal lines: the dashboard logs a busy
# port of its own metrics server and carries on.
REASON_LOGS = (*WATCHED_LOGS, "dashboard.err", "dashboard.log")


@dataclass
class RayLogs:
    """Tails the logs of the Ray session that our ``ray start`` created, for fatal lines."""

    temp_dir: Path
    before: Path | None = None  # the session that ``session_latest`` named before our start
    offsets: dict[str, int] = field(default_factory=dict)
    # Addresses of the cluster's other nodes: the head's GCS logs *their* deaths too (e.g.
    # "raylet fate-shares with it ... node_name=10.200.0.2"), which the head survives.
    other_nodes: list[str] = field(default_factory=list)

    @classmethod
    def before_start(cls, temp_dir: Path) -> RayLogs:
        latest = temp_dir / "session_latest"
        return cls(temp_dir, latest.resolve() if latest.exists() else None)

    @property
    def dir(self) -> Path | None:
        """``<temp_dir>/session_latest/logs`` once our session exists (not an earlier one's)."""
        latest = self.temp_dir / "session_latest"
        if not latest.exists():
            return None
        session = latest.resolve()
        return None if session == self.before else session / "logs"

    def fatal(self) -> str | None:
        """``path: line`` for the first fatal line written since the last call, if any."""
        logs = self.dir
        if logs is None:
            return None
        for name in WATCHED_LOGS:
            path = logs / name
            try:
                with path.open("rb") as log:
                    log.seek(self.offsets.get(name, 0))
                    chunk = log.read()
            except OSError:
                continue
            end = chunk.rfind(b"\n") + 1  # only whole lines; the rest is read next time
            self.offsets[name] = self.offsets.get(name, 0) + end
            for line in chunk[:end].decode("utf-8", "replace").splitlines():
                if FATAL.search(line) and not any(
                    f"node_name={other}" in line for other in self.other_nodes
                ):
                    return f"{path}: {line.strip()[:400]}"
        return None

    def reason(self) -> str | None:
        """After a death: the most telling line of the session's logs (``path: line``)."""
        logs = self.dir
        if logs is None:
            return None
        best: str | None = None
        for pattern in (FATAL, REASON):
            for name in REASON_LOGS:
                path = logs / name
                try:
                    text = path.read_bytes()[-64_000:].decode("utf-8", "replace")
                except OSError:
                    continue
                for line in text.splitlines():
                    if pattern.search(line) and "[Errno 2]" not in line:
                        best = f"{path}: {line.strip()[:400]}"
                        if pattern is FATAL:
                            return best  # the first fatal line is the cause, the rest follow
            if best is not None:
                return best
        return None


@dataclass
class RayHead:
    temp_dir: Path
    ports: RayPorts
    env: dict[str, str]
    num_cpus: int
    log_dir: Path
    # Other directories only this cluster's processes mention (HAProxy's, outside temp_dir).
    extra_dirs: tuple[Path, ...] = ()
    # The address the head advertises to the cluster. 127.0.0.1 is right for one machine; a
    # node on another host (or in a network namespace) must reach it, so it is then an address
    # of ours on a shared network (``stack.multinode``).
    node_ip: str = "127.0.0.1"
    proc: Managed | None = field(default=None, init=False)
    logs: RayLogs | None = field(default=None, init=False)
    _sampling: threading.Event = field(default_factory=threading.Event, init=False)
    _sampler: threading.Thread | None = field(default=None, init=False)
    _up: bool = field(default=False, init=False)  # the dashboard answered: `ray start` is done

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.dashboard}"

    @property
    def gcs_address(self) -> str:
        """What ``ray start --address`` and ``ray.init(address=...)`` take to join this cluster."""
        return f"{self.node_ip}:{self.ports.gcs}"

    @property
    def ownership(self) -> Ownership:
        """This cluster's processes: they mention our temp dir, or (``ray::DashboardAgent`` and
        the like, which rewrite their command line) keep their logs under it open."""
        dirs = (str(self.temp_dir), *map(str, self.extra_dirs))
        return Ownership(dirs=dirs, file_dirs=(str(self.temp_dir),), file_names=("ray",))

    def start(self, timeout_s: float = 180, check: Check | None = None) -> None:
        p = self.ports
        argv = [
            _ray_bin("ray"),
            "start",
            "--head",
            "--block",
            "--node-ip-address",
            self.node_ip,
            "--port",
            str(p.gcs),
            "--temp-dir",
            str(self.temp_dir),
            "--num-cpus",
            str(self.num_cpus),
            "--include-dashboard",
            "true",
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(p.dashboard),
            "--ray-client-server-port",
            str(p.client_server),
            "--disable-usage-stats",
            *p.node_flags(),
        ]
        self.logs = RayLogs.before_start(self.temp_dir)
        self.proc = Managed.start("ray head", argv, self.log_dir / "ray-head.log", self.env)
        self._start_sampler()
        watch = self._watch(check)
        self.proc.wait_listening(p.dashboard, timeout_s, watch)
        self._wait_dashboard_api(timeout_s, watch)
        self._up = True

    # -- is it still alive? ---------------------------------------------------------------

    def check(self) -> None:
        """Raises :class:`ComponentDied` if the head exited or its logs say a part of it is
        going down (e.g. the dashboard agent could not bind its port)."""
        if self.proc is None:
            return
        if (code := self.proc.proc.poll()) is not None:
            where = (self.logs and self.logs.reason()) or (
                f"{self.proc.log_path}: {self.proc.died()}"
            )
            raise ComponentDied(
                f"the Ray head (ray start --block) exited with code {code}; why: {where} "
                f"(ray start's own output: {self.proc.log_path})"
            )
        if self.logs is not None and (line := self.logs.fatal()) is not None:
            raise ComponentDied(f"Ray is failing: {line}")

    def _watch(self, check: Check | None) -> Check:
        def watch() -> None:
            self.check()
            if check is not None:
                check()

        return watch

    # -- which processes are ours ---------------------------------------------------------

    def remember_family(self) -> None:
        """Note every descendant of ``ray start`` now: some (``ray::DashboardAgent``) re-parent
        to pid 1 when the raylet exits and can no longer be found through the tree."""
        if self.proc is not None:
            self.proc.remember_family()

    def _start_sampler(self, every_s: float = 2.0) -> None:
        self._sampling.clear()

        def sample() -> None:
            while not self._sampling.wait(every_s):
                self.remember_family()

        self._sampler = threading.Thread(target=sample, name="ray-family", daemon=True)
        self._sampler.start()

    def _stop_sampler(self) -> None:
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join()
            self._sampler = None

    # -- Serve ----------------------------------------------------------------------------

    def _wait_dashboard_api(self, timeout_s: float, check: Check) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            check()
            try:
                with urllib.request.urlopen(
                    f"{self.dashboard_url}/api/serve/applications/", timeout=5
                ):
                    return
            except urllib.error.HTTPError as exc:
                _refused(exc)
                time.sleep(1)
            except OSError:
                time.sleep(1)
        raise TimeoutError(
            f"the Ray dashboard's Serve API did not come up within {timeout_s:.0f}s "
            f"(Ray's logs: {self.temp_dir}/session_latest/logs)"
        )

    def deploy(self, config_path: Path, timeout_s: float = 300, check: Check | None = None) -> None:
        subprocess.run(
            [_ray_bin("serve"), "deploy", str(config_path), "--address", self.dashboard_url],
            check=True,
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
        )
        self.wait_running(timeout_s, check)

    def nodes(self) -> list[dict[str, Any]]:
        """The cluster's nodes as the dashboard's state API lists them (``node_id``,
        ``node_ip``, ``state``, ``resources_total``, ...)."""
        with urllib.request.urlopen(
            f"{self.dashboard_url}/api/v0/nodes?limit=1000&detail=true", timeout=10
        ) as resp:
            result: list[dict[str, Any]] = json.load(resp)["data"]["result"]["result"]
            return result

    def add_worker(self, worker: RayWorker, timeout_s: float = 120) -> str:
        """Start ``worker`` against this head and wait until the cluster lists it ALIVE;
        returns its node id."""
        if self.logs is not None:
            self.logs.other_nodes.append(worker.node_ip)
        worker.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            worker.check()
            self.check()
            with contextlib.suppress(OSError, KeyError, ValueError):
                for node in self.nodes():
                    if node.get("node_ip") == worker.node_ip and node.get("state") == "ALIVE":
                        node_id: str = node["node_id"]
                        return node_id
            time.sleep(1)
        raise TimeoutError(
            f"the worker node {worker.node_ip} did not join within {timeout_s:.0f}s "
            f"(its output: {worker.log_path}; Ray's logs: {worker.temp_dir}/session_latest/logs)"
        )

    def applications(self) -> dict[str, Any]:
        with urllib.request.urlopen(
            f"{self.dashboard_url}/api/serve/applications/", timeout=10
        ) as resp:
            apps: dict[str, Any] = json.load(resp).get("applications", {})
            return apps

    def wait_running(self, timeout_s: float, check: Check | None = None) -> None:
        watch = self._watch(check)
        deadline = time.monotonic() + timeout_s
        last: dict[str, str] = {}
        while time.monotonic() < deadline:
            watch()
            try:
                apps = self.applications()
            except urllib.error.HTTPError as exc:
                _refused(exc)
                apps = {}
            except OSError:
                apps = {}
            last = {name: app.get("status", "?") for name, app in apps.items()}
            failed = {
                n: apps[n].get("message", "") for n, s in last.items() if s == "DEPLOY_FAILED"
            }
            if failed:
                raise RuntimeError(f"Serve deploy failed: {failed}")
            if last and all(status == "RUNNING" for status in last.values()):
                self.remember_family()  # the replicas, the proxy and HAProxy exist now
                return
            time.sleep(1)
        raise TimeoutError(f"Serve applications not RUNNING after {timeout_s:.0f}s: {last}")

    def drain_shards(self) -> None:
        """Flush every shard's buffered progress to MongoDB before anything stops.

        Best effort: if the head already died there is nothing to drain, and what the shards
        acknowledged is in their Redis journals either way."""
        if self.proc is None or self.proc.proc.poll() is not None:
            return
        try:
            subprocess.run(
                [sys.executable, "-m", "actors.drain", "--address", self.gcs_address],
                env={**os.environ, **self.env},
                timeout=60,
                check=False,
            )
        except subprocess.TimeoutExpired:
            print("drain timed out; the journals will be replayed on the next start", flush=True)

    def shutdown_serve(self) -> None:
        """Graceful: drain the shards, then let Serve's replicas finish their requests."""
        self.drain_shards()
        subprocess.run(
            [_ray_bin("serve"), "shutdown", "-y", "--address", self.dashboard_url],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )

    # -- stop -----------------------------------------------------------------------------

    def stop(self, grace_s: float = 10.0, ports_timeout_s: float = 30.0) -> None:
        """Returns once every process of this cluster has exited and its ports are free.

        ``ray start --block`` stops what it started, but not necessarily what those started:
        the dashboard agent outlives the raylet by up to a minute, holding its ports. So after
        it exits, every descendant we saw, and every process that is ours by
        :attr:`ownership`, gets SIGTERM, then SIGKILL after ``grace_s``. Raises
        :class:`StopIncomplete` (naming what is left) if that is not done within the deadline."""
        if self.proc is None:
            return
        self._stop_sampler()
        head, self.proc = self.proc, None
        problems: list[str] = []
        try:
            # `ray start` ignores SIGTERM until its node is up: if start-up failed, kill it
            # soon (its processes are remembered, and ended below).
            head.stop(timeout_s=30 if self._up else 3)  # ends the descendants it saw, too
        except StopIncomplete as exc:
            problems.append(str(exc))
        survivors = terminate(self.ownership.find(), grace_s)
        problems += [f"{describe(p.pid)} did not exit" for p in survivors]
        ports = self.ports.named()
        held = wait_ports_free(ports, ports_timeout_s)
        if held:
            labels = {port: label for label, port in ports.items()}
            problems.append(
                f"still held after {ports_timeout_s:.0f}s: {describe_held(labels, held)}"
            )
        if problems:
            raise StopIncomplete("Ray did not stop cleanly: " + "; ".join(problems))


@dataclass
class RayWorker:
    """A further node of a running cluster: ``ray start --address=<head> --block``.

    With ``netns`` it runs inside that network namespace (``ip netns exec``), where
    ``node_ip`` is its own address and every port is its own, like a second machine sharing
    only the file system with the first. Without one it shares the host's network, and
    ``ports`` must then be private ones (:func:`private_ports`), not the head's.
    ``resources`` are custom resources (e.g. ``{"node2": 1}``) that let a test pin work to it."""

    name: str
    head_address: str  # RayHead.gcs_address
    temp_dir: Path
    env: dict[str, str]
    num_cpus: int
    log_dir: Path
    node_ip: str = "127.0.0.1"
    netns: str | None = None
    resources: dict[str, float] = field(default_factory=dict)
    ports: RayPorts | None = None
    proc: Managed | None = field(default=None, init=False)

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"ray-{self.name}.log"

    def argv(self) -> list[str]:
        argv = [
            _ray_bin("ray"),
            "start",
            "--address",
            self.head_address,
            "--block",
            "--node-ip-address",
            self.node_ip,
            "--temp-dir",
            str(self.temp_dir),
            "--num-cpus",
            str(self.num_cpus),
            "--disable-usage-stats",
        ]
        if self.resources:
            argv += ["--resources", json.dumps(self.resources)]
        if self.ports is not None:
            argv += self.ports.node_flags()
        if self.netns is not None:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        return argv

    def start(self) -> None:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self.proc = Managed.start(f"ray {self.name}", self.argv(), self.log_path, self.env)

    def check(self) -> None:
        if self.proc is not None and (why := self.proc.died()) is not None:
            raise ComponentDied(f"the Ray worker node {self.name} exited: {why}")

    def pids(self) -> set[int]:
        """Every live process of this node: all of its network namespace's, else those of the
        ``ray start`` tree and those that mention its temp dir."""
        if self.netns is not None:
            out = subprocess.run(
                ["ip", "netns", "pids", self.netns], capture_output=True, text=True, check=False
            ).stdout
            return {int(pid) for pid in out.split()}
        if self.proc is not None:
            self.proc.remember_family()
        found = set(self.proc.family) if self.proc is not None else set()
        owned = Ownership(dirs=(str(self.temp_dir),), file_dirs=(str(self.temp_dir),))
        return found | {proc.pid for proc in owned.find()}

    def kill(self) -> int:
        """SIGKILL every process of the node at once, as if its machine lost power; returns
        how many there were."""
        pids = self.pids()
        if self.proc is not None:
            pids.add(self.proc.proc.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.proc.wait(timeout=10)
        return len(pids)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM to ``ray start`` (it stops its node), then SIGKILL whatever is left."""
        if self.proc is None:
            return
        if self.proc.proc.poll() is None:
            self.proc.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.proc.wait(timeout=grace_s)
        self.kill()
        self.proc = None


def _refused(exc: urllib.error.HTTPError) -> None:
    """401/403 from the dashboard will not go away by waiting: say so at once."""
    if exc.code in (401, 403):
        raise ComponentDied(
            f"the Ray dashboard refuses our requests ({exc.code} {exc.reason}): Ray's token "
            f"authentication is on (RAY_AUTH_MODE={os.environ.get('RAY_AUTH_MODE', 'unset')}, "
            "or ~/.ray/auth_token exists and RAY_AUTH_MODE=disabled was not passed)"
        ) from exc


def write_config(
    source: Path,
    target: Path,
    *,
    http_port: int,
    user_config: dict[str, Any] | None = None,
    http_host: str | None = None,
    deployment_overrides: dict[str, dict[str, Any]] | None = None,
    overlays: Sequence[Path] = (),
) -> Path:
    """A copy of ``ray_config.yaml`` with this stack's port and any runtime overrides.

    ``http_host``: where every node's proxy and replica listen (``127.0.0.1`` in the file:
    one machine; a cluster of several needs an address other nodes reach, e.g. ``0.0.0.0``,
    because each node's HAProxy forwards to replicas on every node).

    ``deployment_overrides``: fields to set on deployments, keyed ``"<app>/<deployment>"``
    (e.g. ``{"api/Ingress": {"num_replicas": None, "autoscaling_config": {...}}}``); a value
    of ``None`` removes the field. A key naming no deployment of the file raises ``KeyError``.

    ``overlays``: files whose ``applications`` are added (e.g. ``loadtest/bench_endpoints.yaml``,
    the hello-world ceiling the benchmarks compare against)."""
    config = yaml.safe_load(source.read_text())
    for overlay in overlays:
        config["applications"] += yaml.safe_load(overlay.read_text())["applications"]
    config.setdefault("http_options", {})["port"] = http_port
    if http_host is not None:
        config["http_options"]["host"] = http_host
    if user_config:
        for app in config["applications"]:
            for deployment in app.get("deployments", []):
                if "user_config" in deployment:
                    deployment["user_config"] = {**deployment["user_config"], **user_config}
    for key, fields_ in (deployment_overrides or {}).items():
        app_name, _, name = key.partition("/")
        found = next(
            (
                deployment
                for app in config["applications"]
                if app.get("name") == app_name
                for deployment in app.get("deployments", [])
                if deployment.get("name") == name
            ),
            None,
        )
        if found is None:
            raise KeyError(f"{source} has no deployment {name!r} in application {app_name!r}")
        for field_name, value in fields_.items():
            if value is None:
                found.pop(field_name, None)
            else:
                found[field_name] = value
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target
