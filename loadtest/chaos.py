"""Chaos suite: kill -9 one component at a time under heartbeat load, and judge what users saw.

    python -m loadtest.chaos [--faults replica,shard,redis,mongodb] [--viewers 40] [--out docs]

Starts a private stack (its own ports, data dir and stores; all traffic to 127.0.0.1), signs in
``--viewers`` premium viewers, each with a playback session, and sends one round of heartbeats
(``PUT /v1/profiles/{id}/progress``, every viewer at once, position and player clock moving
forward) every ``--interval`` seconds, remembering each position that got a 2xx. Then, one fault
at a time:

``replica``  SIGKILL one ``ServeReplica:api:Ingress`` process (Serve replaces it)
``shard``    SIGKILL one ``ShardActor`` process (Ray restarts it; it replays its Redis journal)
``redis``    SIGKILL Redis, keep it down ``--down`` seconds, restart it (same port, same data
             dir: it replays its append-only file)
``mongodb``  the same for MongoDB (SecantusDB, WiredTiger journal)

and for each: **lost writes** (every acknowledged position must be at most the one MongoDB holds
for that profile+asset once the shards flushed: polled, then ``actors.drain``), **limit
violations** (a racing-starts probe launched with the fault: ``--racers`` devices of one basic
account start sessions at once and retry 503s until answered; more than one live session is a
violation), every error answer (a 503 must carry ``Retry-After``; any other 5xx, or no answer
within the dependency timeout plus ``--hang-margin``, is counted: hangs are client timeouts)
and the **recovery time** (from the kill to the end of the first round in which every heartbeat
succeeded; for a store, the first such round started after its restart).

Writes ``docs/chaos.md`` and ``docs/chaos.json``. ``tests/e2e/test_chaos.py`` runs the same
:class:`Chaos` on the test suite's stack with fewer faults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from pymongo import MongoClient

from core.protocol import progress_id
from loadtest.provision import provision_into
from stack.local import LocalStack, private_stack
from stack.stores import StoreKind

ROOT = Path(__file__).resolve().parent.parent
FAULTS = ("replica", "shard", "redis", "mongodb")
# What a Ray-managed fault kills: a marker of the worker's command line (its process title).
RAY_TARGETS = {"replica": "ServeReplica:api:Ingress", "shard": "ray::ShardActor"}
STEP_MS = 100  # position added per heartbeat: thousands of rounds stay inside any asset
Say = Callable[[str], None]


@dataclass
class Tally:
    """What every request of one fault's window got back, by kind."""

    requests: int = 0
    ok: int = 0
    retry_503: int = 0  # 503 with Retry-After: the expected answer while something is down
    bare_503: int = 0  # 503 without Retry-After
    status_500: int = 0
    other_5xx: int = 0
    hangs: int = 0  # no answer within the hang limit
    conn_errors: int = 0  # connection refused or reset before an answer
    rate_limited: int = 0
    other_4xx: int = 0
    examples: list[str] = field(default_factory=list)
    _shown: Counter[str] = field(default_factory=Counter, repr=False)

    def count(self, what: str, detail: str) -> None:
        self.requests += 1
        setattr(self, what, getattr(self, what) + 1)
        # A few of each kind, so the first burst of one kind does not hide the others.
        if what not in ("ok", "retry_503", "rate_limited") and self._shown[what] < 3:
            self._shown[what] += 1
            self.examples.append(detail)


@dataclass
class FaultResult:
    fault: str
    target: str
    lost_writes: int
    positions_checked: int
    limit_violations: int
    probe: str
    retry_503: int
    bare_503: int
    status_500: int
    other_5xx: int
    hangs: int
    conn_errors: int
    requests: int
    recovery_s: float | None
    restarted_after_s: float | None  # stores: when we restarted it, after the kill
    replaced_after_s: float | None  # replica, shard: when a new process was running
    examples: list[str]

    @property
    def clean(self) -> bool:
        return (
            self.lost_writes == 0
            and self.limit_violations == 0
            and self.bare_503 + self.status_500 + self.other_5xx + self.hangs == 0
            and self.recovery_s is not None
        )


@dataclass
class Viewer:
    token: str
    profile_id: str
    title_id: str = ""
    asset_id: str = ""
    session_id: str = ""
    position_ms: int = 0  # last sent
    acked_ms: int = -1  # highest position that got a 2xx (accepted)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def provision(stack: LocalStack, count: int, plan: str, out: Path) -> list[dict[str, Any]]:
    """Signed-in accounts written straight to the stack's MongoDB (``loadtest.provision``)."""
    provision_into(stack.env(), count, out, f"{plan}=1")
    accounts: list[dict[str, Any]] = json.loads(out.read_text())["accounts"]
    return accounts


def stack_processes(stack: LocalStack, marker: str) -> list[psutil.Process]:
    """This stack's live processes whose command line contains ``marker``."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            line = " ".join(proc.info["cmdline"] or ())
            if marker in line and proc.status() != "zombie" and stack.ownership.why(proc):
                found.append(proc)
        except psutil.Error:
            continue
    return found


class Chaos:
    """One run of faults against one running stack (``make chaos`` or the e2e test's stack)."""

    def __init__(
        self,
        stack: LocalStack,
        *,
        viewers: int = 40,
        racers: int = 5,
        interval_s: float = 1.0,
        down_s: float = 3.0,
        hang_margin_s: float = 5.0,
        say: Say = print,
    ) -> None:
        self.stack = stack
        self.env = stack.env()
        self.viewer_count = viewers
        self.racers = racers
        self.interval_s = interval_s
        self.down_s = down_s
        dependency_s = int(self.env.get("DEPENDENCY_TIMEOUT_MS", "2000")) / 1000
        self.hang_s = dependency_s + hang_margin_s
        self.say = say
        self.viewers: list[Viewer] = []
        self.probe_accounts: list[dict[str, Any]] = []
        self.viewer_accounts: list[str] = []
        self.tally = Tally()
        self.client = httpx.AsyncClient(
            base_url=stack.base_url,
            timeout=self.hang_s,
            limits=httpx.Limits(max_connections=viewers + 4 * racers + 8),
        )

    # -- requests -------------------------------------------------------------------------------

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """One request, counted in the current tally; ``None`` when there was no answer."""
        label = f"{method} {path.split('?')[0]}"
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            self.tally.count("hangs", f"{label}: no answer within {self.hang_s:.0f}s")
            return None
        except httpx.TransportError as exc:
            self.tally.count("conn_errors", f"{label}: {type(exc).__name__} {exc}")
            return None
        status = response.status_code
        detail = f"{label}: {status} {response.text[:160]!r}"
        if status < 300 or status == 409:
            self.tally.count("ok", detail)
        elif status == 503:
            self.tally.count(
                "retry_503" if "retry-after" in response.headers else "bare_503", detail
            )
        elif status == 500:
            self.tally.count("status_500", detail)
        elif status >= 500:
            self.tally.count("other_5xx", detail)
        elif status == 429:
            self.tally.count("rate_limited", detail)
        else:
            self.tally.count("other_4xx", detail)
        return response

    # -- set-up ---------------------------------------------------------------------------------

    async def setup(self, probes: int) -> None:
        """Viewers with a session each, and one fresh basic account per racing-starts probe."""
        with tempfile.TemporaryDirectory() as tmp:
            viewers = await asyncio.to_thread(
                provision, self.stack, self.viewer_count, "premium", Path(tmp) / "v.json"
            )
            self.probe_accounts = await asyncio.to_thread(
                provision, self.stack, max(1, probes), "basic", Path(tmp) / "p.json"
            )
        self.viewers = [Viewer(a["access_token"], a["profile_id"]) for a in viewers]
        self.viewer_accounts = [a["account_id"] for a in viewers]
        browse = await self.client.get(
            "/v1/content/browse", headers=self.viewers[0].auth, params={"limit": 50}
        )
        browse.raise_for_status()
        titles = [t["id"] for t in browse.json()["content"] if t.get("type") != "series"]
        self.title_ids = titles or [browse.json()["content"][0]["id"]]
        await asyncio.gather(*(self.start_viewer(v, i) for i, v in enumerate(self.viewers)))
        self.say(
            f"  {len(self.viewers)} viewers playing, {len(self.probe_accounts)} probe accounts"
        )

    async def start_viewer(self, viewer: Viewer, index: int) -> None:
        viewer.title_id = self.title_ids[index % len(self.title_ids)]
        body = {
            "profile_id": viewer.profile_id,
            "title_id": viewer.title_id,
            "device": {"device_id": f"chaos-{index}", "platform": "web"},
        }
        for _ in range(30):
            response = await self.client.post(
                "/v1/playback/sessions", headers=viewer.auth, json=body
            )
            if response.status_code == 201:
                created = response.json()
                viewer.session_id, viewer.asset_id = created["session_id"], created["asset_id"]
                viewer.position_ms = created.get("resume_position_ms", 0)
                return
            await asyncio.sleep(1)
        raise RuntimeError(
            f"viewer {index} could not start: {response.status_code} {response.text}"
        )

    # -- heartbeats -----------------------------------------------------------------------------

    async def beat(self, viewer: Viewer) -> bool:
        position = viewer.position_ms = viewer.position_ms + STEP_MS
        response = await self.request(
            "PUT",
            f"/v1/profiles/{viewer.profile_id}/progress",
            headers=viewer.auth,
            json={
                "title_id": viewer.title_id,
                "asset_id": viewer.asset_id,
                "position_ms": position,
                "state": "playing",
                "ts_ms": 1_000_000 + position,  # the player's clock moves with the position
                "session_id": viewer.session_id,
            },
        )
        if response is None or response.status_code != 200:
            return False
        if response.json().get("accepted") is not False:
            viewer.acked_ms = max(viewer.acked_ms, position)
        return True

    async def round(self) -> bool:
        """One heartbeat from every viewer at once; ``True`` if every one got a 2xx."""
        return all(await asyncio.gather(*(self.beat(v) for v in self.viewers)))

    async def rounds(self, log: list[tuple[float, float, bool]], stop: asyncio.Event) -> None:
        """Rounds every ``interval_s`` until ``stop``; ``log`` gets (started, ended, all ok)."""
        while not stop.is_set():
            started = time.monotonic()
            ok = await self.round()
            log.append((started, time.monotonic(), ok))
            pause = self.interval_s - (time.monotonic() - started)
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)

    # -- racing starts --------------------------------------------------------------------------

    async def renew(self, account: dict[str, Any], session: dict[str, Any], position: int) -> bool:
        """One heartbeat of a probe account's session (renewing its lease); True on a 200."""
        response = await self.request(
            "PUT",
            f"/v1/profiles/{account['profile_id']}/progress",
            headers={"Authorization": f"Bearer {account['access_token']}"},
            json={
                "title_id": session["title_id"],
                "asset_id": session["asset_id"],
                "position_ms": position,
                "state": "playing",
                "session_id": session["session_id"],
            },
        )
        return response is not None and response.status_code == 200

    async def race(self, account: dict[str, Any], deadline_s: float = 90.0) -> tuple[int, str]:
        """``racers`` devices of one basic account start at once and retry until answered.

        Returns (violations, summary). A win that came while an earlier winner's lease was
        provably alive (renewed by a 2xx heartbeat within the lease TTL) is a violation."""
        auth = {"Authorization": f"Bearer {account['access_token']}"}
        wins: list[float] = []
        renewed: list[float] = []  # last 2xx renewal of the live winner's session
        outcome: dict[str, int] = {"201": 0, "409": 0, "unanswered": 0}
        violations = 0
        ttl_s = 6.0
        settled = asyncio.Event()
        pending = self.racers
        end = time.monotonic() + deadline_s

        async def keep_alive(session: dict[str, Any]) -> None:
            position = 0
            while not settled.is_set():
                await asyncio.sleep(min(2.0, ttl_s / 3))
                position += STEP_MS
                if await self.renew(account, session, position):
                    renewed[-1] = time.monotonic()

        async def device(index: int) -> None:
            nonlocal pending, violations, ttl_s
            body = {
                "profile_id": account["profile_id"],
                "title_id": self.title_ids[0],
                "device": {"device_id": f"racer-{index}", "platform": "tv"},
            }
            try:
                while time.monotonic() < end:
                    response = await self.request(
                        "POST", "/v1/playback/sessions", headers=auth, json=body
                    )
                    if response is not None and response.status_code == 201:
                        now = time.monotonic()
                        if wins and now < renewed[-1] + ttl_s:
                            violations += 1
                        session = response.json()
                        ttl_s = float(session.get("lease_ttl_sec", ttl_s))
                        wins.append(now)
                        renewed.append(now)
                        outcome["201"] += 1
                        asyncio.get_running_loop().create_task(keep_alive(session))
                        return
                    if response is not None and response.status_code == 409:
                        outcome["409"] += 1
                        return
                    retry = 1.0
                    if response is not None and "retry-after" in response.headers:
                        retry = float(response.headers["retry-after"])
                    await asyncio.sleep(min(max(retry, 1.0), 3.0) * (1 + random.random()))
                outcome["unanswered"] += 1
            finally:
                pending -= 1
                if pending == 0:
                    settled.set()

        await asyncio.gather(*(device(i) for i in range(self.racers)))
        summary = (
            f"{outcome['201']} started, {outcome['409']} refused (limit), "
            f"{outcome['unanswered']} unanswered of {self.racers}"
        )
        return violations, summary

    # -- faults ---------------------------------------------------------------------------------

    def ray_managed(self, fault: str) -> bool:
        """Ray replaces what this fault kills (no restart by us); see ``loadtest.multinode``."""
        return fault in RAY_TARGETS

    def kill_ray_worker(self, fault: str) -> tuple[str, int]:
        procs = stack_processes(self.stack, RAY_TARGETS[fault])
        if not procs:
            raise RuntimeError(f"no {RAY_TARGETS[fault]} process found")
        victim = random.choice(procs)
        victim.kill()
        return f"{RAY_TARGETS[fault]} pid {victim.pid}", len(procs)

    def kill_store(self, kind: StoreKind) -> str:
        proc = self.stack.store(kind).proc
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the store and any child
        proc.wait()
        return f"{kind} pid {proc.pid}"

    async def wait_replaced(self, fault: str, count: int, timeout_s: float = 180.0) -> float | None:
        """Until as many processes of the kind run as before the kill (Ray replaced it)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if len(stack_processes(self.stack, RAY_TARGETS[fault])) >= count:
                return time.monotonic() - start
            await asyncio.sleep(1)
        return None

    async def run_fault(self, fault: str, probe_account: dict[str, Any]) -> FaultResult:
        self.say(f"[{fault}] steady: {3} rounds of {len(self.viewers)} heartbeats")
        self.tally = Tally()
        log: list[tuple[float, float, bool]] = []
        stop = asyncio.Event()
        load = asyncio.get_running_loop().create_task(self.rounds(log, stop))
        await asyncio.sleep(3 * self.interval_s)
        self.tally = Tally()  # the fault's window starts here
        killed_at = time.monotonic()
        restarted_after = replaced_after = None
        if self.ray_managed(fault):
            target, before = await asyncio.to_thread(self.kill_ray_worker, fault)
        else:
            target = await asyncio.to_thread(self.kill_store, fault)  # type: ignore[arg-type]
        self.say(f"[{fault}] killed {target} (SIGKILL); racing {self.racers} starts")
        probe = asyncio.get_running_loop().create_task(self.race(probe_account))
        recovered_from = killed_at
        if not self.ray_managed(fault):
            await asyncio.sleep(self.down_s)
            self.say(f"[{fault}] restarting it on the same port and data dir")
            await asyncio.to_thread(self.stack.start_store, fault)  # type: ignore[arg-type]
            restarted_after = recovered_from = time.monotonic()
            restarted_after -= killed_at
            self.say(f"[{fault}] listening again after {restarted_after:.1f}s")
        else:
            replaced = asyncio.get_running_loop().create_task(self.wait_replaced(fault, before))
        recovery = await self.wait_recovered(log, recovered_from, killed_at)
        if recovery is None:
            self.say(f"[{fault}] NOT recovered: no fully successful round within the limit")
        else:
            self.say(f"[{fault}] recovered: first fully successful round ended {recovery:.1f}s")
        violations, summary = await probe
        self.say(f"[{fault}] racing starts: {summary}; {violations} violation(s)")
        if self.ray_managed(fault):
            replaced_after = await replaced
            self.say(f"[{fault}] replacement running after {replaced_after or -1:.0f}s")
        await asyncio.sleep(3 * self.interval_s)
        stop.set()
        await load
        tally = self.tally
        self.say(f"[{fault}] verifying acknowledged positions against MongoDB")
        lost, checked = await self.verify()
        self.say(
            f"[{fault}] {lost} of {checked} acknowledged positions lost; "
            f"{tally.requests} requests: {tally.ok} ok, {tally.retry_503} 503+Retry-After, "
            f"{tally.bare_503} bare 503, {tally.status_500} 500, {tally.other_5xx} other 5xx, "
            f"{tally.hangs} hangs, {tally.conn_errors} connection errors"
        )
        return FaultResult(
            fault=fault,
            target=target,
            lost_writes=lost,
            positions_checked=checked,
            limit_violations=violations,
            probe=summary,
            retry_503=tally.retry_503,
            bare_503=tally.bare_503,
            status_500=tally.status_500,
            other_5xx=tally.other_5xx,
            hangs=tally.hangs,
            conn_errors=tally.conn_errors,
            requests=tally.requests,
            recovery_s=recovery,
            restarted_after_s=restarted_after,
            replaced_after_s=replaced_after,
            examples=tally.examples,
        )

    async def wait_recovered(
        self, log: list[tuple[float, float, bool]], since: float, killed_at: float
    ) -> float | None:
        """Seconds from the kill to the end of the first all-2xx round started after ``since``."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            for started, ended, ok in list(log):
                if ok and started >= since:
                    return ended - killed_at
            await asyncio.sleep(0.2)
        return None

    # -- verification ---------------------------------------------------------------------------

    def stored_positions(self) -> dict[str, int]:
        ids = [progress_id(v.profile_id, v.asset_id) for v in self.viewers]
        client: MongoClient[dict[str, Any]] = MongoClient(
            self.env["MONGODB_URL"], serverSelectionTimeoutMS=10_000
        )
        with client:
            db = client[self.env.get("MONGODB_DB", "streaming")]
            rows = db.progress.find({"_id": {"$in": ids}}, {"position_ms": 1})
            return {row["_id"]: int(row["position_ms"]) for row in rows}

    def missing(self, stored: dict[str, int]) -> int:
        return sum(
            1
            for v in self.viewers
            if v.acked_ms >= 0
            and stored.get(progress_id(v.profile_id, v.asset_id), -1) < v.acked_ms
        )

    async def verify(self, flush_wait_s: float = 15.0) -> tuple[int, int]:
        """(lost, checked): waits for the shards' own flushes, then drains them once."""
        checked = sum(1 for v in self.viewers if v.acked_ms >= 0)
        deadline = time.monotonic() + flush_wait_s
        while True:
            lost = self.missing(await asyncio.to_thread(self.stored_positions))
            if lost == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        if lost:
            self.say(f"  {lost} not in MongoDB after {flush_wait_s:.0f}s: draining the shards")
            await asyncio.to_thread(self.drain)
            lost = self.missing(await asyncio.to_thread(self.stored_positions))
        return lost, checked

    def drain(self) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "actors.drain",
                "--address",
                self.stack.head.gcs_address
                if self.stack.head is not None
                else f"127.0.0.1:{self.stack.ports.gcs}",
            ],
            env={**os.environ, **self.env},
            cwd=ROOT,
            check=False,
            timeout=120,
        )

    async def run(self, faults: Sequence[str]) -> list[FaultResult]:
        self.say(f"setting up {self.viewer_count} viewers (hang limit {self.hang_s:.0f}s)")
        await self.setup(len(faults))
        results = []
        try:
            for fault, account in zip(faults, self.probe_accounts, strict=False):
                results.append(await self.run_fault(fault, account))
        finally:
            await self.client.aclose()
        return results


# -- report ------------------------------------------------------------------------------------

COLUMNS = (
    "fault",
    "lost writes",
    "limit violations",
    "503s without Retry-After",
    "500s",
    "other 5xx",
    "hangs",
    "503s with Retry-After",
    "connection errors",
    "requests",
    "recovery s",
)


def table(results: Sequence[FaultResult]) -> list[str]:
    def secs(value: float | None) -> str:
        return "not recovered" if value is None else f"{value:.1f}"

    lines = ["| " + " | ".join(COLUMNS) + " |", "| --- |" + " ---: |" * (len(COLUMNS) - 1)]
    for r in results:
        cells = [
            r.fault,
            f"{r.lost_writes} of {r.positions_checked}",
            str(r.limit_violations),
            str(r.bare_503),
            str(r.status_500),
            str(r.other_5xx),
            str(r.hangs),
            str(r.retry_503),
            str(r.conn_errors),
            f"{r.requests:,}",
            secs(r.recovery_s),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_report(out: Path, results: Sequence[FaultResult], args: argparse.Namespace) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m loadtest.chaos " + " ".join(sys.argv[1:])
    out.mkdir(parents=True, exist_ok=True)
    body = {
        "generated": when,
        "command": command.strip(),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "cores": os.cpu_count(),
        "results": [asdict(r) for r in results],
    }
    (out / "chaos.json").write_text(json.dumps(body, indent=2) + "\n")
    details = []
    for r in results:
        extra = []
        if r.restarted_after_s is not None:
            extra.append(f"restarted {r.restarted_after_s:.1f}s after the kill")
        if r.replaced_after_s is not None:
            extra.append(f"replacement process running {r.replaced_after_s:.0f}s after the kill")
        details.append(
            f"- **{r.fault}** ({r.target}): racing starts {r.probe}; " + "; ".join(extra)
        )
        details += [f"  - e.g. `{example}`" for example in r.examples[:4]]
    lines = [
        "# Chaos",
        "",
        f"Generated by `{command.strip()}` (`make chaos`) on {when}, {os.cpu_count()} cores. "
        f"{args.viewers} viewers heartbeat every {args.interval}s; one fault at a time, each a "
        "SIGKILL under that load. See the module docstring of `loadtest/chaos.py` for what each "
        "column means.",
        "",
        *table(results),
        "",
        "- **lost writes**: acknowledged (2xx) positions that MongoDB does not hold (or holds an "
        "older one of) after the shards flushed, out of the profile+asset positions checked "
        "(every viewer's, cumulative over the run).",
        "- **limit violations**: racing-starts probe on a basic account (1 stream) launched "
        "with the fault: a second session started while the first one's lease was alive.",
        f"- **hangs**: no answer within the dependency timeout + margin ({args.hang_margin}s). "
        "**connection errors**: refused/reset before any answer.",
        "- **recovery s**: from the kill to the end of the first round in which every viewer's "
        "heartbeat got a 2xx (for Redis and MongoDB, the first such round started after the "
        f"restart, which came {args.down}s after the kill).",
        "",
        "## Per fault",
        "",
        *details,
        "",
    ]
    (out / "chaos.md").write_text("\n".join(lines))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.chaos", description=__doc__)
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, in order")
    parser.add_argument("--viewers", type=int, default=40)
    parser.add_argument("--racers", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    parser.add_argument("--down", type=float, default=3.0, help="seconds a store stays down")
    parser.add_argument("--hang-margin", type=float, default=5.0, help="over the dep. timeout")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    unknown = set(args.faults.split(",")) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; choose from {FAULTS}")
    return args


def run_on(stack: LocalStack, args: argparse.Namespace, say: Say = print) -> list[FaultResult]:
    chaos = Chaos(
        stack,
        viewers=args.viewers,
        racers=args.racers,
        interval_s=args.interval,
        down_s=args.down,
        hang_margin_s=args.hang_margin,
        say=say,
    )
    return asyncio.run(chaos.run(args.faults.split(",")))


# Short leases and fast flushes: expiry and durability are observable within a fault's window.
STACK_ENV = {"LEASE_TTL_S": "6", "PROGRESS_FLUSH_S": "1", "PROGRESS_PERSIST_S": "1"}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with private_stack("chaos-", extra_env=STACK_ENV) as stack:  # the faults kill its stores
        results = run_on(stack, args, say=lambda line: print(line, flush=True))
    write_report(args.out, results, args)
    print("\n".join(table(results)))
    print(f"wrote {args.out / 'chaos.md'} and {args.out / 'chaos.json'}")
    return 0 if all(r.clean for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
