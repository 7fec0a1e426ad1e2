"""``python -m actors.drain --address HOST:PORT``: flush every shard's buffer to MongoDB now.

Run on a graceful stop, before Ray goes down. Anything a shard acknowledged after this is still
in its Redis journal and is replayed on the next start, so draining is about promptness, not
about safety.
"""

from __future__ import annotations

import argparse
import logging
import sys

import ray

from actors.pool import NAMESPACE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True, help="the Ray GCS address, e.g. 127.0.0.1:6379")
    args = parser.parse_args()
    ray.init(
        address=args.address, namespace=NAMESPACE, logging_level=logging.ERROR, log_to_driver=False
    )
    names = sorted(
        actor["name"]
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["namespace"] == NAMESPACE and actor["name"].startswith("shard-")
    )
    flushed: list[int] = ray.get(
        [ray.get_actor(name, namespace=NAMESPACE).drain.remote() for name in names]
    )
    print(f"drained {len(names)} shards, {sum(flushed)} progress entries flushed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
