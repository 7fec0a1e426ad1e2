"""``python -m stack``: what ``make run`` runs. Foreground; Ctrl-C or SIGTERM stops everything."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from api.config import Settings
from stack.local import PROJECT_ROOT, LocalStack


def main() -> int:
    data_dir = Path(os.environ.get("STREAMING_DATA_DIR", PROJECT_ROOT / "var")).resolve()
    private = os.environ.get("STACK_PRIVATE_PORTS") == "1"  # beside another stack (the e2e suite)
    if private:
        stack = LocalStack.private(data_dir)
    else:
        stack = LocalStack(
            data_dir=data_dir,
            ray_temp_dir=Path(os.environ.get("RAY_TEMP_DIR", "/tmp/streaming-ray")),
        )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stack.start()
    except BaseException as exc:
        print(f"start-up failed: {exc!r}; logs are in {stack.log_dir}", file=sys.stderr)
        stack.stop()
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
    stack.stop()
    if private:
        stack.remove_scratch()
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
