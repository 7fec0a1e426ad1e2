"""Ray task wrappers around media/ingest/work.py: resources and retry policy, nothing else.

Retries: Ray retries system failures (a worker or node lost) on its own; ``retry_exceptions``
adds store I/O hiccups (TransientError). Tool failures and timeouts are not retried here — a
deterministic failure would fail again, and a timeout retried would multiply the wait; the
coordinator decides whether to re-run the stage.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import ray

from media.ingest import work

# Each x264 run is single-threaded, so one task per core keeps every core busy without
# oversubscribing the machine.
ENCODE_CPUS = 1
# Probing and stream-copy splitting wait on I/O far more than they compute.
LIGHT_CPUS = 0.25
# Attempts after the first, for system failures and TransientError.
MAX_RETRIES = 2
_RETRY: dict[str, Any] = {"max_retries": MAX_RETRIES, "retry_exceptions": [work.TransientError]}

# A custom Ray resource only the encoding nodes declare (KubeRay's `encoding` group starts
# with `resources: {"encode": 16}`; deploy/kuberay/rayservice.yaml): with it set, ingest work
# never takes CPUs the API's replicas on the other nodes need, and waiting tasks are what
# makes the Ray autoscaler add encoding pods. Unset (``make run``), any node with a free CPU.
# Read where the tasks are defined: every Ray process of a cluster gets the same environment.
ENCODE_RESOURCE = os.environ.get("ENCODE_NODE_RESOURCE", "").strip()


def _task(fn: Callable[..., Any], cpus: float) -> Any:
    options: dict[str, Any] = {
        "num_cpus": cpus,
        # Spread over the nodes rather than filling the submitting node first (Ray's default
        # packs tasks locally until its CPUs run out): a chunk fan-out wants every node.
        "scheduling_strategy": "SPREAD",
        **_RETRY,
    }
    if ENCODE_RESOURCE:
        options["resources"] = {ENCODE_RESOURCE: cpus}
    return ray.remote(**options)(fn)


probe_source = _task(work.probe_source, LIGHT_CPUS)
split_source = _task(work.split_source, LIGHT_CPUS)
encode_chunk = _task(work.encode_chunk, ENCODE_CPUS)
encode_audio_track = _task(work.encode_audio_track, ENCODE_CPUS)
package_renditions = _task(work.package_renditions, ENCODE_CPUS)
make_thumbnails = _task(work.make_thumbnails, ENCODE_CPUS)
clear_work = _task(work.clear_work, LIGHT_CPUS)
