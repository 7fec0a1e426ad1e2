"""Ray task wrappers around media/ingest/work.py: resources and retry policy, nothing else.

Retries: Ray retries system failures (a worker or node lost) on its own; ``retry_exceptions``
adds store I/O hiccups (TransientError). Tool failures and timeouts are not retried here — a
deterministic failure would fail again, and a timeout retried would multiply the wait; the
coordinator decides whether to re-run the stage.
"""

from __future__ import annotations

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

probe_source = ray.remote(num_cpus=LIGHT_CPUS, **_RETRY)(work.probe_source)
split_source = ray.remote(num_cpus=LIGHT_CPUS, **_RETRY)(work.split_source)
encode_chunk = ray.remote(num_cpus=ENCODE_CPUS, **_RETRY)(work.encode_chunk)
encode_audio_track = ray.remote(num_cpus=ENCODE_CPUS, **_RETRY)(work.encode_audio_track)
package_renditions = ray.remote(num_cpus=ENCODE_CPUS, **_RETRY)(work.package_renditions)
make_thumbnails = ray.remote(num_cpus=ENCODE_CPUS, **_RETRY)(work.make_thumbnails)
clear_work = ray.remote(num_cpus=LIGHT_CPUS, **_RETRY)(work.clear_work)
