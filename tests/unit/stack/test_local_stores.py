"""A store of the local stack restarts on its own port and data dir, and keeps what it had."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import redis

from stack.local import LocalStack
from stack.processes import free_port
from stack.ray_cluster import RayPorts, serve_env


def test_redis_killed_and_restarted_replays_its_append_only_file(tmp_path: Path) -> None:
    stack = LocalStack(data_dir=tmp_path, ray_temp_dir=tmp_path / "ray", redis_port=free_port())
    first = stack.start_store("redis")
    try:
        url = f"redis://127.0.0.1:{stack.redis_port}/0"
        with redis.Redis.from_url(url) as client:
            client.hset("journal:{shard-0}:progress", "p:a", b"acked")
        time.sleep(1.5)  # appendfsync everysec: what a second ago was acknowledged is on disk
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        second = stack.start_store("redis")
        assert stack.procs == [second] and stack.store("redis") is second
        with redis.Redis.from_url(url) as client:
            assert client.hget("journal:{shard-0}:progress", "p:a") == b"acked"
    finally:
        for proc in stack.procs:
            proc.stop()


def test_start_store_refuses_to_start_a_second_copy(tmp_path: Path) -> None:
    stack = LocalStack(data_dir=tmp_path, ray_temp_dir=tmp_path / "ray", redis_port=free_port())
    stack.start_store("redis")
    try:
        try:
            stack.start_store("redis")
        except RuntimeError as exc:
            assert "redis" in str(exc)
        else:
            raise AssertionError("a second Redis on the same port started")
        assert len(stack.procs) == 1 and stack.procs[0].died() is None
    finally:
        for proc in stack.procs:
            proc.stop()


def test_haproxy_replays_requests_a_killed_replica_never_answered(tmp_path: Path) -> None:
    env = serve_env(RayPorts(), tmp_path / "hap")
    assert env["RAY_SERVE_HAPROXY_RETRY_ON"] == "conn-failure empty-response"
    assert int(env["RAY_SERVE_HAPROXY_TIMEOUT_SERVER_S"]) > 0  # no unbounded wait on a replica
    assert int(env["RAY_SERVE_HAPROXY_TIMEOUT_CONNECT_S"]) == 1
