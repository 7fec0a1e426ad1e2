"""The compute half of media ingest: probe, chunked parallel encode on Ray, packaging,
thumbnails and atomic publishing. See media/ingest/pipeline.py for the stages."""

from media.ingest.pipeline import (
    current_prefix,
    current_prefix_async,
    distribute,
    encode,
    probe,
    thumbnails,
)
from media.ingest.publish import delete_asset
from media.ingest.spec import (
    DEFAULT_LADDER,
    JobSpec,
    Rung,
    SourceInfo,
    StageError,
    ladder_for,
)

__all__ = [
    "DEFAULT_LADDER",
    "JobSpec",
    "Rung",
    "SourceInfo",
    "StageError",
    "current_prefix",
    "current_prefix_async",
    "delete_asset",
    "distribute",
    "encode",
    "ladder_for",
    "probe",
    "thumbnails",
]
