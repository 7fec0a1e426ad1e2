"""Backpressure for request bodies under Serve's direct ingress (Ray 2.60).

With the HAProxy ingress each replica runs its own uvicorn, and for every request Serve starts a
task that reads uvicorn's ``receive`` into an **unbounded** ``asyncio.Queue``
(``ray.serve._private.direct_ingress_http_util.ASGIDIReceiveProxy``) so it can notice a client
that goes away. uvicorn stops reading the socket while its own buffer is full, but that task
empties it as fast as the network fills it, so a body that arrives faster than the handler
consumes it piles up in the replica: a 300 MiB upload over loopback grew a replica by 250 MiB
(tests/e2e/test_ingest.py), where our upload route holds at most the store's part window.

The fix is the queue's size. When user code runs on the replica's own event loop (our
``RAY_SERVE_THROUGHPUT_OPTIMIZED=1`` setting), Serve's reader already ``await``s
``queue.put``, so a bounded queue turns the socket's backpressure back on. When user code runs
on a separate thread, Serve's reader uses ``put_nowait`` across threads, which a bounded queue
would break: the patch then stays off and says so. Small bodies (every route but uploads) fit
in one message and never wait.
"""

from __future__ import annotations

import asyncio
import logging

from ray.serve._private import constants
from ray.serve._private.direct_ingress_http_util import ASGIDIReceiveProxy

logger = logging.getLogger(__name__)

# ASGI body messages buffered per request (uvicorn hands over at most one socket read, 64 KiB
# here, per message): a few MiB at most, and enough that the handler never waits on the reader.
MAX_QUEUED_MESSAGES = 32


def _bounded_queue(self: ASGIDIReceiveProxy) -> asyncio.Queue[object]:
    if self._queue is None:
        self._queue = asyncio.Queue(maxsize=MAX_QUEUED_MESSAGES)
    return self._queue


def install() -> bool:
    """Bound Serve's per-request receive queue in this process; False when it cannot be."""
    if constants.RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD:
        logger.warning(
            "request bodies are not backpressured: user code runs on a separate thread, where "
            "Serve's receive queue must stay unbounded (set RAY_SERVE_THROUGHPUT_OPTIMIZED=1)"
        )
        return False
    ASGIDIReceiveProxy.queue = property(_bounded_queue)  # type: ignore[method-assign,assignment]
    return True
