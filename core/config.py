"""Typed settings read once from the environment, with defaults that make ``make run`` work.

Static settings (where the databases are, key material, token lifetimes) come from the
environment. Runtime settings (rate-limit budgets, log level) can also be changed live through
the Serve deployment's ``user_config``; see :class:`RuntimeConfig`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import msgspec


class SheddingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Bars per replica (Serve ``user_config.shedding``; change them live)."""

    enabled: bool = True
    low_in_flight: int = 128  # requests in the pipeline past which low ones are refused
    high_in_flight: int = 224  # ... and high ones (max_ongoing_requests is 256)
    low_lag_ms: float = 50.0  # event-loop lag past which low ones are refused
    high_lag_ms: float = 250.0  # ... and high ones
    # Lag counts only with at least this many requests in the pipeline: a late loop with a few
    # requests in flight was busy with something else (a catalog rebuild's thread, a GC pause),
    # and refusing those few would not help it.
    lag_min_in_flight: int = 32


class ConfigError(RuntimeError):
    """A setting is present but unusable: fail loudly at start-up, not on the first request."""


class RateBudget(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``limit`` requests per ``window_s`` seconds, per account (or per email for auth)."""

    limit: int
    window_s: int


def default_budgets() -> dict[str, RateBudget]:
    # Seed A's budgets: auth 10/min, content 1000/h, streaming 100/min, analytics 500/h.
    return {
        "auth": RateBudget(10, 60),
        "content": RateBudget(1000, 3600),
        "streaming": RateBudget(100, 60),
        "analytics": RateBudget(500, 3600),
    }


class RuntimeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Settings an SRE may change without a redeploy (Serve ``user_config``)."""

    rate_limits: dict[str, RateBudget] = msgspec.field(default_factory=default_budgets)
    rate_limits_enabled: bool = True
    log_level: str = "INFO"
    token_cache_size: int = 100_000
    shedding: SheddingConfig = msgspec.field(default_factory=SheddingConfig)


_N = TypeVar("_N", int, float)


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_number(name: str, default: _N, kind: type[_N], what: str) -> _N:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from exc


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "an integer")


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


def _parse_budgets(raw: str) -> dict[str, RateBudget]:
    """``auth=10/60,content=1000/3600`` overrides the named classes, keeps the others."""
    budgets = default_budgets()
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            name, spec = item.split("=", 1)
            limit, window = spec.split("/", 1)
            budgets[name.strip()] = RateBudget(int(limit), int(window))
        except ValueError as exc:
            raise ConfigError(f"RATE_LIMITS entry {item!r} is not NAME=LIMIT/SECONDS") from exc
    return budgets


class IngestSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The media supply chain: where media lives and how much encoding runs at once."""

    store_url: str  # obstore URL: a local folder by default, s3://… or gs://… in production
    max_upload_bytes: int  # larger uploads answer 413 and leave nothing behind
    max_jobs: int  # jobs encoding at once; the rest wait as ``queued``
    stall_s: int  # the watchdog re-runs a stage that reported no progress for this long
    task_timeout_s: int  # one ffmpeg/packager run; a hung tool fails instead of stalling
    max_attempts: int  # runs of one stage before the job is ``failed``
    upload_ttl_s: int  # unfinished resumable uploads older than this are deleted
    chunk_s: int  # seconds of source per encode task (cut at the next keyframe)

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_jobs", "stall_s", "task_timeout_s"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ingest setting {name} must be >= 1")


class ShardSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The shard actors' progress buffer (README § "Progress persistence")."""

    flush_s: float  # buffered positions and events reach the Redis journal this often
    persist_s: float  # a position reaches MongoDB at most this often per profile and asset
    # Benchmark baseline only (`make bench`): every accepted update is written to MongoDB
    # before its answer, one document per heartbeat, as a service without the buffer would.
    write_through: bool

    def __post_init__(self) -> None:
        if self.flush_s <= 0 or self.persist_s <= 0:
            raise ConfigError("PROGRESS_FLUSH_S and PROGRESS_PERSIST_S must be > 0")


class DownloadSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Offline downloads: how long a license lives and what each plan may hold."""

    license_ttl_s: int  # a license (and the offline manifest's signature) from grant or renewal
    devices: dict[str, int]  # per plan: devices of an account holding active downloads
    per_device: int  # active downloads on one device
    renewals: int  # renewals of one download

    def __post_init__(self) -> None:
        if self.license_ttl_s < 1 or self.per_device < 1 or self.renewals < 0:
            raise ConfigError("download settings: TTL and per-device limit >= 1, renewals >= 0")
        if any(limit < 1 for limit in self.devices.values()):
            raise ConfigError("DOWNLOAD_DEVICES_* must be >= 1")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a replica or a tool needs to reach the stack. Build with :meth:`from_env`."""

    mongodb_url: str
    mongodb_db: str
    redis_url: str
    data_dir: Path
    jwt_keys_dir: Path
    jwt_issuer: str
    access_ttl_s: int
    refresh_ttl_s: int
    admin_email: str
    admin_password: str
    demo_email: str
    demo_password: str
    public_base_url: str
    media_base_url: str
    media_key_file: Path
    lease_ttl_s: int
    dependency_timeout_ms: int
    # The header a trusted edge (CDN, load balancer) sets to the viewer's country, overwriting
    # whatever the client sent. Empty (the default): no edge is trusted and the account's
    # country decides. Never enable it unless every request reaches us through that edge.
    trusted_country_header: str
    ingest: IngestSettings
    downloads: DownloadSettings
    shards: ShardSettings
    runtime: RuntimeConfig

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_env("STREAMING_DATA_DIR", "var")).resolve()
        budgets_raw = os.environ.get("RATE_LIMITS", "")
        runtime = RuntimeConfig(
            rate_limits=_parse_budgets(budgets_raw),
            rate_limits_enabled=_env("RATE_LIMITS_ENABLED", "1") not in ("0", "false", "no"),
            log_level=_env("LOG_LEVEL", "INFO"),
        )
        return cls(
            mongodb_url=_env("MONGODB_URL", "mongodb://127.0.0.1:27018/"),
            mongodb_db=_env("MONGODB_DB", "streaming"),
            redis_url=_env("REDIS_URL", "redis://127.0.0.1:6380/0"),
            data_dir=data_dir,
            jwt_keys_dir=Path(_env("JWT_KEYS_DIR", str(data_dir / "keys"))),
            jwt_issuer=_env("JWT_ISSUER", "streaming-api"),
            access_ttl_s=_env_int("ACCESS_TOKEN_TTL_S", 3600),
            refresh_ttl_s=_env_int("REFRESH_TOKEN_TTL_S", 30 * 24 * 3600),
            admin_email=_env("ADMIN_EMAIL", "admin@example.com"),
            admin_password=_env("ADMIN_PASSWORD", "admin-change-me"),
            demo_email=_env("DEMO_EMAIL", "demo@example.com"),
            demo_password=_env("DEMO_PASSWORD", "demo-password"),
            public_base_url=_env("PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
            media_base_url=_env("MEDIA_BASE_URL", "http://127.0.0.1:8001"),
            media_key_file=Path(
                _env("MEDIA_SIGNING_KEY_FILE", str(data_dir / "keys" / "media.key"))
            ),
            lease_ttl_s=_env_int("LEASE_TTL_S", 60),
            dependency_timeout_ms=_env_int("DEPENDENCY_TIMEOUT_MS", 2000),
            trusted_country_header=_env("TRUSTED_COUNTRY_HEADER", "").strip().lower(),
            ingest=IngestSettings(
                store_url=_env("MEDIA_STORE_URL", f"file://{data_dir / 'store'}"),
                max_upload_bytes=_env_int("INGEST_MAX_UPLOAD_BYTES", 4 << 30),
                max_jobs=_env_int("INGEST_MAX_JOBS", 1),
                stall_s=_env_int("INGEST_STALL_S", 300),
                task_timeout_s=_env_int("INGEST_TASK_TIMEOUT_S", 900),
                max_attempts=_env_int("INGEST_MAX_ATTEMPTS", 3),
                upload_ttl_s=_env_int("INGEST_UPLOAD_TTL_S", 24 * 3600),
                chunk_s=_env_int("INGEST_CHUNK_S", 4),
            ),
            downloads=DownloadSettings(
                license_ttl_s=_env_int("DOWNLOAD_LICENSE_TTL_S", 24 * 3600),
                devices={
                    "basic": _env_int("DOWNLOAD_DEVICES_BASIC", 1),
                    "standard": _env_int("DOWNLOAD_DEVICES_STANDARD", 2),
                    "premium": _env_int("DOWNLOAD_DEVICES_PREMIUM", 6),
                },
                per_device=_env_int("DOWNLOADS_PER_DEVICE", 100),
                renewals=_env_int("DOWNLOAD_RENEWALS", 3),
            ),
            shards=ShardSettings(
                flush_s=_env_float("PROGRESS_FLUSH_S", 3.0),
                persist_s=_env_float("PROGRESS_PERSIST_S", 120.0),
                write_through=_env("PROGRESS_WRITE_THROUGH", "0") == "1",
            ),
            runtime=runtime,
        )
