"""More than one node (``make chaos`` runs the long version, ``python -m loadtest.multinode``).

A private two-node stack: the second Ray node in its own network namespace with its own
address. Ingress replicas, shards and encode tasks run on both nodes, replicas talk to shards
across them, and when every process of the second node is SIGKILLed under heartbeats the
service recovers on the first with nothing acknowledged lost and the stream limit held.
Needs root (``ip netns``); skipped otherwise.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.chaos import STACK_ENV
from loadtest.multinode import Report, demonstrate
from stack.local import LocalStack
from stack.multinode import SecondNode

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
    ),
]


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, SecondNode]]:
    for name in ("MONGODB_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    data: Path = tmp_path_factory.mktemp("two-nodes")
    stack = LocalStack.private(data, extra_env=STACK_ENV)
    node = SecondNode(stack, say=lambda line: print(f"[two nodes] {line}", flush=True))
    try:
        node.attach()
        stack.start(say=lambda line: print(f"[two nodes] {line}", flush=True))
        yield stack, node
    finally:
        try:
            node.leave()
            stack.stop(say=lambda line: None)
        finally:
            node.close()
            stack.remove_scratch()


async def test_two_nodes_place_work_on_both_and_survive_losing_one(
    two_nodes: tuple[LocalStack, SecondNode],
) -> None:
    stack, node = two_nodes
    report: Report = await demonstrate(stack, node, viewers=12, say=print)
    print(report)
    # Placement on both nodes, before the kill.
    assert report.before["ingress replicas"] == {"node1": 1, "node2": 1}, report.before
    assert report.before["shards"] == {"node1": 1, "node2": 1}, report.before
    assert report.encode_status == "completed", report
    assert set(report.encode_tasks) == {"node1", "node2"}, report.encode_tasks
    # Shard sockets cross: a replica on each node holds a connection to the other's shard.
    assert report.crossing["node1 -> node2 shard"] >= 1, report.crossing
    assert report.crossing["node2 -> node1 shard"] >= 1, report.crossing
    # The second node's death: nothing acknowledged lost, the limit held, all back on node1.
    fault = report.fault
    assert fault is not None
    assert fault.lost_writes == 0 and fault.positions_checked == 12, fault
    assert fault.limit_violations == 0, fault
    assert fault.recovery_s is not None, fault
    assert fault.bare_503 == fault.other_5xx == fault.hangs == 0, fault.examples
    # Requests in flight on the dying node's replica at the kill lose their answer with it
    # (docs/multinode.md): at most one per viewer and probe device, and only those sent within
    # IN_FLIGHT_S of the kill; everything sent later is 2xx or 503 with Retry-After.
    assert report.late_errors == 0, (report.errors_at, fault.examples)
    assert report.in_flight_lost <= 12 + 4, (report.errors_at, fault.examples)
    assert report.clean, report
    assert report.node_dead_after_s is not None
    assert report.after["ingress replicas"] == {"node1": 2}, report.after
    assert report.after["shards"] == {"node1": 2}, report.after
    await asyncio.to_thread(stack.wait_ready, lambda line: None)
