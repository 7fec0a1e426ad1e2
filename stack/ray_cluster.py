"""An isolated local Ray head with Serve's HAProxy ingress, and the deploy of ``ray_config.yaml``.

Isolated means its own temp dir and ports, so a test stack can run beside ``make run`` (and
neither joins the other). The head runs as ``ray start --block`` in its own process group:
stopping it stops exactly the processes of this cluster, never another on the host.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from stack.processes import Managed, free_port, wait_for_port


@dataclass
class RayPorts:
    gcs: int = 6379
    dashboard: int = 8265
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


def private_ports() -> RayPorts:
    """Free ports for every listener, so a second stack runs beside ``make run`` (whose Ray
    workers use 10002-19999). Port ranges come from one of five 1,000-port blocks in
    20000-24999, picked at random, so two private stacks (a test run and a benchmark) rarely
    share one; single listeners come from :data:`stack.processes.PRIVATE_PORTS`."""
    block = 20_000 + 1_000 * random.randrange(5)
    return RayPorts(
        gcs=free_port(),
        dashboard=free_port(),
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
        # User code on the replica's own event loop (no thread hop per request), GC frozen after
        # start-up, buffered request-path logs: +50% for a Serve hello world here (see
        # ../shared/ARCHITECTURE.md). Our code never blocks its loop, which this requires.
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": os.environ.get("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1"),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_SERVE_LOG_TO_STDERR": "0",
    }


@dataclass
class RayHead:
    temp_dir: Path
    ports: RayPorts
    env: dict[str, str]
    num_cpus: int
    log_dir: Path
    proc: Managed | None = field(default=None, init=False)

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.dashboard}"

    def start(self, timeout_s: float = 180) -> None:
        p = self.ports
        argv = [
            _ray_bin("ray"),
            "start",
            "--head",
            "--block",
            "--node-ip-address",
            "127.0.0.1",
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
            "--metrics-export-port",
            str(p.metrics_export),
            "--dashboard-agent-grpc-port",
            str(p.dashboard_agent_grpc),
            "--dashboard-agent-listen-port",
            str(p.dashboard_agent_http),
            "--runtime-env-agent-port",
            str(p.runtime_env_agent),
            "--disable-usage-stats",
        ]
        for flag, value in (
            ("--node-manager-port", p.node_manager),
            ("--object-manager-port", p.object_manager),
            ("--min-worker-port", p.min_worker),
            ("--max-worker-port", p.max_worker),
        ):
            if value:
                argv += [flag, str(value)]
        self.proc = Managed.start("ray head", argv, self.log_dir / "ray-head.log", self.env)
        wait_for_port("127.0.0.1", p.dashboard, timeout_s, self.proc.proc)
        self._wait_dashboard_api(timeout_s)

    def _wait_dashboard_api(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"{self.dashboard_url}/api/serve/applications/", timeout=5
                ):
                    return
            except OSError:
                time.sleep(1)
        raise TimeoutError("the Ray dashboard's Serve API did not come up")

    def deploy(self, config_path: Path, timeout_s: float = 300) -> None:
        subprocess.run(
            [_ray_bin("serve"), "deploy", str(config_path), "--address", self.dashboard_url],
            check=True,
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
        )
        self.wait_running(timeout_s)

    def applications(self) -> dict[str, Any]:
        with urllib.request.urlopen(
            f"{self.dashboard_url}/api/serve/applications/", timeout=10
        ) as resp:
            apps: dict[str, Any] = json.load(resp).get("applications", {})
            return apps

    def wait_running(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last: dict[str, str] = {}
        while time.monotonic() < deadline:
            try:
                apps = self.applications()
            except OSError:
                apps = {}
            last = {name: app.get("status", "?") for name, app in apps.items()}
            failed = {
                n: apps[n].get("message", "") for n, s in last.items() if s == "DEPLOY_FAILED"
            }
            if failed:
                raise RuntimeError(f"Serve deploy failed: {failed}")
            if last and all(status == "RUNNING" for status in last.values()):
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
                [sys.executable, "-m", "actors.drain", "--address", f"127.0.0.1:{self.ports.gcs}"],
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

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.stop(timeout_s=30)
        # `ray start --block` stops what it started; anything still holding our temp dir is ours.
        marker = str(self.temp_dir)
        for process in psutil.process_iter(["cmdline"]):
            try:
                if any(marker in part for part in process.info["cmdline"] or []):
                    process.send_signal(signal.SIGKILL)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue


def write_config(
    source: Path, target: Path, *, http_port: int, user_config: dict[str, Any] | None = None
) -> Path:
    """A copy of ``ray_config.yaml`` with this stack's port and any runtime overrides."""
    config = yaml.safe_load(source.read_text())
    config.setdefault("http_options", {})["port"] = http_port
    if user_config:
        for app in config["applications"]:
            for deployment in app.get("deployments", []):
                if "user_config" in deployment:
                    deployment["user_config"] = {**deployment["user_config"], **user_config}
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target
