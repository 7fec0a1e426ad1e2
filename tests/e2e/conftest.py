"""One real stack per test session: SecantusDB, Redis, a Ray head with Serve's HAProxy ingress.

Every port and directory is private to the session, so the suite runs beside ``make run``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from stack.local import LocalStack
from stack.processes import free_port
from stack.ray_cluster import RayPorts


def _private_ports() -> RayPorts:
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
        min_worker=22000,
        max_worker=22999,
        fallback_proxy_http=free_port(),
        fallback_proxy_grpc=free_port(),
        direct_ingress_http=(33000, 33200),
        direct_ingress_grpc=(43000, 43200),
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    for name in ("MONGODB_URL", "REDIS_URL"):
        os.environ.pop(name, None)  # the e2e suite always runs its own embedded stores
    ray_tmp = Path(tempfile.mkdtemp(prefix="e2e-ray-", dir="/tmp"))
    stack = LocalStack(
        data_dir=tmp_path_factory.mktemp("stack"),
        ray_temp_dir=ray_tmp,
        haproxy_dir=Path(tempfile.mkdtemp(prefix="hap", dir="/tmp")),
        ports=_private_ports(),
        mongo_port=free_port(),
        redis_port=free_port(),
    )
    try:
        stack.start(say=lambda line: print(f"[stack] {line}", flush=True))
    except BaseException:
        stack.stop(say=lambda line: None)
        raise
    yield stack
    stack.stop(say=lambda line: None)


@pytest.fixture
async def client(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client
