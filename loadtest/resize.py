"""``python -m loadtest.resize`` (``make resize``): the shard pool resized online, under load.

A private stack; viewers heartbeat every second (as in ``loadtest.chaos``). Before each resize a
one-stream account whose shard changes starts a stream on a "holder" device and keeps it alive;
during the resize a "challenger" device of the same account tries to start every half second.
Then ``serve deploy`` of ``ray_config.yaml`` with another ``args.shard_count`` (2 → 3, then
3 → 2): the new Ingress replicas ask the director for the new count and the accounts move
(``actors/director.py``). Per resize it reports what moved (the director's report in Redis),
every answer during the resize by kind, stream-limit violations (a challenger that started
while the holder's lease was provably alive), acknowledged positions missing from MongoDB
afterwards, and whether the holder's stream kept working on its new shard.

Writes ``docs/resize.md`` and ``docs/resize.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import yaml

from actors.director import LAST_MOVE_KEY
from actors.routing import RING_KEY, load_ring, shard_of
from loadtest.chaos import STACK_ENV, Chaos, Say, Tally
from stack.local import LocalStack, private_stack

ROOT = Path(__file__).resolve().parent.parent
HOLDER_BEAT_S = 1.0
CHALLENGE_EVERY_S = 0.5


@dataclass
class ResizeResult:
    from_count: int
    to_count: int
    deploy_s: float  # `serve deploy` until every application is RUNNING again
    move: dict[str, Any]  # the director's MoveReport
    viewers_moved: int  # of the viewers, how many accounts changed shard
    viewers: int
    requests: int
    ok: int
    retry_503: int
    bare_503: int
    status_500: int
    other_5xx: int
    hangs: int
    conn_errors: int
    lost_writes: int
    positions_checked: int
    limit_violations: int
    challenges: dict[str, int] = field(default_factory=dict)  # status → count
    holder_beats_after: int = 0  # the holder's 2xx heartbeats on its new shard, after the move
    examples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (
            self.lost_writes == 0
            and self.limit_violations == 0
            and self.bare_503 + self.status_500 + self.other_5xx + self.hangs == 0
            and self.conn_errors == 0
            and self.holder_beats_after > 0
            and self.move.get("to_count") == self.to_count
        )


class Resize(Chaos):
    """Resizes of one running stack's shard pool under the viewers' heartbeats."""

    def __init__(self, stack: LocalStack, **kwargs: Any) -> None:
        super().__init__(stack, **kwargs)
        self.redis = redis.Redis.from_url(self.env["REDIS_URL"])

    def ring_count(self) -> int:
        ring = load_ring(self.redis.get(RING_KEY))  # type: ignore[arg-type]
        if ring is None or ring.moving_from is not None:
            raise RuntimeError(f"no stable ring: {ring}")
        return ring.count

    def deploy(self, count: int) -> float:
        """``serve deploy`` of the stack's config with ``args.shard_count: count``."""
        assert self.stack.head is not None
        source = self.stack.data_dir / "ray_config.deployed.yaml"
        config = yaml.safe_load(source.read_text())
        for app in config["applications"]:
            if "shard_count" in app.get("args", {}):
                app["args"]["shard_count"] = count
        target = self.stack.data_dir / f"ray_config.shards-{count}.yaml"
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        started = time.monotonic()
        self.stack.head.deploy(target)
        return time.monotonic() - started

    async def wait_stable(self, count: int, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ring = load_ring(await asyncio.to_thread(self.redis.get, RING_KEY))  # type: ignore[arg-type]
            if ring is not None and ring.moving_from is None and ring.count == count:
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"the ring did not settle at {count} shards within {timeout_s:.0f}s")

    async def resize(self, to: int, probe: dict[str, Any]) -> ResizeResult:
        before = await asyncio.to_thread(self.ring_count)
        self.say(f"[{before}->{to}] steady: 3 rounds of {len(self.viewers)} heartbeats")
        log: list[tuple[float, float, bool]] = []
        stop = asyncio.Event()
        load = asyncio.get_running_loop().create_task(self.rounds(log, stop))
        holder = await self.hold(probe)
        await asyncio.sleep(3 * self.interval_s)
        self.tally = Tally()  # the resize's window starts here
        done = asyncio.Event()
        challenges: dict[str, int] = {}
        violations: list[int] = [0]
        challenger = asyncio.get_running_loop().create_task(
            self.challenge(probe, holder, done, challenges, violations)
        )
        self.say(f"[{before}->{to}] serve deploy with shard_count {to}")
        deploy_s = await asyncio.to_thread(self.deploy, to)
        await self.wait_stable(to)
        moved_at = time.monotonic()
        self.say(f"[{before}->{to}] deployed in {deploy_s:.0f}s; ring stable at {to}")
        await asyncio.sleep(4 * self.interval_s)
        done.set()
        await challenger
        holder["stop"].set()
        await holder["task"]
        stop.set()
        await load
        tally = self.tally
        lost, checked = await self.verify()
        raw = await asyncio.to_thread(self.redis.get, LAST_MOVE_KEY)
        move: dict[str, Any] = json.loads(raw) if raw else {}
        moved = sum(shard_of(a, before) != shard_of(a, to) for a in self.viewer_accounts)
        result = ResizeResult(
            from_count=before,
            to_count=to,
            deploy_s=deploy_s,
            move=move,
            viewers_moved=moved,
            viewers=len(self.viewers),
            requests=tally.requests,
            ok=tally.ok,
            retry_503=tally.retry_503,
            bare_503=tally.bare_503,
            status_500=tally.status_500,
            other_5xx=tally.other_5xx,
            hangs=tally.hangs,
            conn_errors=tally.conn_errors,
            lost_writes=lost,
            positions_checked=checked,
            limit_violations=violations[0],
            challenges=challenges,
            holder_beats_after=sum(1 for at in holder["renewed"] if at > moved_at),
            examples=tally.examples,
        )
        self.say(
            f"[{before}->{to}] {move.get('accounts_moved')} accounts / "
            f"{move.get('sessions_moved')} sessions moved, frozen {move.get('frozen_s', 0):.2f}s; "
            f"{tally.requests} requests: {tally.ok} ok, {tally.retry_503} 503+Retry-After, "
            f"{tally.bare_503 + tally.status_500 + tally.other_5xx} other 5xx, {tally.hangs} "
            f"hangs, {tally.conn_errors} connection errors; lost {lost} of {checked}; "
            f"limit violations {violations[0]}; challenges {challenges}"
        )
        return result

    async def hold(self, account: dict[str, Any]) -> dict[str, Any]:
        """The probe account's stream on its "holder" device, kept alive until ``stop``."""
        auth = {"Authorization": f"Bearer {account['access_token']}"}
        body = {
            "profile_id": account["profile_id"],
            "title_id": self.title_ids[0],
            "device": {"device_id": "holder", "platform": "tv"},
        }
        for _ in range(30):
            response = await self.request("POST", "/v1/playback/sessions", headers=auth, json=body)
            if response is not None and response.status_code == 201:
                break
            await asyncio.sleep(1)
        else:
            raise RuntimeError("the holder could not start its stream")
        session = response.json()
        state: dict[str, Any] = {
            "renewed": [time.monotonic()],
            "ttl_s": float(session.get("lease_ttl_sec", 60)),
            "stop": asyncio.Event(),
        }

        async def keep_alive() -> None:
            position = 0
            while not state["stop"].is_set():
                await asyncio.sleep(HOLDER_BEAT_S)
                position += 100
                if await self.renew(account, session, position):
                    state["renewed"].append(time.monotonic())

        state["task"] = asyncio.get_running_loop().create_task(keep_alive())
        return state

    async def challenge(
        self,
        account: dict[str, Any],
        holder: dict[str, Any],
        done: asyncio.Event,
        outcomes: dict[str, int],
        violations: list[int],
    ) -> None:
        """A second device tries to start every half second while the holder streams."""
        auth = {"Authorization": f"Bearer {account['access_token']}"}
        body = {
            "profile_id": account["profile_id"],
            "title_id": self.title_ids[0],
            "device": {"device_id": "challenger", "platform": "web"},
        }
        while not done.is_set():
            response = await self.request("POST", "/v1/playback/sessions", headers=auth, json=body)
            status = "no answer" if response is None else str(response.status_code)
            outcomes[status] = outcomes.get(status, 0) + 1
            if status == "201" and time.monotonic() < holder["renewed"][-1] + holder["ttl_s"]:
                violations[0] += 1  # two streams on a one-stream account
            await asyncio.sleep(CHALLENGE_EVERY_S)

    async def run_resizes(self, counts: list[int]) -> list[ResizeResult]:
        await self.setup(0)
        with tempfile.TemporaryDirectory() as tmp:
            from loadtest.chaos import provision

            probes = await asyncio.to_thread(
                provision, self.stack, 24, "basic", Path(tmp) / "probes.json"
            )
        results = []
        try:
            for to in counts:
                before = await asyncio.to_thread(self.ring_count)
                moving = [
                    a
                    for a in probes
                    if shard_of(a["account_id"], before) != shard_of(a["account_id"], to)
                ]
                if not moving:
                    raise RuntimeError("no probe account changes shard; provision more")
                probes.remove(moving[0])
                results.append(await self.resize(to, moving[0]))
        finally:
            await self.client.aclose()
        return results


def write_report(out: Path, results: list[ResizeResult], viewers: int) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out.mkdir(parents=True, exist_ok=True)
    (out / "resize.json").write_text(
        json.dumps(
            {"generated": when, "cores": os.cpu_count(), "results": [asdict(r) for r in results]},
            indent=2,
        )
        + "\n"
    )
    lines = [
        "# Online shard resize",
        "",
        f"Generated by `python -m loadtest.resize` (`make resize`) on {when}, {os.cpu_count()} "
        f"cores. {viewers} viewers heartbeat every second; each resize is a `serve deploy` of "
        "`ray_config.yaml` with another `args.shard_count` while they play. See the module "
        "docstring of `loadtest/resize.py` for the probe, `actors/director.py` for the move.",
        "",
        "| resize | accounts moved | sessions moved | progress entries moved | frozen s | "
        "viewers moved | requests | 503 + Retry-After | other 5xx | hangs | connection errors | "
        "lost writes | limit violations | holder beats after | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
        "---: | ---: | --- |",
    ]
    for r in results:
        m = r.move
        lines.append(
            f"| {r.from_count} → {r.to_count} | {m.get('accounts_moved', '?')} | "
            f"{m.get('sessions_moved', '?')} | {m.get('progress_moved', '?')} | "
            f"{m.get('frozen_s', 0):.2f} | {r.viewers_moved} of {r.viewers} | {r.requests:,} | "
            f"{r.retry_503} | {r.bare_503 + r.status_500 + r.other_5xx} | {r.hangs} | "
            f"{r.conn_errors} | {r.lost_writes} of {r.positions_checked} | "
            f"{r.limit_violations} | {r.holder_beats_after} | "
            f"{'clean' if r.clean else 'NOT clean'} |"
        )
    lines += [
        "",
        "- **accounts / sessions / progress entries moved**: the director's report "
        "(`redis-cli get shards:last_move`); accounts counted over every shard's state.",
        "- **frozen s**: from the moving ring reaching the shards to the stable one; only "
        "accounts that change shard answer 503 + Retry-After in that window.",
        "- **viewers moved**: of this run's viewers, how many accounts changed shard "
        "(jump consistent hashing moves 1/3 on 2 → 3 and back; `crc32 % N` would move ~1/2).",
        "- **limit violations**: the one-stream probe's challenger started while the holder's "
        "lease was alive. **holder beats after**: the holder's 2xx heartbeats after the move, "
        "on its new shard (its lease moved with it).",
        "- **lost writes**: acknowledged positions MongoDB lacks after the shards flushed.",
        "",
    ]
    for r in results:
        lines.append(
            f"- {r.from_count} → {r.to_count}: `serve deploy` until RUNNING {r.deploy_s:.0f}s; "
            f"challenger answers {r.challenges}"
        )
        lines += [f"  - e.g. `{example}`" for example in r.examples[:4]]
    (out / "resize.md").write_text("\n".join(lines) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.resize", description=__doc__)
    parser.add_argument("--viewers", type=int, default=40)
    parser.add_argument("--counts", default="3,2", help="shard counts to resize to, in order")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    with private_stack("resize-", extra_env=STACK_ENV) as stack:
        say: Say = lambda line: print(line, flush=True)  # noqa: E731
        resize = Resize(stack, viewers=args.viewers, say=say)
        results = asyncio.run(resize.run_resizes(counts))
    write_report(args.out, results, args.viewers)
    print((args.out / "resize.md").read_text())
    return 0 if all(r.clean for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
