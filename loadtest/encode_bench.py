"""Encode throughput of the chunk-parallel ingest pipeline against one plain ffmpeg run.

Three configurations, interleaved over a few passes, on one generated source (a lavfi test
pattern with a tone, 1080p25 by default, keyframes every 2 s like a typical upload):

- the pipeline's encode stage (``media.ingest.pipeline.encode``: split → chunk x rung tasks and
  the audio task → join + package) on a local Ray with ``num_cpus=2``;
- the same with ``num_cpus=1`` and the whole process tree pinned to one core (how well it
  scales with cores);
- the baseline: ONE ffmpeg invocation that decodes the source once and encodes every rung of
  the same ladder with the same x264 settings (but x264's own threading, as a user would run
  it) plus the AAC audio, then the same Shaka Packager step (media/ingest/packaging.py).

Wall seconds (encode stage only: Ray is started and warmed beforehand), CPU seconds of the
process tree, seconds of video per wall second, medians over passes and their ratios go to
docs/encode-benchmark.{md,json}; the per-task timeline of one pass of each configuration goes
to docs/encode-timeline.png.

    python -m loadtest.encode_bench                      # 60 s 1080p, 3 passes (~15 min on 2 cores)
    python -m loadtest.encode_bench --seconds 10 --height 360 --passes 1   # quick check
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import msgspec
import psutil

# A new local cluster would otherwise turn on token auth and write ~/.ray/auth_token, which
# breaks every later `ray start` on this machine. Set before Ray is even imported.
os.environ["RAY_AUTH_MODE"] = "disabled"

import ray

from media.ingest import encoding, packaging, pipeline, tasks, work
from media.ingest.probe import probe_file
from media.ingest.spec import DEFAULT_LADDER, JobSpec, Rung, SourceInfo, ladder_for
from media.ingest.tools import ffmpeg_argv
from media.ingest.tools import run as run_tool
from media.store import MediaStore

FPS = 25
SOURCE_KEYFRAME_S = 2
# Aims: the pipeline on 2 cores vs one ffmpeg on the same 2 cores, and 2 cores vs 1.
AIM_VS_FFMPEG = 0.9
AIM_SCALING = 1.8
# Per-tool deadline for the pipeline's tasks: generous, a benchmark must not time out.
TASK_TIMEOUT_S = 900.0
# Progress lines for long ffmpeg runs: at most one per this many seconds.
PRINT_EVERY_S = 5.0
CONFIGS: tuple[tuple[str, str], ...] = (
    ("ray2", "pipeline, Ray num_cpus=2"),
    ("ray1", "pipeline, Ray num_cpus=1"),
    ("ffmpeg", "plain ffmpeg (one run, all rungs)"),
)
ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(message, flush=True)


# ---- the source ----------------------------------------------------------------------------


def _run_with_progress(argv: list[str], media_s: float, label: str) -> None:
    """Run an ffmpeg (with ``-progress pipe:1`` in ``argv``), printing how far it got."""
    started = last = time.perf_counter()
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, text=True
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            if key != "out_time_us" or not value.isdigit():
                continue
            now = time.perf_counter()
            if now - last >= PRINT_EVERY_S:
                last = now
                done = int(value) / 1e6
                log(f"    {label}: {done:5.1f} / {media_s:g} s of video ({now - started:.0f} s)")
        proc.wait()
        if proc.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{label}: ffmpeg failed ({proc.returncode}): {tail}")


def make_source(path: Path, seconds: int, height: int) -> None:
    width = 2 * round(height * 16 / 9 / 2)
    argv = ffmpeg_argv(
        "-progress",
        "pipe:1",
        "-nostats",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={width}x{height}:rate={FPS}:duration={seconds}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(SOURCE_KEYFRAME_S * FPS),
        "-keyint_min",
        str(SOURCE_KEYFRAME_S * FPS),
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-shortest",
        str(path),
    )
    _run_with_progress(argv, seconds, "source")


def decode_cpu_s(path: Path) -> float:
    """CPU seconds one single-threaded decode of the source's video costs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_tool(
        ffmpeg_argv("-threads", "1", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"),
        timeout_s=600,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


# ---- measuring -----------------------------------------------------------------------------


def tree_cpu_s() -> float:
    """CPU seconds of this process and every descendant (Ray's GCS, raylet and workers are
    all under the driver), including their reaped children (every ffmpeg and packager)."""
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def machine_busy_s() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


@contextmanager
def measured(run: dict[str, Any]) -> Iterator[None]:
    """Fill ``run`` with wall_s, cpu_s (this process tree), other_cpu_s (everything else
    on the machine in the same window) and the load average around the block."""
    run["load_before"] = os.getloadavg()[0]
    cpu0, busy0, t0 = tree_cpu_s(), machine_busy_s(), time.perf_counter()
    yield
    wall, cpu, busy = time.perf_counter() - t0, tree_cpu_s() - cpu0, machine_busy_s() - busy0
    run.update(wall_s=wall, cpu_s=cpu, other_cpu_s=max(0.0, busy - cpu))
    run["load_after"] = os.getloadavg()[0]


def output_stats(folder: Path) -> dict[str, Any]:
    """Per packaged stream folder (v240, audio, ...): file count and bytes."""
    streams: dict[str, dict[str, int]] = {}
    for file in folder.rglob("*"):
        if file.is_file() and file.parent != folder:
            entry = streams.setdefault(file.parent.name, {"files": 0, "bytes": 0})
            entry["files"] += 1
            entry["bytes"] += file.stat().st_size
    return {
        "manifest": (folder / packaging.MPD_NAME).is_file(),
        "streams": dict(sorted(streams.items())),
    }


# ---- the pipeline on Ray -------------------------------------------------------------------


@ray.remote
def _timed(log_dir: str, stage: str, label: str, fn_name: str, *args: Any) -> Any:
    """Run ``work.<fn_name>`` and leave its start/end times in ``log_dir``."""
    start = time.time()
    try:
        return getattr(work, fn_name)(*args)
    finally:
        record = {"stage": stage, "label": label, "start": start, "end": time.time()}
        record["pid"] = os.getpid()
        Path(log_dir, f"{uuid.uuid4().hex}.json").write_text(json.dumps(record))


class _TimedTask:
    """Stands in for one of media.ingest.tasks' remote functions: same work function, same
    CPUs and retries, plus a record of when it ran (``.remote`` is all the pipeline calls)."""

    def __init__(
        self, fn_name: str, cpus: float, log_dir: str, describe: Callable[..., tuple[str, str]]
    ) -> None:
        self.fn_name, self.cpus, self.log_dir, self.describe = fn_name, cpus, log_dir, describe

    def remote(self, *args: Any) -> Any:
        stage, label = self.describe(*args)
        return _timed.options(
            num_cpus=self.cpus,
            max_retries=tasks.MAX_RETRIES,
            retry_exceptions=[work.TransientError],
            name=label,
        ).remote(self.log_dir, stage, label, self.fn_name, *args)


@contextmanager
def timed_tasks(log_dir: str) -> Iterator[None]:
    def chunk(store: Any, spec: Any, chunk: work.Chunk, rungs: list[Rung]) -> tuple[str, str]:
        names = "+".join(rung.name for rung in rungs)
        return f"encode {names}", f"{names} #{chunk.index}"

    stand_ins = {
        "split_source": (tasks.LIGHT_CPUS, lambda *_: ("split", "split")),
        "encode_chunk": (tasks.ENCODE_CPUS, chunk),
        "encode_audio_track": (tasks.ENCODE_CPUS, lambda *_: ("audio", "audio")),
        "package_renditions": (tasks.ENCODE_CPUS, lambda *_: ("join+package", "join+package")),
    }
    with contextlib.ExitStack() as stack:
        for name, (cpus, describe) in stand_ins.items():
            stack.enter_context(
                mock.patch.object(tasks, name, _TimedTask(name, cpus, log_dir, describe))
            )
        yield


@ray.remote(num_cpus=1)
def _warm() -> int:
    """Import the ingest code and find the binaries in a worker before the clock starts."""
    from media.ingest import tools

    tools.binary("ffmpeg")
    tools.binary("packager")
    time.sleep(0.5)  # hold the worker so the next warm-up task lands on another one
    return os.getpid()


def _spec(asset_id: str, source_key: str, rungs: list[Rung]) -> JobSpec:
    return JobSpec(
        asset_id=asset_id,
        source_keys=[source_key],
        out_prefix=f"assets/{asset_id}/v1/",
        key_id=secrets.token_hex(16),
        key=secrets.token_hex(16),
        rungs=rungs,
        task_timeout_s=TASK_TIMEOUT_S,
    )


class _Printer:
    """The pipeline's progress callback: split, every 10 % of the encode tasks, packaging."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.step = -1

    def __call__(self, value: float) -> None:
        elapsed = time.perf_counter() - self.started
        share = 1.0 - pipeline.SPLIT_SHARE - pipeline.PACKAGE_SHARE
        encoded = (value - pipeline.SPLIT_SHARE) / share
        if value >= 1.0:
            log(f"    done ({elapsed:.1f} s)")
        elif encoded >= 1.0 - 1e-9:
            if self.step < 10:
                self.step = 10
                log(f"    encode tasks done; joining + packaging ({elapsed:.1f} s)")
        elif value >= pipeline.SPLIT_SHARE and int(encoded * 10) > self.step:
            if self.step < 0:
                log(f"    split done; encoding chunks x rungs + audio ({elapsed:.1f} s)")
            self.step = int(encoded * 10)
            if self.step > 0:
                log(f"    encoded {self.step * 10:3d} % of the work ({elapsed:.1f} s)")


def run_pipeline(
    cpus: int, store: MediaStore, source_key: str, source: SourceInfo, name: str
) -> dict[str, Any]:
    temp_dir = tempfile.mkdtemp(prefix="eb-", dir="/tmp")  # AF_UNIX paths must stay short
    log_dir = tempfile.mkdtemp(prefix="eb-times-", dir="/tmp")
    run: dict[str, Any] = {"num_cpus": cpus}
    all_cores = os.sched_getaffinity(0)
    try:
        if cpus < len(all_cores):
            # num_cpus only limits how many tasks Ray runs at once: ffmpeg 8 runs each encoder
            # and filter graph on a thread of its own, so one "1-CPU" task can keep two cores
            # busy. Pin the driver before Ray starts (its processes and every ffmpeg inherit the
            # mask) so the N-CPU run is an N-core machine.
            os.sched_setaffinity(0, sorted(all_cores)[:cpus])
            log(f"    pinned to {cpus} of {len(all_cores)} cores")
        log(f"    starting Ray (num_cpus={cpus})")
        ray.init(
            address="local",
            num_cpus=cpus,
            include_dashboard=False,
            _temp_dir=temp_dir,
            logging_level="WARNING",
            log_to_driver=True,
        )
        ray.get([_warm.remote() for _ in range(cpus)])
        spec = _spec(name, source_key, list(DEFAULT_LADDER))

        async def encode() -> float:
            started = time.time()
            await pipeline.encode(store, spec, source, _Printer())
            return started

        with timed_tasks(log_dir), measured(run):
            t0 = asyncio.run(encode())
        out = store.local_path(spec.out_prefix)
        assert out is not None
        run["output"] = output_stats(out)
        store.delete_prefix_sync(f"assets/{name}/")
        run["tasks"] = sorted(
            (
                {**record, "start": record["start"] - t0, "end": record["end"] - t0}
                for record in (json.loads(p.read_text()) for p in Path(log_dir).glob("*.json"))
            ),
            key=lambda r: r["start"],
        )
    finally:
        ray.shutdown()
        os.sched_setaffinity(0, all_cores)
        shutil.rmtree(temp_dir, ignore_errors=True)
        shutil.rmtree(log_dir, ignore_errors=True)
    return run


# ---- the plain ffmpeg baseline -------------------------------------------------------------


def user_x264_args(rung: Rung) -> list[str]:
    """encoding.x264_args without the one-thread pinning: x264 picks its own threads."""
    args = encoding.x264_args(rung, 0.0)
    out: list[str] = []
    for option, value in zip(args[::2], args[1::2], strict=True):
        if option == "-threads":
            continue
        if option == "-x264-params":
            assert value == "threads=1", f"unexpected x264 params {value!r}: update the bench"
            continue
        out += [option, value]
    return out


def ladder_argv(source_path: Path, rungs: list[Rung], folder: Path) -> list[str]:
    """One ffmpeg: decode once, split to every rung's scaler and x264, plus the AAC track."""
    labels = [f"v{rung.height}" for rung in rungs]
    graph = f"[0:v:0]split={len(rungs)}" + "".join(f"[s{i}]" for i in range(len(rungs)))
    for i, (rung, label) in enumerate(zip(rungs, labels, strict=True)):
        graph += f";[s{i}]{encoding.scale_filter(rung)}[{label}]"
    args = ["-progress", "pipe:1", "-nostats", "-i", str(source_path), "-filter_complex", graph]
    for rung, label in zip(rungs, labels, strict=True):
        args += ["-map", f"[{label}]", "-an", "-sn", "-dn", *user_x264_args(rung)]
        args.append(str(folder / f"{label}.mp4"))
    args += ["-map", "0:a:0", "-vn", "-sn", "-dn", *encoding.aac_args(), str(folder / "audio.mp4")]
    return ffmpeg_argv(*args)


def run_ffmpeg(
    store: MediaStore, source_path: Path, source: SourceInfo, name: str
) -> dict[str, Any]:
    rungs = ladder_for(source, DEFAULT_LADDER)
    run: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="eb-ffmpeg-") as tmp:
        folder, out = Path(tmp), Path(tmp) / "out"
        spec = _spec(name, "unused", rungs)
        phases: list[dict[str, Any]] = []
        with measured(run):
            t0 = time.perf_counter()
            _run_with_progress(ladder_argv(source_path, rungs, folder), source.duration_s, "ffmpeg")
            t1 = time.perf_counter()
            phases.append(
                {"stage": "ffmpeg ladder", "label": "ffmpeg", "start": 0.0, "end": t1 - t0}
            )
            log(f"    ffmpeg done ({t1 - t0:.1f} s); packaging")
            renditions = packaging.Renditions(
                videos={rung.height: folder / f"v{rung.height}.mp4" for rung in rungs},
                audio=folder / "audio.mp4",
            )
            packaging.package(renditions, out, spec.key_id, spec.key, timeout_s=TASK_TIMEOUT_S)
            # The pipeline publishes its package into the store: so does the baseline.
            store.upload_tree(out, spec.out_prefix)
            t2 = time.perf_counter()
            phases.append(
                {"stage": "join+package", "label": "package", "start": t1 - t0, "end": t2 - t0}
            )
            log(f"    done ({t2 - t0:.1f} s)")
        run["output"] = output_stats(out)
        run["tasks"] = phases
        store.delete_prefix_sync(f"assets/{name}/")
    return run


# ---- analysis ------------------------------------------------------------------------------


def timeline_stats(run: dict[str, Any]) -> dict[str, float]:
    """From one pipeline run's task records: how busy its CPU slots were and how long the
    parts that cannot run in parallel (split, join + package) took."""
    records = run["tasks"]
    cpus = {"split": tasks.LIGHT_CPUS}
    busy = sum((r["end"] - r["start"]) * cpus.get(r["stage"], tasks.ENCODE_CPUS) for r in records)
    stage = {r["stage"]: r for r in records}
    split = stage["split"]["end"] - stage["split"]["start"]
    package = stage["join+package"]["end"] - stage["join+package"]["start"]
    encodes = [r for r in records if r["stage"].startswith("encode") or r["stage"] == "audio"]
    return {
        "slot_utilisation": busy / (run["wall_s"] * run["num_cpus"]),
        "split_s": split,
        "package_s": package,
        "encode_phase_s": max(r["end"] for r in encodes) - min(r["start"] for r in encodes),
        "encode_task_s": sum(r["end"] - r["start"] for r in encodes),
        "tasks": len(records),
        # Rung groups, i.e. decodes of the source (encoding.task_groups).
        "groups": len({r["stage"] for r in records if r["stage"].startswith("encode ")}),
        "driver_gap_s": run["wall_s"] - (stage["join+package"]["end"] - stage["split"]["start"]),
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The pass whose wall time is the median (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return ordered[(len(ordered) - 1) // 2]


def summarise(runs: dict[str, list[dict[str, Any]]], video_s: float) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for config, _ in CONFIGS:
        walls = [r["wall_s"] for r in runs[config]]
        cpus = [r["cpu_s"] for r in runs[config]]
        others = [r["other_cpu_s"] / r["wall_s"] for r in runs[config]]
        wall = statistics.median(walls)
        summary[config] = {
            "wall_s": wall,
            "video_s_per_wall_s": video_s / wall,
            "cpu_s": statistics.median(cpus),
            "cpu_s_per_video_s": statistics.median(cpus) / video_s,
            "other_load_cores": statistics.median(others),
            "walls_s": walls,
        }
        if config.startswith("ray"):
            summary[config]["timeline"] = timeline_stats(median_run(runs[config]))
    vs_ffmpeg = summary["ray2"]["video_s_per_wall_s"] / summary["ffmpeg"]["video_s_per_wall_s"]
    scaling = summary["ray2"]["video_s_per_wall_s"] / summary["ray1"]["video_s_per_wall_s"]
    summary["ratios"] = {
        "pipeline2_vs_ffmpeg": {"value": vs_ffmpeg, "aim": AIM_VS_FFMPEG},
        "pipeline2_vs_pipeline1": {"value": scaling, "aim": AIM_SCALING},
    }
    for ratio in summary["ratios"].values():
        ratio["met"] = ratio["value"] >= ratio["aim"]
    return summary


# ---- the plot ------------------------------------------------------------------------------

STAGE_COLOURS = {
    "split": "#7f7f7f",
    "audio": "#9467bd",
    "join+package": "#8c564b",
    "ffmpeg ladder": "#2ca02c",
}
RUNG_COLOURS = ("#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c", "#08306b")


def _lanes(records: list[dict[str, Any]]) -> list[int]:
    """Greedy interval packing: each task on the first CPU slot free when it starts."""
    ends: list[float] = []
    lanes = []
    for r in records:
        for lane, end in enumerate(ends):
            if end <= r["start"] + 1e-3:
                ends[lane] = r["end"]
                lanes.append(lane)
                break
        else:
            ends.append(r["end"])
            lanes.append(len(ends) - 1)
    return lanes


def plot(
    panels: list[tuple[str, dict[str, Any]]], rungs: list[Rung], video_s: float, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    colours = dict(STAGE_COLOURS)
    # One task per chunk and rung group (encoding.task_groups): a colour per group seen.
    groups = sorted({r["stage"] for _, run in panels for r in run.get("tasks", [])
                     if r["stage"].startswith("encode ")})  # fmt: skip
    for group, colour in zip(groups, RUNG_COLOURS[::-2], strict=False):
        colours[group] = colour
    rows = [
        max(_lanes(sorted(run["tasks"], key=lambda r: r["start"])), default=0) + 1
        for _, run in panels
    ]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(12, 1.6 + 0.75 * sum(rows)),
        sharex=True,
        gridspec_kw={"height_ratios": [r + 0.8 for r in rows]},
    )
    for ax, (title, run), count in zip(axes, panels, rows, strict=True):
        records = sorted(run["tasks"], key=lambda r: r["start"])
        for r, lane in zip(records, _lanes(records), strict=True):
            width = r["end"] - r["start"]
            ax.barh(
                lane,
                width,
                left=r["start"],
                height=0.8,
                color=colours.get(r["stage"], "#d62728"),
                edgecolor="white",
                linewidth=0.6,
            )
            if r["stage"] in STAGE_COLOURS and width > 0.04 * run["wall_s"]:
                ax.text(
                    r["start"] + width / 2,
                    lane,
                    r["label"],
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white",
                )
        ax.axvline(run["wall_s"], color="black", linestyle="--", linewidth=1)
        speed = video_s / run["wall_s"]
        ax.set_title(
            f"{title}: {run['wall_s']:.1f} s wall, {speed:.2f} s of video per s",
            loc="left",
            fontsize=10,
        )
        ticks = [f"slot {i + 1}" for i in range(count)] if "num_cpus" in run else ["all cores"]
        ax.set_yticks(range(count), ticks)
        ax.set_ylim(count - 0.4, -0.6)
        ax.grid(axis="x", alpha=0.3)
    axes[-1].set_xlabel("seconds since the encode stage started (dashed: stage returned)")
    handles = [Patch(color=c, label=s) for s, c in colours.items()]
    fig.legend(
        handles=handles, loc="upper center", ncol=min(len(handles), 5), fontsize=8, frameon=False
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- the report ----------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report_md(result: dict[str, Any]) -> str:
    s, src, m = result["summary"], result["source"], result["machine"]
    video_s = src["duration_s"]
    names = dict(CONFIGS)
    lines = [
        "# Encode benchmark",
        "",
        f"Generated by `python -m loadtest.encode_bench` ({result['args']}) on "
        f"{result['generated']}. Machine: {m['nproc']} cores ({m['cpu_model']}), "
        f"{m['memory_gb']:.0f} GB RAM, Python {m['python']}, Ray {m['ray']}. "
        f"Load average before the run {m['load_before'][0]:.2f} / {m['load_before'][1]:.2f} / "
        f"{m['load_before'][2]:.2f} (1/5/15 min), after {m['load_after'][0]:.2f}.",
        "",
        f"Source: {video_s:g} s of lavfi `testsrc2` at {src['width']}x{src['height']} "
        f"{src['fps']:g} fps with a 440 Hz tone, H.264 (x264 veryfast, keyframe every "
        f"{SOURCE_KEYFRAME_S} s) + AAC; split into {src['chunks']} chunks of "
        f"{result['chunk_seconds']:g} s. A synthetic pattern encodes faster than film grain: "
        "trust the ratios more than the absolute speeds.",
        "",
        "Ladder (`ladder_for(source, DEFAULT_LADDER)`): "
        + ", ".join(
            f"{r['name']} {r['width']}x{r['height']} ≤{r['video_kbps']} kb/s"
            for r in result["ladder"]
        )
        + f"; x264 `{encoding.X264_PRESET}` CRF {encoding.X264_CRF} capped, keyframes every "
        f"{encoding.KEYFRAME_SECONDS} s; AAC {encoding.AUDIO_KBPS} kb/s; Shaka Packager, CENC, "
        f"{encoding.SEGMENT_SECONDS} s segments.",
        "",
        "What each configuration runs, timed from the first store call to the packaged output "
        "in the store (Ray is started and its workers warmed before the clock starts):",
        "",
        "- **pipeline**: `media.ingest.pipeline.encode` — split (stream copy) → one Ray task per "
        "chunk x rung group (`encoding.task_groups`: with ≥ 2 chunks per CPU, as here, one "
        "group of every rung; with fewer, the top rung alone and the others together) — each "
        "task decodes its chunk once and runs one single-threaded x264 per rung (Ray reserves "
        "one CPU; ffmpeg 8 runs each encoder on its own thread) — and one for the audio → one "
        "task that joins each rung's chunks and packages. Local store, local Ray with the "
        "given `num_cpus`; the 1-CPU run is pinned to one core (`sched_setaffinity` before "
        "Ray starts, inherited by every Ray process and ffmpeg), so it is a one-core machine.",
        "- **plain ffmpeg**: one `ffmpeg` that decodes the source once, splits it to every rung's "
        "scaler and x264 (same options as `media/ingest/encoding.py` except the one-thread "
        "pinning: x264 and the decoder pick their own threads) plus the AAC track, then the "
        "same `packaging.package` and an upload into the same store.",
        "",
        f"## Results (median of {result['passes']} interleaved passes)",
        "",
        "| configuration | wall s | s of video per wall s | CPU s (process tree) | CPU s per s of video | other load on the machine (cores) | walls per pass (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for config, _ in CONFIGS:
        c = s[config]
        lines.append(
            f"| {names[config]} | {c['wall_s']:.1f} | {c['video_s_per_wall_s']:.2f} | "
            f"{c['cpu_s']:.1f} | {c['cpu_s_per_video_s']:.2f} | {c['other_load_cores']:.2f} | "
            + ", ".join(f"{w:.1f}" for w in c["walls_s"])
            + " |"
        )
    r = s["ratios"]
    vs, sc = r["pipeline2_vs_ffmpeg"], r["pipeline2_vs_pipeline1"]
    lines += [
        "",
        "| ratio | value | aim | met |",
        "| --- | ---: | ---: | --- |",
        f"| pipeline (2 CPU) / plain ffmpeg, speed | {vs['value']:.2f} | ≥ {vs['aim']} | "
        f"{'yes' if vs['met'] else '**no**'} |",
        f"| pipeline 2 CPU / 1 CPU, speed | {sc['value']:.2f} | ≥ {sc['aim']} | "
        f"{'yes' if sc['met'] else '**no**'} |",
        "",
        "CPU s is the CPU time of the benchmark's process tree (driver, Ray's GCS and raylet, "
        "the workers and every ffmpeg/packager they ran) during the timed window; other load "
        "is the rest of the machine's busy CPU in the same window, divided by the wall time.",
        "",
    ]
    lines += _findings(result)
    p2 = s["ray2"]
    cores = p2["cpu_s_per_video_s"] * 3600 / 3600
    reserved = p2["wall_s"] * 2 / video_s
    lines += [
        "## Encode cores per hour of uploaded video",
        "",
        f"From the median 2-CPU pipeline pass: **{cores:.2f} cores** keep up with one hour of "
        f"uploaded {src['height']}p video per hour (CPU seconds per second of video, "
        f"{p2['cpu_s']:.1f} / {video_s:g}, x 3600 / 3600). Counting the CPUs Ray reserves "
        f"rather than those it burns (wall x 2 / video seconds) it is {reserved:.2f}. The plain "
        f"ffmpeg run needs {s['ffmpeg']['cpu_s_per_video_s']:.2f} CPU seconds per second of "
        "video. Real footage costs more than this test pattern (x264 works harder on texture "
        "and motion), so size a worker pool from a sample of the real catalogue, with this as "
        "the floor.",
        "",
        "## Timeline",
        "",
        "One pass of each configuration (the median pass): one row per CPU slot, each bar a "
        "task (encode bars coloured by rung). The 2-CPU and 1-CPU panels share the time axis "
        "with the plain ffmpeg run.",
        "",
        "![encode timeline](encode-timeline.png)",
        "",
        "Raw numbers (every pass, every task's start and end): `encode-benchmark.json`.",
        "",
    ]
    return "\n".join(lines)


def _findings(result: dict[str, Any]) -> list[str]:
    """Plain-language reading of the ratios, with the numbers that explain a miss."""
    s = result["summary"]
    r = s["ratios"]
    t2, t1 = s["ray2"]["timeline"], s["ray1"]["timeline"]
    vs, sc = r["pipeline2_vs_ffmpeg"], r["pipeline2_vs_pipeline1"]
    extra_cpu = s["ray2"]["cpu_s"] / s["ffmpeg"]["cpu_s"] - 1
    decodes = s["ray2"]["timeline"]["groups"]
    lines = ["## Reading", ""]
    verdict = "meets" if vs["met"] else "misses"
    lines.append(
        f"- **Pipeline vs plain ffmpeg: {vs['value']:.2f}** — {verdict} the ≥ {vs['aim']} aim. "
        f"The pipeline burns {extra_cpu:+.0%} CPU compared with the single ffmpeg "
        f"({s['ray2']['cpu_s']:.1f} vs {s['ffmpeg']['cpu_s']:.1f} s): "
        + (
            f"each rung group decodes its chunks again ({decodes} decodes of the source "
            "instead of 1), "
            if decodes > 1
            else "it decodes the source once too, but "
        )
        + "each task starts its own ffmpeg, and the chunks make a trip through the store; "
        f"Ray's own processes add a little. Its two CPU slots were busy {t2['slot_utilisation']:.0%} of "
        "the wall time"
        + (
            ", so idle slots are not what holds it back"
            if t2["slot_utilisation"] >= 0.9
            else ", so idle slots cost it too"
        )
        + f": the parts that run alone are split {t2['split_s']:.1f} s, join + package "
        f"{t2['package_s']:.1f} s, and {t2['driver_gap_s']:.1f} s of driver-side store calls."
    )
    decode = result["source_decode_cpu_s"]
    gap = s["ray2"]["cpu_s"] - s["ffmpeg"]["cpu_s"]
    lines.append(
        f"  Decoding the source once costs {decode:.1f} CPU s (one thread, measured apart); the "
        f"pipeline decodes it {decodes} time{'s' if decodes > 1 else ''}, so about "
        f"{(decodes - 1) * decode:.1f} of its {gap:.1f} extra CPU s are repeated decoding. "
        "History: one task per chunk and rung, as first built, decoded once per rung (119 CPU "
        "s against 78); splitting the top rung off decoded twice (80.7 against 69.2 on a quiet "
        f"machine, a ratio of 0.87). With both slots busy all the time, "
        f"{s['ray2']['cpu_s']:.0f} CPU s on 2 cores take {s['ray2']['cpu_s'] / 2:.0f} s against "
        f"the plain ffmpeg's {s['ffmpeg']['wall_s']:.0f} s wall."
    )
    ideal = (t1["split_s"] + t1["package_s"]) + (
        s["ray1"]["wall_s"] - t1["split_s"] - t1["package_s"]
    ) / 2
    verdict = "meets" if sc["met"] else "misses"
    lines.append(
        f"- **2 CPUs vs 1: {sc['value']:.2f}** — {verdict} the ≥ {sc['aim']} aim. With one CPU "
        f"the slots were busy {t1['slot_utilisation']:.0%} of the time. Split and join + "
        f"package are single tasks ({t1['split_s'] + t1['package_s']:.1f} s at 1 CPU) that a "
        "second core cannot speed up; with everything else halved the best possible 2-CPU wall "
        f"would be {ideal:.1f} s, a ratio of {s['ray1']['wall_s'] / ideal:.2f}. The 1-CPU run "
        "is pinned to one core; without the pin (an earlier run) it borrowed the second core "
        "for ffmpeg's extra threads, Ray and the store copies, and the ratio read 1.28. Load "
        "from other processes comes straight out of the 2-CPU run's second core."
    )
    runs = result["runs"]
    per_pass = [
        (r2["wall_s"], r1["wall_s"], ff["wall_s"], ff["cpu_s"])
        for r2, r1, ff in zip(runs["ray2"], runs["ray1"], runs["ffmpeg"], strict=True)
    ]
    if len(per_pass) > 1:
        ff_cpu = [cpu for *_, cpu in per_pass]
        lines.append(
            "- **Pass to pass**: pipeline / ffmpeg "
            + ", ".join(f"{ff / r2:.2f}" for r2, _, ff, _ in per_pass)
            + "; 2 CPU / 1 CPU "
            + ", ".join(f"{r1 / r2:.2f}" for r2, r1, _, _ in per_pass)
            + f". The same plain ffmpeg run took {min(ff_cpu):.0f} to {max(ff_cpu):.0f} CPU s "
            "from pass to pass with nothing else running here: the host's CPU speed varies "
            "under us, so trust the medians, and a single pass not at all."
        )
    contended = [c for c, _ in CONFIGS if s[c]["other_load_cores"] > 0.1]
    if contended:
        ff, p2 = s["ffmpeg"]["other_load_cores"], s["ray2"]["other_load_cores"]
        lines.append(
            "- **The machine was not quiet**: other processes used "
            + ", ".join(
                f"{s[c]['other_load_cores']:.2f} cores during {dict(CONFIGS)[c]}"
                for c, _ in CONFIGS
            )
            + " (medians; other jobs shared the machine). Linux shares a busy CPU "
            "per thread, so the plain ffmpeg (dozens of x264, decoder and filter threads) keeps "
            "more of it than the pipeline's one-thread workers"
            + (
                f" — it lost {ff:.2f} cores to other work against the pipeline's {p2:.2f}"
                if p2 > ff
                else ""
            )
            + ". Treat the absolute numbers as noisy; the CPU-second columns are the steadier "
            "comparison."
        )
    lines.append(
        "- Outputs are equivalent: the same streams and segment counts in both packages "
        "(the JSON holds per-stream bytes: chunked encodes restart x264's rate control at "
        "every chunk, so sizes differ a little)."
        if result["outputs_match"]
        else "- **Outputs differ** in streams or segment counts between pipeline and ffmpeg: "
        "see `outputs` in the JSON."
    )
    lines.append("")
    return lines


# ---- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="source duration")
    parser.add_argument("--height", type=int, default=1080, help="source height (16:9)")
    parser.add_argument("--passes", type=int, default=3, help="interleaved passes")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="output folder")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="only redraw the plot and the report (into --out) from an earlier run's JSON",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        result = json.loads(args.render.read_text())
        args.out.mkdir(parents=True, exist_ok=True)
        render(result, args.out)
        log_summary(result)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_before = os.getloadavg()
    log(f"encode benchmark: {args.seconds} s {args.height}p source, {args.passes} passes")
    log(f"load average {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f}")
    if load_before[0] > 0.5 * (os.cpu_count() or 1):
        log("  warning: the machine is busy; the numbers will be noisy (noted in the report)")

    with tempfile.TemporaryDirectory(prefix="encode-bench-") as tmp:
        source_path = Path(tmp) / "source.mp4"
        log(f"generating the source ({args.seconds} s, {args.height}p{FPS}, x264 veryfast)")
        make_source(source_path, args.seconds, args.height)
        source = probe_file(source_path, timeout_s=60)
        rungs = ladder_for(source, DEFAULT_LADDER)
        log(
            f"  {source.width}x{source.height} {source.fps:g} fps, {source.duration_s:.2f} s, "
            f"{source_path.stat().st_size / 1e6:.1f} MB; ladder " + ", ".join(r.name for r in rungs)
        )
        store = MediaStore.from_url(str(Path(tmp) / "store"))
        source_key = "uploads/bench/source.mp4"
        store.upload(source_path, source_key)
        decode_s = decode_cpu_s(source_path)
        log(f"  decoding the source once takes {decode_s:.1f} CPU s (one thread)")

        runs: dict[str, list[dict[str, Any]]] = {config: [] for config, _ in CONFIGS}
        for index in range(args.passes):
            for config, title in CONFIGS:
                log(
                    f"pass {index + 1}/{args.passes} · {title} ({time.perf_counter() - started:.0f} s in)"
                )
                name = f"bench-{config}-{index}"
                if config == "ffmpeg":
                    run = run_ffmpeg(store, source_path, source, name)
                else:
                    run = run_pipeline(int(config[-1]), store, source_key, source, name)
                run["pass"] = index + 1
                runs[config].append(run)
                log(
                    f"  {title}: {run['wall_s']:.1f} s wall, {source.duration_s / run['wall_s']:.2f} "
                    f"s of video per s, {run['cpu_s']:.0f} CPU s, other load "
                    f"{run['other_cpu_s'] / run['wall_s']:.2f} cores"
                )
        # One encode task per chunk and rung group: the group holding the top rung has one
        # task per chunk.
        top = max(rungs, key=lambda rung: rung.height).name
        chunks = len(
            [
                t
                for t in runs["ray2"][0]["tasks"]
                if t["stage"].startswith("encode ")
                and top in t["stage"].split(" ", 1)[1].split("+")
            ]
        )

    summary = summarise(runs, source.duration_s)
    outputs = {config: median_run(runs[config])["output"] for config, _ in CONFIGS}

    def shape(output: dict[str, Any]) -> dict[str, int]:
        return {name: stream["files"] for name, stream in output["streams"].items()}

    result = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "args": f"--seconds {args.seconds} --height {args.height} --passes {args.passes}",
        "passes": args.passes,
        "machine": {
            "nproc": os.cpu_count(),
            "cpu_model": cpu_model(),
            "memory_gb": psutil.virtual_memory().total / 2**30,
            "python": platform.python_version(),
            "ray": ray.__version__,
            "load_before": load_before,
            "load_after": os.getloadavg(),
        },
        "source": {**msgspec.to_builtins(source), "chunks": chunks},
        "source_decode_cpu_s": decode_s,
        "chunk_seconds": _spec("x", "x", rungs).chunk_seconds,
        "ladder": [msgspec.to_builtins(r) for r in rungs],
        "summary": summary,
        "outputs": outputs,
        "outputs_match": shape(outputs["ray2"]) == shape(outputs["ffmpeg"]),
        "runs": runs,
        "total_s": time.perf_counter() - started,
    }
    (args.out / "encode-benchmark.json").write_text(json.dumps(result, indent=1) + "\n")
    render(result, args.out)
    log_summary(result)
    log(
        f"wrote {args.out}/encode-benchmark.md, .json, encode-timeline.png in {time.perf_counter() - started:.0f} s"
    )


def render(result: dict[str, Any], out: Path) -> None:
    """The plot and the Markdown report, from the benchmark's raw numbers."""
    runs = result["runs"]
    panels = [
        ("pipeline, Ray num_cpus=2", median_run(runs["ray2"])),
        ("pipeline, Ray num_cpus=1", median_run(runs["ray1"])),
        ("plain ffmpeg + package", median_run(runs["ffmpeg"])),
    ]
    rungs = msgspec.convert(result["ladder"], list[Rung])
    plot(panels, rungs, result["source"]["duration_s"], out / "encode-timeline.png")
    (out / "encode-benchmark.md").write_text(report_md(result))


def log_summary(result: dict[str, Any]) -> None:
    summary = result["summary"]
    r = summary["ratios"]
    log("")
    for config, title in CONFIGS:
        c = summary[config]
        log(
            f"{title:40s} {c['wall_s']:7.1f} s  {c['video_s_per_wall_s']:5.2f} s video/s  {c['cpu_s']:6.0f} CPU s"
        )
    for key, label in (
        ("pipeline2_vs_ffmpeg", "pipeline 2 CPU / ffmpeg"),
        ("pipeline2_vs_pipeline1", "pipeline 2 CPU / 1 CPU"),
    ):
        log(
            f"{label:40s} {r[key]['value']:.2f} (aim ≥ {r[key]['aim']}: {'met' if r[key]['met'] else 'MISSED'})"
        )


if __name__ == "__main__":
    sys.exit(main())
