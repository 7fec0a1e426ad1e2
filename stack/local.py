"""The whole local stack in one object: stores (unless external), keys, bootstrap, Ray, Serve."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.config import Settings
from media.package import build as build_pool
from stack.bootstrap import bootstrap
from stack.processes import Managed, free_port, wait_for_port
from stack.ray_cluster import RayHead, RayPorts, private_ports, serve_env, write_config
from stack.stores import start_mongo, start_redis

PROJECT_ROOT = Path(__file__).resolve().parent.parent
Say = Callable[[str], None]


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
    num_cpus: int = max(2, os.cpu_count() or 2)
    user_config: dict[str, Any] | None = None
    catalog_titles: int = int(os.environ.get("DEMO_CATALOG_TITLES", "5000"))
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: list[Managed] = field(default_factory=list)
    head: RayHead | None = None
    scratch_dirs: list[Path] = field(default_factory=list)  # removed on stop

    @classmethod
    def private(
        cls,
        data_dir: Path,
        user_config: dict[str, Any] | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> LocalStack:
        """A stack on free ports and fresh temp dirs, with its own embedded stores."""
        ray_temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        haproxy_dir = Path(tempfile.mkdtemp(prefix="hap", dir="/tmp"))
        return cls(
            data_dir=data_dir,
            ray_temp_dir=ray_temp_dir,
            haproxy_dir=haproxy_dir,
            scratch_dirs=[ray_temp_dir, haproxy_dir],
            ports=private_ports(),
            mongo_port=free_port(),
            redis_port=free_port(),
            media_port=free_port(),
            user_config=user_config,
            extra_env=extra_env or {},
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

    def start(self, say: Say = print) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = self.env()
        if not os.environ.get("MONGODB_URL"):
            say(f"starting MongoDB (SecantusDB) on 127.0.0.1:{self.mongo_port}")
            self.procs.append(start_mongo(self.data_dir / "mongo", self.mongo_port, self.log_dir))
        if not os.environ.get("REDIS_URL"):
            say(f"starting Redis on 127.0.0.1:{self.redis_port}")
            self.procs.append(start_redis(self.data_dir / "redis", self.redis_port, self.log_dir))
        say(f"packaging {self.media_clips} encrypted demo clips (first start only)")
        pool = build_pool(self.data_dir / "media", self.media_clips, say=lambda _: None)
        say("bootstrapping indexes, signing keys, admin and demo accounts")
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            asyncio.run(bootstrap(Settings.from_env(), self.catalog_titles, say, pool))
        finally:
            os.environ.clear()
            os.environ.update(saved)
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
        )
        self.procs.append(origin)
        wait_for_port("127.0.0.1", self.media_port, 30, origin.proc)
        say(f"starting Ray head (temp dir {self.ray_temp_dir}) with the HAProxy ingress")
        self.head = RayHead(
            temp_dir=self.ray_temp_dir,
            ports=self.ports,
            env={**env, **serve_env(self.ports, self.haproxy_dir or self.ray_temp_dir / "hap")},
            num_cpus=self.num_cpus,
            log_dir=self.log_dir,
        )
        self.head.start()
        say("deploying ray_config.yaml")
        config = write_config(
            PROJECT_ROOT / "ray_config.yaml",
            self.data_dir / "ray_config.deployed.yaml",
            http_port=self.ports.http,
            user_config=self.user_config,
        )
        self.head.deploy(config)
        self.wait_ready()

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=5) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.base_url}/readyz did not answer 200 within {timeout_s:.0f}s")

    def stop(self, say: Say = print) -> None:
        """Reverse order: Serve first (replicas and actors flush), then Ray, then the stores."""
        try:
            if self.head is not None:
                say("stopping Serve (graceful) and Ray")
                try:
                    self.head.shutdown_serve()
                finally:
                    self.head.stop()
                    self.head = None
        finally:  # whatever failed above, every process this stack started is stopped
            for proc in reversed(self.procs):
                say(f"stopping {proc.name}")
                proc.stop()
            self.procs.clear()

    def remove_scratch(self) -> None:
        """Private stacks only: drop Ray's temp dir (logs included) once no longer needed."""
        for path in self.scratch_dirs:
            shutil.rmtree(path, ignore_errors=True)
