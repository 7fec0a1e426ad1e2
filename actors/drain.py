"""``python -m actors.drain --address HOST:PORT``: flush every shard's buffer to MongoDB now.

(``--stats`` instead prints the shards' counters; ``--write-through on|off`` switches the
benchmarks' unbuffered baseline.)

Run on a graceful stop, before Ray goes down. Anything a shard acknowledged after this is still
in its Redis journal and is replayed on the next start, so draining is about promptness, not
about safety.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from typing import Any

import ray
from ray.actor import ActorHandle

from actors.pool import NAMESPACE

SHARD_NAME = re.compile(r"shard-\d+")  # shard actors (not the shard-director)


def shard_handles(address: str) -> list[ActorHandle[Any]]:
    """Join the cluster at ``address`` as a driver and find every shard actor."""
    ray.init(address=address, namespace=NAMESPACE, logging_level=logging.ERROR, log_to_driver=False)
    names = sorted(
        (
            actor["name"]
            for actor in ray.util.list_named_actors(all_namespaces=True)
            if actor["namespace"] == NAMESPACE and SHARD_NAME.fullmatch(actor["name"])
        ),
        key=lambda name: int(name.rpartition("-")[2]),
    )
    return [ray.get_actor(name, namespace=NAMESPACE) for name in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True, help="the Ray GCS address, e.g. 127.0.0.1:6379")
    parser.add_argument(
        "--stats", action="store_true", help="print every shard's counters as JSON, change nothing"
    )
    parser.add_argument(
        "--write-through",
        choices=("on", "off"),
        help="benchmarks only: instead of draining, switch the unbuffered baseline on or off",
    )
    args = parser.parse_args()
    shards = shard_handles(args.address)
    if args.stats:
        print(json.dumps(ray.get([shard.ping.remote() for shard in shards])), flush=True)
        return 0
    if args.write_through:
        ray.get([shard.set_write_through.remote(args.write_through == "on") for shard in shards])
        print(f"write-through {args.write_through} on {len(shards)} shards", flush=True)
        return 0
    flushed: list[dict[str, int]] = ray.get([shard.drain.remote() for shard in shards])
    positions = sum(counts["positions"] for counts in flushed)
    events = sum(counts["events"] for counts in flushed)
    print(
        f"drained {len(shards)} shards: {positions} progress positions and "
        f"{events} QoE/analytics events flushed to MongoDB",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
