"""The API ingress: a thin Serve deployment that adapts Starlette requests to :class:`api.app.App`.

Its dependencies (database clients, key ring, shard handles) are built in ``__init__``; its
runtime settings arrive through ``reconfigure(user_config)``; Serve's health check calls the
same liveness logic as ``/healthz``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
from pymongo.errors import PyMongoError
from ray import serve
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse

from actors import ingest as ingest_actor
from actors.client import GroupCommit
from actors.director import director
from actors.metrics import ingress_metrics
from actors.pool import ShardPool
from actors.routing import RING_KEY
from api.app import App
from api.deps import Deps
from api.downloads import service as download_service
from api.downloads import views as download_views
from api.errors import ApiError
from api.http import Request
from api.ingest.linking import link_ready_asset
from core.config import RuntimeConfig, Settings
from deployments import serve_backpressure
from deployments.logs import route_app_logs


@serve.deployment
class Ingress:
    def __init__(self, shard_count: int) -> None:
        serve_backpressure.install()  # before the first request: uploads must not pile up
        settings = Settings.from_env()
        self.deps = Deps.build(settings)
        self.shard_count = shard_count
        self.shards = ShardPool(read_ring=lambda: self.deps.redis.get(RING_KEY))
        self.commit = GroupCommit(self.shards.send, self.shards)
        self.deps.shards = self.commit  # the API sees only core.shards.Shards.call
        self.ingest = ingest_actor.coordinator(link_ready_asset)
        self.deps.wake_ingest = self._wake_ingest
        self.metrics = ingress_metrics()
        self.app = App(
            self.deps,
            extra_checks={"actors": self.shards.ping_all},
            observe=self._count,
            on_shed=self._shed,
        )

    async def _wake_ingest(self) -> None:
        await self.ingest.wake.remote()

    def _count(self, route: str, method: str, status: int, code: str) -> None:
        tags = {"route": route, "method": method, "status": str(status), "code": code}
        self.metrics.requests.inc(1, tags)
        if (download := download_views.metric_event(route, method, status, code)) is not None:
            self.metrics.downloads.inc(1, {"event": download[0], "outcome": download[1]})

    def _shed(self, priority: str) -> None:
        self.metrics.shed.inc(1, {"priority": priority})

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        runtime = msgspec.convert(user_config, RuntimeConfig)
        self.app.reconfigure(runtime)
        route_app_logs(runtime.log_level)
        if self.shards.ring is None:
            # The ring with this deployment's shard count: a `serve deploy` that changed
            # args.shard_count resizes the pool here, online, before this replica serves.
            self.shards.use(await director().ensure.remote(self.shard_count))
        # Serve calls this at start, on the replica's event loop: warm the catalog snapshot now
        # rather than on the first request.
        self.deps.catalog.start()

    async def check_health(self) -> None:
        # Liveness only: the event loop answers (we are running) and the catalog follower is
        # alive. Restarting replicas because MongoDB is down would not bring MongoDB back;
        # /readyz reports dependencies to the load balancer instead.
        shedder = self.app.shedder
        self.metrics.in_flight.set(shedder.in_flight)
        self.metrics.loop_lag.set(shedder.lag.lag_ms)
        # Health checks run every few seconds: a cheap sampling point.
        for shard, length in enumerate(self.commit.queue_lengths()):
            self.metrics.queue.set(length, {"shard": str(shard)})
        self.metrics.batches.set(self.commit.batches)
        # Nudge the ingest coordinator: after a crash Ray restarts it idle, and this wakes it
        # to resume unfinished jobs within one health period. Not awaited: liveness is ours.
        self.ingest.wake.remote()
        with contextlib.suppress(PyMongoError):  # a gauge, not liveness: /readyz reports MongoDB
            self.metrics.downloads_active.set(await download_service.active_count(self.deps))
        catalog = self.deps.catalog
        self.metrics.catalog_skipped.set(catalog.skipped_entries, {"what": "change_entry"})
        self.metrics.catalog_skipped.set(catalog.skipped_titles, {"what": "title_document"})
        if not catalog.alive():
            raise RuntimeError("the catalog follower stopped advancing; restart this replica")

    async def __call__(self, request: StarletteRequest) -> StarletteResponse:
        # The decoded path as the server received it: ``request.url`` goes through urlsplit,
        # which drops tabs and line breaks, so ``/v1/users/profiles/%0A`` would route to the
        # profile list instead of answering for a profile id "\n".
        path: str = request.scope["path"]
        matched = self.app.match(request.method, path)
        streams = not isinstance(matched, ApiError) and matched[0].streams_body
        response = await self.app.handle(
            Request(
                method=request.method,
                path=path,
                query=request.query_params,
                headers=request.headers,
                body=b"" if streams else await request.body(),
                stream=request.stream() if streams else None,
                client=request.client.host if request.client else "",
            ),
            matched,
        )
        # Serve echoes the request's X-Request-Id (the id App.handle used) on every response.
        response.headers.pop("X-Request-Id", None)
        return StarletteResponse(
            content=response.body if response.status != 204 else None,
            status_code=response.status,
            headers=response.headers,
            media_type=response.content_type if response.status != 204 else None,
        )
