"""Typed application builder named by ``ray_config.yaml`` (``import_path: deployments.app:build``)."""

from __future__ import annotations

import msgspec
from ray.serve import Application

from deployments.ingress import Ingress


class AppArgs(msgspec.Struct, forbid_unknown_fields=True):
    # Changing the shard count re-homes accounts: do it with no streams in flight.
    shard_count: int = 2


def build(args: dict[str, object]) -> Application:
    parsed = msgspec.convert(args, AppArgs)
    app: Application = Ingress.bind(parsed.shard_count)  # type: ignore[attr-defined]
    return app
