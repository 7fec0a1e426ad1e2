"""Fixtures for the ingest tests: a local Ray, a store in a temp folder, a short test clip."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from media.ingest.tools import ffmpeg_argv, run
from media.store import MediaStore

CLIP_SECONDS = 10
CLIP_SIZE = "640x360"
CLIP_FPS = 24
# Source keyframes every 2 s so the splitter has keyframes to cut ~4 s chunks at.
CLIP_GOP = 2 * CLIP_FPS


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """A local Ray for one test module, gone afterwards (other suites may start their own)."""
    # A short temp dir: Ray's socket paths must fit in the 107-byte AF_UNIX limit.
    temp_dir = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    # A new local cluster turns on Ray's token auth by default and writes ~/.ray/auth_token;
    # every later `ray start` on this machine (the e2e stacks, make run) would then demand the
    # token from clients that have none. This throwaway loopback cluster needs no auth.
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=temp_dir)
    yield
    ray.shutdown()
    monkeypatch.undo()
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10 s 640x360 H.264 + AAC MP4: colour test pattern and a tone."""
    path = tmp_path_factory.mktemp("clip") / "source.mp4"
    run(
        ffmpeg_argv(
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={CLIP_SIZE}:rate={CLIP_FPS}:duration={CLIP_SECONDS}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=48000:duration={CLIP_SECONDS}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            str(CLIP_GOP),
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ),
        timeout_s=60,
    )
    return path


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> MediaStore:
    return MediaStore.from_url(str(tmp_path_factory.mktemp("media-store")))
