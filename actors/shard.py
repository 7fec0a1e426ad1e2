"""The shard actor: one of a fixed pool, each owning the live state of the accounts hashed to it.

Playback state (stream leases, sessions, the progress buffer) arrives with the playback work;
today a shard answers the readiness probe so ``/readyz`` covers the actor tier.
"""

from __future__ import annotations

import os
import time

import ray


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class ShardActor:
    def __init__(self, index: int, count: int) -> None:
        self.index = index
        self.count = count
        self.started_at = time.time()

    async def ping(self) -> dict[str, float | int]:
        return {"index": self.index, "pid": os.getpid(), "uptime_s": time.time() - self.started_at}
