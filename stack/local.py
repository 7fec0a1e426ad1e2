"""The whole local stack in one object: stores (unless external), keys, bootstrap, Ray, Serve."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.config import Settings
from media.package import build as build_pool
from stack.bootstrap import bootstrap
from stack.processes import (
    ComponentDied,
    Managed,
    Ownership,
    StopIncomplete,
    check_ports_free,
    free_port,
)
from stack.ray_cluster import RayHead, RayPorts, private_ports, serve_env, write_config
from stack.stores import MONGO_NAME, REDIS_NAME, StoreKind, start_mongo, start_redis

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVE_CPUS = 1  # the Ingress's 2 x 0.5 in ray_config.yaml
# The hello-world ceiling the benchmarks measure against: not in ray_config.yaml (production),
# added by `make bench` and by `BENCH_ENDPOINTS=1 make run` (README § Benchmarks).
BENCH_OVERLAY = PROJECT_ROOT / "loadtest" / "bench_endpoints.yaml"
BENCH_CPUS = 1  # its Hello's 2 x 0.5


def bench_endpoints_asked() -> bool:
    return os.environ.get("BENCH_ENDPOINTS") == "1"


Say = Callable[[str], None]


class StartAborted(RuntimeError):
    """Start-up was interrupted (Ctrl-C or SIGTERM while starting)."""


@dataclass
class LocalStack:
    data_dir: Path
    ray_temp_dir: Path  # keep it short: Ray puts unix sockets under it (107-byte path limit)
    # HAProxy's sockets go under <this>/<56-char node id>/, and HAProxy allows 97 bytes.
    haproxy_dir: Path | None = None
    ports: RayPorts = field(default_factory=RayPorts)
    mongo_port: int = 27018
    redis_port: int = 6380
    media_port: int = 8001
    media_clips: int = int(os.environ.get("MEDIA_POOL_CLIPS", "3"))
    # Serve /bench/hello/ beside the API (BENCH_OVERLAY).
    bench_endpoints: bool = field(default_factory=bench_endpoints_asked)
    # Ray's logical CPUs (0: chosen in __post_init__): what the Serve replicas reserve
    # (num_cpus summed), and encode tasks (num_cpus=1 each) get one slot per real core on top.
    num_cpus: int = 0
    user_config: dict[str, Any] | None = None
    # Fields set on deployments of ray_config.yaml at deploy (see ``write_config``), e.g. an
    # ``autoscaling_config`` for ``"api/Ingress"`` in place of its ``num_replicas``.
    deployment_overrides: dict[str, dict[str, Any]] | None = None
    catalog_titles: int = int(os.environ.get("DEMO_CATALOG_TITLES", "5000"))
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: list[Managed] = field(default_factory=list)
    head: RayHead | None = None
    scratch_dirs: list[Path] = field(default_factory=list)  # removed on stop
    abort: threading.Event | None = None  # set (by a signal handler) to give up a start
    # More than one node (``stack.multinode``): the address the head advertises, where Serve's
    # proxies and replicas listen (``http_options.host``), and a hook run once the head is up
    # and before Serve is deployed (it adds the other nodes and places the shards).
    node_ip: str = "127.0.0.1"
    http_host: str | None = None
    before_deploy: Callable[[RayHead], None] | None = None

    def __post_init__(self) -> None:
        if not self.num_cpus:
            serve = SERVE_CPUS + (BENCH_CPUS if self.bench_endpoints else 0)
            self.num_cpus = max(2, os.cpu_count() or 2) + serve

    @classmethod
    def private(
        cls,
        data_dir: Path,
        user_config: dict[str, Any] | None = None,
        extra_env: dict[str, str] | None = None,
        keep_ports: bool = False,
        bench_endpoints: bool | None = None,
    ) -> LocalStack:
        """A stack on free ports and fresh temp dirs, with its own embedded stores.

        ``keep_ports``: the ports are picked once per data dir (kept in ``<data_dir>/ports.json``)
        so a restart on the same data dir binds the same ports, as ``make run`` does.
        ``bench_endpoints``: serve BENCH_OVERLAY too (default: ``BENCH_ENDPOINTS=1``)."""
        ray_temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        haproxy_dir = Path(tempfile.mkdtemp(prefix="hap", dir="/tmp"))
        saved = data_dir / "ports.json"
        if keep_ports and saved.exists():
            ports, mongo, redis, media = _saved_ports(saved)
        else:
            ports, mongo, redis, media = private_ports(), free_port(), free_port(), free_port()
            if keep_ports:
                data_dir.mkdir(parents=True, exist_ok=True)
                chosen = {"ray": asdict(ports), "mongo": mongo, "redis": redis, "media": media}
                saved.write_text(json.dumps(chosen))
        return cls(
            data_dir=data_dir,
            ray_temp_dir=ray_temp_dir,
            haproxy_dir=haproxy_dir,
            scratch_dirs=[ray_temp_dir, haproxy_dir],
            ports=ports,
            mongo_port=mongo,
            redis_port=redis,
            media_port=media,
            user_config=user_config,
            extra_env=extra_env or {},
            bench_endpoints=bench_endpoints_asked() if bench_endpoints is None else bench_endpoints,
        )

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"

    def env(self) -> dict[str, str]:
        """Settings for every process of the stack; external URLs win over embedded stores."""
        return {
            "STREAMING_DATA_DIR": str(self.data_dir),
            "MONGODB_URL": os.environ.get("MONGODB_URL")
            or f"mongodb://127.0.0.1:{self.mongo_port}/",
            "REDIS_URL": os.environ.get("REDIS_URL") or f"redis://127.0.0.1:{self.redis_port}/0",
            "PUBLIC_BASE_URL": self.base_url,
            "MEDIA_BASE_URL": f"http://127.0.0.1:{self.media_port}",
            # Replicas import our packages from the checkout. Deliberately not a runtime_env
            # working_dir: Ray would zip the whole tree (data dir included) into its temp dir.
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
            ),
            **self.extra_env,
        }

    # -- ports and processes ------------------------------------------------------------------

    def fixed_ports(self) -> dict[str, int]:
        """Every single port this stack binds, by what binds it."""
        ports = {**self.ports.named(), "media origin": self.media_port}
        if not os.environ.get("MONGODB_URL"):
            ports["MongoDB (SecantusDB)"] = self.mongo_port
        if not os.environ.get("REDIS_URL"):
            ports["Redis"] = self.redis_port
        return ports

    @property
    def ownership(self) -> Ownership:
        """How to recognise this stack's processes, also those left over from an earlier run:
        they mention its Ray temp dir or data dir, or keep files under them open."""
        mine = (str(self.ray_temp_dir), str(self.data_dir))
        extra = () if self.haproxy_dir is None else (str(self.haproxy_dir),)
        return Ownership(dirs=mine + extra, file_dirs=mine, data_dir=str(self.data_dir))

    def check_alive(self) -> None:
        """Raises at once if a component died (with its log's line saying why), or if the
        start was interrupted. Called throughout the waits of :meth:`start`."""
        if self.abort is not None and self.abort.is_set():
            raise StartAborted("start-up interrupted")
        for proc in self.procs:
            proc.check()
        if self.head is not None:
            self.head.check()

    # -- start ----------------------------------------------------------------------------------

    def start(self, say: Say = print) -> None:
        check_ports_free(
            self.fixed_ports(),
            self.ownership,
            ranges=self.ports.pools(),
            leftover_wait_s=float(os.environ.get("STACK_PORT_WAIT_S", "10")),
            say=say,
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = self.env()
        if not os.environ.get("MONGODB_URL"):
            say(f"starting MongoDB (SecantusDB) on 127.0.0.1:{self.mongo_port}")
            self.start_store("mongodb")
        if not os.environ.get("REDIS_URL"):
            say(f"starting Redis on 127.0.0.1:{self.redis_port}")
            self.start_store("redis")
        say(f"packaging {self.media_clips} encrypted demo clips (first start only)")
        pool = build_pool(self.data_dir / "media", self.media_clips, say=lambda _: None)
        self.check_alive()
        say("bootstrapping indexes, signing keys, admin and demo accounts")
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            asyncio.run(
                bootstrap(
                    Settings.from_env(), self.catalog_titles, say, pool, self.data_dir / "media"
                )
            )
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.check_alive()
        say(f"starting the media origin on 127.0.0.1:{self.media_port}")
        origin = Managed.start(
            "media origin",
            [
                sys.executable,
                "-m",
                "media.origin",
                "--port",
                str(self.media_port),
                "--pool",
                str(self.data_dir / "media"),
            ],
            self.log_dir / "origin.log",
            env,
            ports=(self.media_port,),
        )
        self.procs.append(origin)
        origin.wait_listening(self.media_port, 30, self.check_alive)
        say(f"starting Ray head (temp dir {self.ray_temp_dir}) with the HAProxy ingress")
        haproxy_dir = self.haproxy_dir or self.ray_temp_dir / "hap"
        self.head = RayHead(
            temp_dir=self.ray_temp_dir,
            ports=self.ports,
            env={**env, **serve_env(self.ports, haproxy_dir)},
            num_cpus=self.num_cpus,
            log_dir=self.log_dir,
            extra_dirs=(haproxy_dir,),
            node_ip=self.node_ip,
        )
        self.head.start(check=self.check_alive)
        if self.before_deploy is not None:
            self.before_deploy(self.head)
        say(
            "deploying ray_config.yaml"
            + (" + the bench endpoints (/bench/hello/)" if self.bench_endpoints else "")
        )
        self.deploy(self.user_config, "ray_config.deployed.yaml")
        self.wait_ready(say)

    def deploy(self, user_config: dict[str, Any] | None, name: str) -> Path:
        """``serve deploy`` ray_config.yaml with this stack's port, host, deployment overrides
        and bench endpoints, and ``user_config`` over the file's (a live change of settings
        only reconfigures the replicas). The deployed copy is ``<data_dir>/<name>``."""
        assert self.head is not None, "start the Ray head first"
        config = write_config(
            PROJECT_ROOT / "ray_config.yaml",
            self.data_dir / name,
            http_port=self.ports.http,
            user_config=user_config,
            http_host=self.http_host,
            deployment_overrides=self.deployment_overrides,
            overlays=[BENCH_OVERLAY] if self.bench_endpoints else [],
        )
        self.head.deploy(config, check=self.check_alive)
        return config

    def start_store(self, kind: StoreKind) -> Managed:
        """Start one embedded store on this stack's port and data dir: at start-up, or again
        after it died (Redis replays its append-only file, MongoDB its WiredTiger journal).
        A dead process of that store in :attr:`procs` is replaced, keeping the stop order."""
        name = {"mongodb": MONGO_NAME, "redis": REDIS_NAME}[kind]
        index = next((i for i, p in enumerate(self.procs) if p.name == name), None)
        if index is not None and self.procs[index].died() is None:
            raise RuntimeError(f"{name} is still running (pid {self.procs[index].proc.pid})")
        if kind == "mongodb":
            proc = start_mongo(self.data_dir / "mongo", self.mongo_port, self.log_dir)
        else:
            proc = start_redis(self.data_dir / "redis", self.redis_port, self.log_dir)
        if index is None:
            self.procs.append(proc)
        else:
            self.procs[index] = proc
        return proc

    def store(self, kind: StoreKind) -> Managed:
        """The running process of one embedded store (``KeyError`` if the stack has none)."""
        name = {"mongodb": MONGO_NAME, "redis": REDIS_NAME}[kind]
        for proc in self.procs:
            if proc.name == name:
                return proc
        raise KeyError(f"this stack runs no embedded {kind}")

    def readyz(self) -> tuple[int | None, str, set[str] | None]:
        """``(status, summary, failing checks)`` of ``/readyz``; status ``None``: no answer."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=5) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except OSError as exc:
            reason = getattr(exc, "reason", None) or exc
            return None, f"no answer ({type(reason).__name__}: {reason})", None
        try:
            body = json.loads(raw)
            checks: dict[str, str] = body["checks"]
        except (ValueError, KeyError, TypeError):
            return status, f"HTTP {status}: {raw[:120].decode('utf-8', 'replace')!r}", None
        failing = {name: result for name, result in checks.items() if result != "ok"}
        summary = ", ".join(f"{name} {result}" for name, result in sorted(failing.items()))
        return (
            status,
            f"HTTP {status} {body.get('status')}: {summary or 'all checks ok'}",
            set(failing),
        )

    def wait_ready(
        self,
        say: Say = print,
        stall_s: float | None = None,
        catalog_s: float | None = None,
        every_s: float = 5.0,
        streak: int | None = None,
    ) -> None:
        """Until ``/readyz`` answers 200 ``streak`` times in a row, saying what it reports every
        ``every_s``.

        One 200 is one replica's answer: HAProxy spreads the polls over the Ingress replicas
        (least connections, round robin among equals), and each replica warms its catalog on
        its own. ``streak`` defaults to twice the replicas Serve runs, so every replica has
        answered 200 before the stack says ready (CI once saw the banner's next request 503).

        Fails at once if a component died; otherwise only when nothing progressed (no answer
        or check result not seen before) for ``stall_s`` (``STACK_READY_STALL_S``, 120 s), or,
        while the catalog is the only check still failing (it is loading), for ``catalog_s``
        (``STACK_CATALOG_LOAD_S``, 900 s). ``/readyz`` says how many titles a loading catalog
        has read, so a growing count is progress; building the snapshot and search index
        after the last title is read shows no change for a while (~22 s at 100k titles)."""
        if stall_s is None:
            stall_s = float(os.environ.get("STACK_READY_STALL_S", "120"))
        if catalog_s is None:
            catalog_s = float(os.environ.get("STACK_CATALOG_LOAD_S", "900"))
        if streak is None:
            streak = 2 * self._ingress_replicas()
        started = last_progress = last_said = time.monotonic()
        seen: set[str] = set()
        summary = "no answer yet"
        in_a_row = 0
        while True:
            self.check_alive()
            status, summary, failing = self.readyz()
            now = time.monotonic()
            if status == 200:
                in_a_row += 1
                if in_a_row >= streak:
                    say(f"/readyz answered 200 after {now - started:.0f}s ({streak} in a row)")
                    return
                time.sleep(0.05)
                continue
            in_a_row = 0
            if summary not in seen:
                seen.add(summary)
                last_progress = now
            if now - last_said >= every_s:
                apps = self._serve_status()
                say(f"waiting for /readyz ({now - started:.0f}s): {summary}{apps}")
                last_said = now
            loading = failing == {"catalog"}
            limit = max(stall_s, catalog_s) if loading else stall_s
            if now - last_progress > limit:
                raise TimeoutError(
                    f"{self.base_url}/readyz made no progress for {limit:.0f}s "
                    f"({now - started:.0f}s in all); last answer: {summary}; logs: {self.log_dir}, "
                    f"{self.ray_temp_dir}/session_latest/logs"
                )
            time.sleep(0.5)

    def _ingress_replicas(self) -> int:
        """Replicas of the application at ``/`` (Serve's view; 2 if it cannot say)."""
        if self.head is None:
            return 2
        try:
            apps = self.head.applications()
        except (OSError, ValueError):
            return 2
        count = sum(
            len(deployment.get("replicas", []))
            for app in apps.values()
            if app.get("route_prefix") == "/"
            for deployment in app.get("deployments", {}).values()
        )
        return max(count, 1) if count else 2

    def _serve_status(self) -> str:
        """`` (Serve: app DEPLOYING)`` unless every application is RUNNING; raises if one
        failed to deploy."""
        if self.head is None:
            return ""
        try:
            apps = self.head.applications()
        except OSError:
            return " (Serve's status unavailable)"
        failed = {
            n: a.get("message", "") for n, a in apps.items() if a.get("status") == "DEPLOY_FAILED"
        }
        if failed:
            raise ComponentDied(f"Serve deploy failed: {failed}")
        states = {n: a.get("status", "?") for n, a in apps.items() if a.get("status") != "RUNNING"}
        return f" (Serve: {states})" if states else ""

    # -- stop -----------------------------------------------------------------------------------

    def stop(self, say: Say = print) -> None:
        """Reverse order: Serve first (replicas and actors flush), then Ray, then the stores.

        Returns once every process this stack started has exited and its ports are free;
        raises :class:`StopIncomplete` naming what is left if that takes too long."""
        problems: list[str] = []
        try:
            if self.head is not None:
                say("stopping Serve (graceful) and Ray")
                try:
                    self.head.shutdown_serve()
                finally:
                    head, self.head = self.head, None
                    try:
                        head.stop()
                    except StopIncomplete as exc:
                        problems.append(str(exc))
        finally:  # whatever failed above, every process this stack started is stopped
            for proc in reversed(self.procs):
                say(f"stopping {proc.name}")
                try:
                    proc.stop()
                except StopIncomplete as exc:
                    problems.append(str(exc))
            self.procs.clear()
        if problems:
            raise StopIncomplete("; ".join(problems))
        say("every process of the stack has exited and its ports are free")

    def remove_scratch(self) -> None:
        """Private stacks only: drop Ray's temp dir (logs included) once no longer needed."""
        for path in self.scratch_dirs:
            shutil.rmtree(path, ignore_errors=True)


def _saved_ports(saved: Path) -> tuple[RayPorts, int, int, int]:
    """The ports a ``keep_ports`` stack picked once: Ray's, MongoDB's, Redis's, the origin's."""
    chosen = json.loads(saved.read_text())
    ray: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in chosen["ray"].items()
    }
    return RayPorts(**ray), chosen["mongo"], chosen["redis"], chosen["media"]


def kept_ports(data_dir: Path) -> set[int]:
    """Every single port a ``keep_ports`` stack on ``data_dir`` binds again on each start (the
    ports the OS assigns a process, different every time, are not among them)."""
    ports, mongo, redis, media = _saved_ports(data_dir / "ports.json")
    return set(ports.named().values()) | {mongo, redis, media}


@contextmanager
def private_stack(prefix: str, **options: Any) -> Iterator[LocalStack]:
    """A private stack with its own embedded stores (``MONGODB_URL``/``REDIS_URL`` are dropped
    from this process's environment: a run that kills stores must never reach a real one),
    started in a temp dir, saying its start-up as ``[stack] …``; stopped and removed on exit.
    ``options`` go to :meth:`LocalStack.private` (``user_config``, ``extra_env``)."""
    for name in ("MONGODB_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        stack = LocalStack.private(Path(tmp), **options)
        print(f"starting a private stack in {tmp}", flush=True)
        try:
            stack.start(say=lambda line: print(f"[stack] {line}", flush=True))
            yield stack
        finally:
            stack.stop(say=lambda line: None)
            stack.remove_scratch()
