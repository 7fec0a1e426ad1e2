"""Schemathesis against a running stack, from the API's own OpenAPI document.

``tests/e2e/test_fuzz.py`` runs a short, fixed-seed pass on every ``make test``; ``make fuzz``
(this module's ``main``) a long one on a private stack, writing the outcome to ``docs/fuzz.md``.

Both sign up a fresh account (it comes with a profile) and fuzz every operation with its
token, positive and negative cases. Pass means no 5xx and every response matches the
document: its status is documented, its content type, headers and body match.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.config import Settings
from stack.local import PROJECT_ROOT, LocalStack

SEED = 20261202
CONFIG = Path(__file__).with_name("schemathesis.toml")  # per-operation settings, with reasons
# What is left out, and why: everything else is fuzzed.
EXCLUDED_PATHS = {
    # Revokes the run's own token: every later request would be a 401.
    "/v1/auth/logout": "revokes the token the run uses",
}
# The admin pass (the admin account, admin operations only) leaves out what would start real
# work: an upload through seed A's route queues an ingest job that probes and encodes.
ADMIN_EXCLUDED_PATHS = {
    "/v1/admin/content": "starts an ingest job (ffprobe, encodes) per case",
}
EXCLUDED_CHECKS = {
    # Valid by the schema is not always valid by the rules: an opaque cursor, a base64 Clear Key
    # challenge, a kids profile asking for an adult rating, a window ending before it starts
    # are 400s with a named field, as they should be. The other checks stay on.
    "positive_data_acceptance": "schema-valid input can still break a rule the schema cannot say",
    # Stateful runs chain a created profile into e.g. POST …/{profile_id}/watchlist with a
    # random title id; the 404 is the title's, which this check reads as the profile missing.
    "ensure_resource_availability": "a 404 for another id in the body reads as a lost resource",
}
# The fuzz account's budgets for the run (configuration, as a load test raises them); the
# stack's own budgets come back when the run ends.
# Windows one second shorter than the stack's: a window's Redis key is ``now // window_s``, so
# what the run counts lands in keys of its own. Otherwise the admin account (shared with the
# tests that follow) would start the stack's own window with thousands of requests already
# counted, and every admin request after the run would be a 429 until the hour ends.
FUZZ_BUDGETS = {
    "auth": {"limit": 1_000_000, "window_s": 59},
    "content": {"limit": 1_000_000, "window_s": 3599},
    "streaming": {"limit": 1_000_000, "window_s": 59},
    "analytics": {"limit": 1_000_000, "window_s": 3599},
}


@dataclass
class Outcome:
    returncode: int
    output: str
    seconds: float

    @property
    def summary(self) -> str:
        """Schemathesis's closing block (operations, test cases, failures)."""
        lines = self.output.rstrip().splitlines()
        start = next(
            (i for i, line in enumerate(lines) if re.search(r"=+ (SUMMARY|FAILURES) =+", line)),
            max(0, len(lines) - 40),
        )
        return "\n".join(lines[start:])


def schemathesis_bin() -> str:
    return str(Path(sys.executable).with_name("st"))


def fresh_token(base_url: str) -> str:
    """A new account (with its first profile) and its access token."""
    email = f"fuzz-{secrets.token_hex(6)}@example.com"
    response = httpx.post(
        f"{base_url}/v1/auth/register",
        json={"email": email, "password": "fuzz-password-123", "plan": "premium"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@contextlib.contextmanager
def raised_budgets(stack: LocalStack) -> Iterator[None]:
    """Redeploy the stack's Serve config with FUZZ_BUDGETS (a live ``user_config`` change, no
    restart), and the stack's own config afterwards."""
    stack.deploy({**(stack.user_config or {}), "rate_limits": FUZZ_BUDGETS}, "ray_config.fuzz.yaml")
    try:
        _wait_for_budget(stack.base_url, FUZZ_BUDGETS["content"]["limit"])
        yield
    finally:
        stack.deploy(stack.user_config, "ray_config.restored.yaml")


def _wait_for_budget(base_url: str, limit: int, timeout_s: float = 60) -> None:
    """Every replica took the new budgets (each answers several requests in a row)."""
    token = fresh_token(base_url)
    deadline = time.monotonic() + timeout_s
    seen = 0
    while seen < 8:
        response = httpx.get(
            f"{base_url}/v1/users/profiles",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        seen = seen + 1 if response.headers.get("x-ratelimit-limit") == str(limit) else 0
        if time.monotonic() > deadline:
            raise TimeoutError("the replicas did not take the fuzz run's budgets")
        time.sleep(0.2 if seen else 1)


@dataclass
class KnownIds:
    """Real ids the account may use: with half the cases drawing from them (schemathesis
    dictionaries), the fuzzer reaches the handlers' success paths, not only their 404s."""

    profiles: list[str]
    titles: list[str]
    assets: list[str]

    @classmethod
    def of(cls, base_url: str, token: str) -> KnownIds:
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base_url, headers=auth, timeout=30) as client:
            profiles = client.get("/v1/users/profiles").json()["profiles"]
            titles, assets = [], []
            for kind in ("movie", "series"):
                page = client.get("/v1/content/browse", params={"type": kind, "limit": 2})
                for item in page.json()["content"]:
                    titles.append(item["id"])
                    detail = client.get(f"/v1/titles/{item['id']}").json()
                    if detail.get("asset_id"):
                        assets.append(detail["asset_id"])
                    for season in detail.get("seasons", [])[:1]:
                        assets += [e["asset_id"] for e in season["episodes"][:2]]
        return cls([p["id"] for p in profiles], titles, assets)

    def toml(self) -> str:
        """Dictionaries and the parameters that draw from them, half of the time."""
        bindings = {
            "profiles": ("path.profile_id", "query.profile_id", "body.profile_id"),
            "titles": ("path.content_id", "path.title_id", "body.title_id", "body.content_id"),
            "assets": ("body.asset_id",),
        }
        lines = []
        for name in bindings:
            lines += [f"[dictionaries.{name}]", f"values = {json.dumps(getattr(self, name))}", ""]
        lines.append("[parameters]")
        for name, keys in bindings.items():
            for key in keys:
                lines.append(f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}')
        return "\n".join(lines) + "\n"


def admin_token(base_url: str) -> str:
    """The bootstrapped admin account's access token (dev defaults unless configured)."""
    settings = Settings.from_env()
    response = httpx.post(
        f"{base_url}/v1/auth/login",
        json={"email": settings.admin_email, "password": settings.admin_password},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def command(
    base_url: str,
    token: str,
    *,
    examples: int,
    seed: int,
    max_time_s: int | None,
    workers: int,
    admin: bool = False,
    config: Path = CONFIG,
) -> list[str]:
    argv = [
        schemathesis_bin(),
        "--config-file",
        str(config),
        "run",
        f"{base_url}/v1/openapi.json",
        "--url",
        base_url,
        "-H",
        f"Authorization: Bearer {token}",
        "--mode",
        "all",
        "-n",
        str(examples),
        "--seed",
        str(seed),
        "--workers",
        str(workers),
        "--exclude-checks",  # every other check is on by default
        ",".join(EXCLUDED_CHECKS),
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--output-truncate",
        "false",
        "--suppress-health-check",
        "all",
        "--warnings",
        "off",
    ]
    for path in EXCLUDED_PATHS:
        argv += ["--exclude-path", path]
    if admin:
        argv += ["--include-tag", "admin"]
        for path in ADMIN_EXCLUDED_PATHS:
            argv += ["--exclude-path", path]
    if max_time_s is not None:
        argv += ["--max-time", str(max_time_s)]
    return argv


def run(
    base_url: str,
    *,
    examples: int,
    seed: int = SEED,
    max_time_s: int | None = None,
    workers: int = 1,
    timeout_s: float | None = None,
    token: str | None = None,
    admin: bool = False,
) -> Outcome:
    """One schemathesis run: as ``token``'s account (a fresh one by default) over every
    operation, or with ``admin`` as the admin account over the admin operations.

    One worker by default: with two, Hypothesis's threads parse lambda sources with
    ``ast.parse`` at the same time, and CPython 3.11 keeps the AST constructor's recursion
    depth in one per-interpreter counter, so a run can die with ``SystemError: AST
    constructor recursion depth mismatch`` (cpython gh-106905; seen in CI on 3.11.7). On two
    cores the stack, not the client, is what limits the cases per second anyway."""
    if token is None:
        token = admin_token(base_url) if admin else fresh_token(base_url)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as cwd:  # schemathesis writes reports here
        config = Path(cwd) / "schemathesis.toml"
        # The admin pass draws no real ids: it would edit and delete the demo catalog.
        known = "" if admin else KnownIds.of(base_url, token).toml()
        config.write_text(CONFIG.read_text() + "\n" + known)
        argv = command(
            base_url,
            token,
            examples=examples,
            seed=seed,
            max_time_s=max_time_s,
            workers=workers,
            admin=admin,
            config=config,
        )
        done = subprocess.run(
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout_s,
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": "loadtest.fuzz_hooks",
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
                ),
            },
        )
    return Outcome(done.returncode, done.stdout, time.monotonic() - started)


def _report(outcomes: dict[str, Outcome], examples: int, seed: int) -> str:
    def bullet(items: dict[str, str]) -> str:
        return "\n".join(f"- `{name}`: {why}" for name, why in items.items())

    sections = []
    for name, outcome in outcomes.items():
        verdict = "passed" if outcome.returncode == 0 else f"FAILED (exit {outcome.returncode})"
        sections.append(
            f"## {name}: {verdict} in {outcome.seconds:.0f} s\n\n```\n{outcome.summary}\n```\n"
        )
    return f"""# Fuzzing the API (schemathesis)

`make fuzz`: schemathesis {_version()} against a private stack, from `GET /v1/openapi.json`,
positive and negative cases, `-n {examples}` per operation and phase, seed {seed}, with
raised rate-limit budgets. Two passes: a fresh account (premium, one profile) over every
operation (admin ones answer it 403; half of the cases draw its real profile, title and asset
ids, so success paths run too), then the admin account over the admin operations (no real
ids: the demo catalog stays as it is). Pass means no 5xx and every response matches the
document (status, content type, headers, body). The short, time-capped pass of every
`make test` is `tests/e2e/test_fuzz.py`; per-operation settings are in
`loadtest/schemathesis.toml`.

What fuzzing found while the document was written, and what was fixed:

- A client timestamp above 2^64 (`ts_ms` of `POST /v1/playback/events`, `PUT …/progress`)
  passed validation, then could not be encoded for the shard: the whole group-commit batch,
  other accounts' heartbeats included, failed with 503. Client epoch-millisecond fields are
  now bounded (`api.wire.EpochMillis`), a 400 naming the field.
- A path parameter of only a tab or line break (`/v1/users/profiles/%0A`) was dropped by the
  ingress (Starlette's `request.url` goes through `urlsplit`), so the request reached another
  route: the profile list, or a 405. The ingress now routes on the path as received.
- `?limit=` (empty) means the default, and a parameter holding a `/` leaves its template (404
  `NOT_FOUND`): the document now says both.
- Response bodies built as dicts are now the structs the document is generated from.

Left out:

{bullet(EXCLUDED_PATHS)}
{bullet(ADMIN_EXCLUDED_PATHS)} (admin pass)

Checks off:

{bullet(EXCLUDED_CHECKS)}

{"".join(sections)}"""


def _version() -> str:
    from importlib.metadata import version

    return version("schemathesis")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=120, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "fuzz.md")
    args = parser.parse_args()
    for name in ("MONGODB_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    stack = LocalStack.private(Path(tempfile.mkdtemp(prefix="fuzz-stack-")))
    outcomes: dict[str, Outcome] = {}
    try:
        stack.start(say=lambda line: print(f"[stack] {line}", flush=True))
        with raised_budgets(stack):
            for name, admin in (("Every operation, a viewer's token", False), ("Admin", True)):
                print(f"[fuzz] {name} …", flush=True)
                outcomes[name] = run(
                    stack.base_url, examples=args.examples, seed=args.seed, admin=admin
                )
                print(outcomes[name].output, flush=True)
    finally:
        stack.stop(say=lambda line: None)
        stack.remove_scratch()
    args.out.write_text(_report(outcomes, args.examples, args.seed))
    print(f"wrote {args.out}")
    sys.exit(max(outcome.returncode for outcome in outcomes.values()))


if __name__ == "__main__":
    main()
