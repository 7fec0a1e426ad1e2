"""``python -m stack``: what ``make run`` runs. Foreground; Ctrl-C or SIGTERM stops everything."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from core.config import Settings
from stack.local import PROJECT_ROOT, LocalStack, StartAborted
from stack.processes import ComponentDied, PortBusy, StopIncomplete


def main() -> int:
    data_dir = Path(os.environ.get("STREAMING_DATA_DIR", PROJECT_ROOT / "var")).resolve()
    private = os.environ.get("STACK_PRIVATE_PORTS") == "1"  # beside another stack (the e2e suite)
    if private:
        # STACK_KEEP_PORTS=1: the same ports on every start with this data dir, like `make run`.
        stack = LocalStack.private(data_dir, keep_ports=os.environ.get("STACK_KEEP_PORTS") == "1")
    else:
        stack = LocalStack(
            data_dir=data_dir,
            ray_temp_dir=Path(os.environ.get("RAY_TEMP_DIR", "/tmp/streaming-ray")),
        )
    stop = threading.Event()
    stack.abort = stop  # Ctrl-C while starting gives up the start, then stops what started
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stack.start()
    except BaseException as exc:
        known = isinstance(exc, PortBusy | ComponentDied | StartAborted | StopIncomplete)
        print(
            f"start-up failed: {exc if known else repr(exc)}\n  logs are in {stack.log_dir}",
            file=sys.stderr,
            flush=True,
        )
        if isinstance(exc, PortBusy):
            return 1  # nothing was started
        try:
            stack.stop()
        except StopIncomplete as stuck:
            print(f"stop incomplete: {stuck}", file=sys.stderr, flush=True)
        return 1
    settings = Settings.from_env()
    env = stack.env()
    print(
        f"\nready: {stack.base_url}  (API under /v1, health at /healthz and /readyz)\n"
        f"  demo account:  {settings.demo_email} / {settings.demo_password}\n"
        f"  admin account: {settings.admin_email} / {settings.admin_password}\n"
        f"  data: {data_dir}   logs: {stack.log_dir}\n"
        f"  MongoDB: {env['MONGODB_URL']}   Redis: {env['REDIS_URL']}\n"
        "Ctrl-C stops everything this command started.",
        flush=True,
    )
    stop.wait()
    print("\nshutting down...", flush=True)
    started = time.monotonic()
    try:
        stack.stop()
    except StopIncomplete as exc:
        print(f"stop incomplete: {exc}", file=sys.stderr, flush=True)
        return 1
    if private:
        stack.remove_scratch()
    print(f"stopped. ({time.monotonic() - started:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
