"""Real viewers for performance engineers: browse, play with DRM, heartbeat, finish or walk away.

    locust -f loadtest/locustfile.py --headless -H http://127.0.0.1:8000 -u 200 -r 20 -t 10m \\
        --accounts-file accounts.json --csv out/run --html out/run.html

Each Locust user is one person on one web player, on an account of its own (from
``--accounts-file``, written by ``python -m loadtest.provision``, else registered on start with a
plan drawn from ``--plan-mix``). Tasks, selectable with ``--tags`` / ``--exclude-tags``:

``browse``   home → search → one or two title pages, with think times.
``playback`` home (sometimes search) → title page → session → signed manifest from the media
             origin → Clear Key license (the three together are reported as "time to first
             frame", type ``TTFF``) → a heartbeat every ``--heartbeat-interval`` seconds
             (progress with increasing position and player clock, QoE events: pauses, seeks,
             bitrate changes, the odd rebuffer; how late each beat left is reported as
             "heartbeat lag", type ``LAG``) → finished (progress ``finished``, ``end`` event, stop)
             or abandoned (no stop: the lease expires, or this device's next start replaces it).
             Now and then a second device of the same account tries to start mid-play.
``limits``   start, then more devices of the account until the plan's stream limit answers
             409 ``STREAM_LIMIT_REACHED`` (the expected answer, counted a success), then stop.

``--shape`` turns on ramp → steady → spike → drain; without it ``-u/-r/-t`` work as usual. At the
end the ``quitting`` hook judges the HTTP requests (not the TTFF/LAG measurements): failure ratio
above ``--max-failure-ratio`` or p95 above ``--max-p95-ms`` (optionally TTFF p95 above
``--max-ttff-p95-ms``) or any exception in user code sets exit code 1, else 0.

Distributed (``--processes N`` or ``--master`` + ``--worker``): every process loads the accounts
file itself, at its first user's start, and takes the share ``accounts[worker_index::workers]``
(``workers`` = ``--expect-workers``, which ``--processes`` sets), so no two users anywhere share an
account while the file has at least as many accounts as users. A worker whose index is outside
that range (it joined late) takes a random order of the whole file instead: collisions become
possible and show up as unexpected 409s. This file needs only Locust (no project imports), so a
worker machine can run it from a plain copy.

Rate limits are per account: a viewer stays far inside ``streaming`` 100/60 s at 10 s beats, but
``content`` (browse, 1000/h) is only ~16/min: keep think times realistic in long runs or raise
the budgets in ``ray_config.yaml`` (``user_config.rate_limits``). A 429 counts as a failure.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import random
import re
import secrets
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import gevent
from locust import FastHttpUser, LoadTestShape, events, tag, task
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import StatsEntry

logger = logging.getLogger("viewers")

STREAM_LIMIT = {"basic": 1, "standard": 2, "premium": 4}  # the contract's plan limits
PLANS = tuple(STREAM_LIMIT)
MEASUREMENTS = {"TTFF", "LAG"}  # our own request types: timings, not HTTP requests
BITRATES_KBPS = (800, 1600, 3200, 5000, 8000)
QOE_KINDS = {"bitrate_change": 0.45, "seek": 0.2, "pause": 0.2, "rebuffer": 0.15}
KID = re.compile(r'cenc:default_KID="([0-9a-fA-F-]{32,36})"')
FALLBACK_QUERIES = ("the", "night", "love", "story", "last")
SESSION_NAME = "POST /v1/playback/sessions"
PROBE_NAME = "POST /v1/playback/sessions (second device)"
STOP_NAME = "POST /v1/streaming/{id}/stop"
PROGRESS_NAME = "PUT /v1/profiles/{id}/progress"
EVENTS_NAME = "POST /v1/playback/events"
RENEW_BEFORE_S = 60  # sign in again this long before the access token expires


# -- options ----------------------------------------------------------------------------------


def parse_plan_mix(raw: str) -> dict[str, float]:
    """``basic=30,standard=40,premium=30`` → weights (the same syntax as loadtest.provision)."""
    weights = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, value = item.partition("=")
        if name.strip() not in PLANS or not value:
            raise ValueError(f"--plan-mix entry {item!r} is not PLAN=WEIGHT, PLAN in {PLANS}")
        weights[name.strip()] = float(value)
    if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
        raise ValueError(f"--plan-mix {raw!r} needs a positive weight")
    return weights


def parse_range(raw: str) -> tuple[float, float]:
    """``MIN-MAX`` (or one number) → (min, max) with 0 <= min <= max."""
    low, _, high = raw.partition("-")
    pair = (float(low), float(high or low))
    if not 0 <= pair[0] <= pair[1]:
        raise ValueError(f"{raw!r} is not MIN-MAX with 0 <= MIN <= MAX")
    return pair


def _checked(parse: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse type that validates at parse time (before Locust forks or connects
    workers) but keeps the option a plain string, as the web UI and the workers see it."""

    def check(raw: str) -> str:
        try:
            parse(raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return raw

    return check


def _number(low: float, high: float = float("inf")) -> Callable[[str], float]:
    def number(raw: str) -> float:
        value = float(raw)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{raw} is outside [{low}, {high}]")
        return value

    return number


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    """Custom options; Locust forwards them from the master to every worker."""
    add = parser.add_argument
    fraction, positive = _number(0, 1), _number(0.001)
    add("--accounts-file", default="", help="accounts from loadtest.provision (default: register)")
    add("--sign-in", action="store_true", help="log in with the file's password, not its tokens")
    add(
        "--plan-mix",
        type=_checked(parse_plan_mix),
        default="basic=30,standard=40,premium=30",
        help="plans of the users that register (without --accounts-file)",
    )
    add(
        "--think-time",
        type=_checked(parse_range),
        default="1-5",
        help="seconds between a viewer's steps, MIN-MAX",
    )
    add("--heartbeat-interval", type=positive, default=10.0, help="seconds between heartbeats")
    add(
        "--watch-beats",
        type=_checked(parse_range),
        default="30-180",
        help="heartbeats per play, MIN-MAX",
    )
    add(
        "--finish-ratio",
        type=fraction,
        default=0.6,
        help="plays watched to the end; others abandon",
    )
    add(
        "--second-device-ratio", type=fraction, default=0.1, help="plays a second device interrupts"
    )
    add(
        "--qoe-events-per-min",
        type=_number(0),
        default=2.0,
        help="QoE events per playback minute",
    )
    add("--max-failure-ratio", type=fraction, default=0.01, help="exit 1 above this failure ratio")
    add(
        "--max-p95-ms",
        type=_number(0),
        default=500.0,
        help="exit 1 above this p95 (HTTP requests)",
    )
    add(
        "--max-ttff-p95-ms",
        type=_number(0),
        default=0.0,
        help="exit 1 above this TTFF p95 (0: off)",
    )
    add("--shape", action="store_true", help="ramp → steady → spike → drain instead of -u/-r")
    add("--shape-users", type=int, default=100, help="users in the steady stage")
    add("--shape-spike-users", type=int, default=300, help="users at the spike")
    add("--shape-ramp-s", type=_number(0), default=60.0, help="ramp duration")
    add("--shape-steady-s", type=_number(0), default=300.0, help="steady duration")
    add("--shape-spike-s", type=_number(0), default=60.0, help="spike duration")
    add("--shape-drain-s", type=_number(0), default=60.0, help="drain duration (down to 0 users)")


# -- accounts ---------------------------------------------------------------------------------


@dataclass
class Identity:
    email: str
    password: str
    plan: str
    profile_id: str | None = None
    access_token: str | None = None
    expires_at: float = 0.0
    registered: bool = True  # False: the viewer registers it on start

    def needs_sign_in(self) -> bool:
        return self.access_token is None or time.time() > self.expires_at - RENEW_BEFORE_S


class AccountPool:
    """This process's share of the accounts file, handed out one account per user.

    Module-level, so it is per process: forked workers (``--processes``) and remote workers
    each load and split the file themselves, nothing is shared across processes.
    """

    def __init__(self) -> None:
        self._share: list[Identity] | None = None
        self._taken = 0

    def take(self, environment: Environment) -> Identity | None:
        path = environment.parsed_options.accounts_file
        if not path:
            return None
        if self._share is None:
            self._share = _load_share(path, environment)
        if self._taken == len(self._share):
            logger.warning(
                "more users than accounts (%d) in this process's share: accounts are now shared "
                "and stream limits will refuse some starts",
                len(self._share),
            )
        identity = replace(self._share[self._taken % len(self._share)])
        self._taken += 1
        if environment.parsed_options.sign_in:
            identity.access_token = None  # sign in with the shared password instead
        return identity


def _load_share(path: str, environment: Environment) -> list[Identity]:
    with open(path) as handle:
        body = json.load(handle)
    rows = [
        Identity(
            email=row["email"],
            password=body["password"],
            plan=row["plan"],
            profile_id=row["profile_id"],
            access_token=row["access_token"],
            expires_at=float(row["expires_at"]),
        )
        for row in body["accounts"]
    ]
    index, workers = _worker_slot(environment)
    share = rows[index::workers] if index is not None else random.sample(rows, len(rows))
    if not share:
        raise ValueError(f"{path}: {len(rows)} accounts cannot be split over {workers} workers")
    logger.info(
        "accounts: %d of %d from %s (slot %s of %d)", len(share), len(rows), path, index, workers
    )
    return share


def _worker_slot(environment: Environment) -> tuple[int | None, int]:
    """(this worker's index, the worker count); index None when it cannot be trusted."""
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        return 0, 1  # a single-process run owns the whole file
    workers = max(1, int(getattr(environment.parsed_options, "expect_workers", 1) or 1))
    if 0 <= runner.worker_index < workers:
        return runner.worker_index, workers
    logger.warning(
        "worker index %d is outside --expect-workers %d: using the whole accounts file in a "
        "random order (collisions with other workers are possible)",
        runner.worker_index,
        workers,
    )
    return None, workers


ACCOUNTS = AccountPool()


# -- one play ---------------------------------------------------------------------------------


@dataclass
class Playback:
    """The player's view of one session."""

    session_id: str
    title_id: str
    asset_id: str
    duration_ms: int
    position_ms: int
    bitrate_kbps: int
    last_ts_ms: int = 0
    paused_beats: int = 0
    rebuffering: bool = False

    def next_ts_ms(self) -> int:
        """The player clock: wall time, but strictly increasing (progress is ordered by it)."""
        self.last_ts_ms = max(int(time.time() * 1000), self.last_ts_ms + 1)
        return self.last_ts_ms


def clear_key_challenge(kids_hex: list[str]) -> str:
    """A W3C Clear Key license request: base64 of {"kids": [base64url key ids], ...}."""
    kids = [base64.urlsafe_b64encode(bytes.fromhex(kid)).rstrip(b"=").decode() for kid in kids_hex]
    return base64.b64encode(json.dumps({"kids": kids, "type": "temporary"}).encode()).decode()


def manifest_kids(mpd: str) -> list[str]:
    """Distinct key ids (hex) of a CENC DASH manifest, in order of appearance."""
    return list(dict.fromkeys(kid.replace("-", "").lower() for kid in KID.findall(mpd)))


def license_kids(license_b64: str) -> set[str]:
    """Key ids (hex) of a Clear Key license, i.e. base64 of a JWK set."""
    jwks = json.loads(base64.b64decode(license_b64))
    return {base64.urlsafe_b64decode(key["kid"] + "==").hex() for key in jwks["keys"]}


def asset_duration_ms(page: dict[str, Any], asset_id: str) -> int:
    """The playing asset's length from the title page (a movie, or one of its episodes)."""
    for season in page.get("seasons", []):
        for episode in season["episodes"]:
            if episode["asset_id"] == asset_id:
                return int(episode["duration_s"]) * 1000
    return int(page["duration_s"]) * 1000


def typo_query(name: str) -> str:
    """What people type: a whole name, a prefix (autocomplete), or a name with a typo."""
    words = [word for word in re.findall(r"\w+", name) if len(word) > 2] or [name]
    roll = random.random()
    if roll < 0.3:
        return name
    if roll < 0.7:
        word = random.choice(words)
        return word[: random.randint(3, max(3, len(word)))]
    cut = random.randrange(len(name)) if len(name) > 4 else len(name)
    return name[:cut] + name[cut + 1 :]


def manifest_problem(response: Any) -> str | None:
    return None if manifest_kids(response.text) else "no cenc:default_KID in the manifest"


def license_problem(response: Any, kids: set[str]) -> str | None:
    """None when the license carries exactly the key ids the challenge asked for."""
    try:
        granted = license_kids(response.json()["license"])
    except (ValueError, KeyError, TypeError):
        return "the license is not base64 of a JWK set"
    return None if granted == kids else f"license keys {sorted(granted)} != asked {sorted(kids)}"


def limit_problem(response: Any, limit: int, active: int) -> str | None:
    """A probe start: admitted while a slot is free, else refused listing ``limit`` streams."""
    if response.status_code == 201:
        return None if active < limit else f"stream {active + 1} admitted, plan limit {limit}"
    if _error_code(response) != "STREAM_LIMIT_REACHED":
        return f"409 {_error_code(response)} instead of STREAM_LIMIT_REACHED"
    listed = len(response.json()["error"]["details"])
    return None if listed == limit else f"refused listing {listed} streams, limit {limit}"


def _error_code(response: Any) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


# -- the viewer -------------------------------------------------------------------------------


class Viewer(FastHttpUser):
    """One person on one web player (see the module docstring for the journey)."""

    def wait_time(self) -> float:
        return random.uniform(*self.think_s)

    def on_start(self) -> None:
        self.options = self.environment.parsed_options
        self.think_s = parse_range(self.options.think_time)
        low, high = parse_range(self.options.watch_beats)
        self.watch_beats = (max(1, int(low)), max(1, int(high)))
        self.device_id = f"web-{secrets.token_hex(4)}"
        self.titles: list[str] = []  # title ids this viewer has seen on home and in search
        self.resumable: list[str] = []  # its continue-watching row
        self.names: list[str] = []  # title names, to type search queries from
        self.me = ACCOUNTS.take(self.environment) or self._new_identity()
        self._ready()

    # -- plumbing -----------------------------------------------------------------------------

    def _think(self) -> None:
        gevent.sleep(self.wait_time())

    def _call(
        self,
        method: str,
        url: str,
        name: str,
        expect: tuple[int, ...] = (200,),
        *,
        auth: bool = True,
        check: Callable[[Any], str | None] | None = None,
        **kwargs: Any,
    ) -> Any:
        """One request; the response if its status is expected (and ``check`` finds no
        problem in it), else None with the request marked failed."""
        headers = {"Authorization": f"Bearer {self.me.access_token}"} if auth else {}
        with self.client.request(
            method, url, name=name, headers=headers, catch_response=True, **kwargs
        ) as response:
            if response.status_code not in expect:
                if response.status_code == 401 and auth:
                    self.me.expires_at = 0  # sign in again before the next task
                response.failure(f"{response.status_code} {_error_code(response)}".strip())
                return None
            problem = check(response) if check else None
            if problem:
                response.failure(problem)
                return None
            response.success()
            return response

    def _measure(self, kind: str, name: str, millis: float) -> None:
        """A custom metric, reported beside the requests (and excluded from the thresholds)."""
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=millis,
            response_length=0,
            exception=None,
            context=self.context(),
        )

    # -- identity -----------------------------------------------------------------------------

    def _new_identity(self) -> Identity:
        mix = parse_plan_mix(self.options.plan_mix)
        plan = random.choices(list(mix), weights=list(mix.values()))[0]
        email = f"viewer-{secrets.token_hex(8)}@loadtest.example"
        return Identity(email, "load-test-password", plan, registered=False)

    def _ready(self) -> bool:
        """Signed in with a profile; False (the task is skipped) while that fails."""
        if not self.me.registered:
            return self._register()
        if self.me.needs_sign_in() and not self._sign_in():
            return False
        return self.me.profile_id is not None or self._find_profile()

    def _take_tokens(self, body: dict[str, Any]) -> None:
        self.me.access_token = body["access_token"]
        self.me.expires_at = time.time() + float(body["expires_in"])

    def _register(self) -> bool:
        body = {"email": self.me.email, "password": self.me.password, "plan": self.me.plan}
        made = self._call(
            "POST", "/v1/auth/register", "/v1/auth/register", (201,), auth=False, json=body
        )
        if made is None:
            return False
        self.me.registered = True
        self._take_tokens(made.json())
        return self._find_profile()

    def _sign_in(self) -> bool:
        body = {"email": self.me.email, "password": self.me.password}
        done = self._call("POST", "/v1/auth/login", "/v1/auth/login", auth=False, json=body)
        if done is None:
            return False
        self._take_tokens(done.json())
        return True

    def _find_profile(self) -> bool:
        listed = self._call("GET", "/v1/users/profiles", "/v1/users/profiles")
        if listed is None:
            return False
        self.me.profile_id = listed.json()["profiles"][0]["id"]
        return True

    # -- browsing -----------------------------------------------------------------------------

    def _home(self) -> None:
        url = f"/v1/home?profile_id={self.me.profile_id}&device=web"
        home = self._call("GET", url, "/v1/home")
        if home is None:
            return
        rows = home.json()["rows"]
        seen = {item["title_id"]: item["name"] for row in rows for item in row["items"]}
        self.titles = list(seen) or self.titles
        self.names = list(seen.values()) or self.names
        resume_row = next((row for row in rows if row["type"] == "continue_watching"), None)
        self.resumable = [item["title_id"] for item in resume_row["items"]] if resume_row else []

    def _search(self) -> None:
        query = (
            typo_query(random.choice(self.names)) if self.names else random.choice(FALLBACK_QUERIES)
        )
        params = urllib.parse.urlencode({"q": query, "profile_id": self.me.profile_id, "limit": 20})
        found = self._call("GET", f"/v1/search?{params}", "/v1/search")
        if found is not None:
            hits = [result["title_id"] for result in found.json()["results"]]
            self.titles = list(dict.fromkeys(self.titles + hits))

    def _title(self, title_id: str) -> dict[str, Any] | None:
        url = f"/v1/titles/{title_id}?profile_id={self.me.profile_id}"
        page = self._call("GET", url, "/v1/titles/{id}")
        return None if page is None else page.json()

    def _choose_title(self, search: bool) -> dict[str, Any] | None:
        """Home, perhaps a search, then title pages until one is playable here."""
        self._home()
        if search:
            self._think()
            self._search()
        for _ in range(3):
            if not self.titles:
                return None
            resume = self.resumable and random.random() < 0.3
            title_id = random.choice(self.resumable if resume else self.titles)
            self._think()
            page = self._title(title_id)
            if page is not None and page["availability"]["playable"]:
                return page
        return None

    @tag("browse")
    @task(3)
    def browse(self) -> None:
        if not self._ready():
            return
        self._home()
        self._think()
        self._search()
        for title_id in random.sample(self.titles, k=min(2, len(self.titles))):
            self._think()
            self._title(title_id)

    # -- playback -----------------------------------------------------------------------------

    def _start(self, page: dict[str, Any]) -> Playback | None:
        """Session, manifest, license: what a player needs before its first frame (TTFF)."""
        began = time.perf_counter()
        body = {
            "profile_id": self.me.profile_id,
            "title_id": page["title_id"],
            "device": {"device_id": self.device_id, "platform": "web", "drm": "clearkey"},
        }
        made = self._call("POST", "/v1/playback/sessions", SESSION_NAME, (201,), json=body)
        if made is None:
            return None
        session = made.json()
        # The origin is another host: an absolute URL, signed, so no bearer token.
        mpd = self._call(
            "GET", session["manifest"]["url"], "origin manifest", auth=False, check=manifest_problem
        )
        if mpd is None:
            return None
        kids = manifest_kids(mpd.text)
        granted = self._call(
            "POST",
            "/v1/drm/licenses",
            "POST /v1/drm/licenses",
            json={
                "session_id": session["session_id"],
                "challenge": clear_key_challenge(kids),
                "license_token": session["drm"]["license_token"],
            },
            check=partial(license_problem, kids=set(kids)),
        )
        if granted is None:
            return None
        ttff_ms = (time.perf_counter() - began) * 1000
        self._measure("TTFF", "time to first frame", ttff_ms)
        playback = Playback(
            session_id=session["session_id"],
            title_id=session["title_id"],
            asset_id=session["asset_id"],
            duration_ms=asset_duration_ms(page, session["asset_id"]),
            position_ms=int(session["resume_position_ms"]),
            bitrate_kbps=random.choice(BITRATES_KBPS[1:4]),
        )
        self._event(playback, "start", startup_ms=int(ttff_ms))
        return playback

    def _event(self, playback: Playback, event: str, **metrics: int) -> None:
        metrics.setdefault("bitrate_kbps", playback.bitrate_kbps)
        metrics.setdefault("position_ms", playback.position_ms)
        body = {
            "session_id": playback.session_id,
            "ts_ms": playback.next_ts_ms(),
            "event": event,
            "metrics": metrics,
        }
        self._call("POST", "/v1/playback/events", EVENTS_NAME, (202,), json=body)

    def _progress(self, playback: Playback, state: str) -> None:
        body = {
            "title_id": playback.title_id,
            "asset_id": playback.asset_id,
            "position_ms": playback.position_ms,
            "state": state,
            "ts_ms": playback.next_ts_ms(),
            "session_id": playback.session_id,
        }
        self._call("PUT", f"/v1/profiles/{self.me.profile_id}/progress", PROGRESS_NAME, json=body)

    def _stop(self, title_id: str, session_id: str) -> None:
        url = f"/v1/streaming/{title_id}/stop"
        self._call("POST", url, STOP_NAME, json={"session_id": session_id})

    def _follow_ups(self, playback: Playback) -> None:
        """Finish what an earlier beat began: a rebuffer ends, a pause resumes."""
        if playback.rebuffering:
            playback.rebuffering = False
            self._event(playback, "rebuffer_end", buffer_ms=random.randint(500, 4000))
        if playback.paused_beats == 1:
            self._event(playback, "resume")
        playback.paused_beats = max(0, playback.paused_beats - 1)

    def _qoe(self, playback: Playback) -> None:
        """Maybe one QoE event this beat, at --qoe-events-per-min of playback time."""
        chance = self.options.qoe_events_per_min * self.options.heartbeat_interval / 60
        if playback.paused_beats or playback.rebuffering or random.random() >= chance:
            return
        kind = random.choices(list(QOE_KINDS), weights=list(QOE_KINDS.values()))[0]
        if kind == "bitrate_change":
            at = BITRATES_KBPS.index(playback.bitrate_kbps)
            step = random.choice([s for s in (-1, 1) if 0 <= at + s < len(BITRATES_KBPS)])
            playback.bitrate_kbps = BITRATES_KBPS[at + step]
            self._event(playback, "bitrate_change")
        elif kind == "seek":
            playback.position_ms = random.randint(0, int(playback.duration_ms * 0.9))
            self._event(playback, "seek")
        elif kind == "pause":
            playback.paused_beats = random.randint(1, 3)
            self._event(playback, "pause")
        else:
            playback.rebuffering = True
            self._event(playback, "rebuffer_start", buffer_ms=0)

    def _sleep_until(self, due: float) -> None:
        """Sleep to a beat's schedule; report how late it actually leaves (an overloaded
        generator and requests slower than the interval both show here)."""
        gevent.sleep(max(0.0, due - time.monotonic()))
        self._measure("LAG", "heartbeat lag", max(0.0, time.monotonic() - due) * 1000)

    def _heartbeats(self, playback: Playback, beats: int, probe_at: int | None) -> bool:
        """Play for ``beats`` heartbeats; True if the position reached the end first."""
        interval = self.options.heartbeat_interval
        due = time.monotonic() + interval
        for beat in range(1, beats + 1):
            self._sleep_until(due)
            # Like a player's timer: the next beat is one interval after this one left, so a
            # late beat is reported once instead of making every later beat late too.
            due = max(due, time.monotonic()) + interval
            if not playback.paused_beats and not playback.rebuffering:
                playback.position_ms = min(
                    playback.duration_ms, playback.position_ms + int(interval * 1000)
                )
            self._progress(playback, "paused" if playback.paused_beats else "playing")
            self._follow_ups(playback)
            self._qoe(playback)
            if beat == probe_at:
                self._hit_stream_limit(playback.title_id)
            if playback.position_ms >= playback.duration_ms:
                return True
        return False

    def _finish(self, playback: Playback) -> None:
        """Watched to the end (time is compressed: the viewer skips to the credits)."""
        playback.position_ms = playback.duration_ms
        self._progress(playback, "finished")
        self._event(playback, "end")
        self._stop(playback.title_id, playback.session_id)

    @tag("playback")
    @task(6)
    def watch(self) -> None:
        if not self._ready():
            return
        page = self._choose_title(search=random.random() < 0.5)
        if page is None:
            return
        playback = self._start(page)
        if playback is None:
            return
        beats = random.randint(*self.watch_beats)
        probe = random.random() < self.options.second_device_ratio
        at_end = self._heartbeats(playback, beats, random.randint(1, beats) if probe else None)
        if at_end or random.random() < self.options.finish_ratio:
            self._finish(playback)
        # Otherwise the viewer walks away: no stop, no end event. The lease expires after
        # LEASE_TTL_S, unless this device starts again first (a restart replaces its session).

    # -- stream limits ------------------------------------------------------------------------

    def _hit_stream_limit(self, title_id: str) -> None:
        """Other devices of the account start until the plan refuses one (409, expected).

        One stream (this viewer's) is already running. The refusal must list exactly the plan's
        limit of active streams; a start admitted beyond the limit is a failure. The admitted
        extra devices stop again, so the account's owner can keep playing.
        """
        limit = STREAM_LIMIT.get(self.me.plan, 1)
        admitted: list[str] = []
        for attempt in range(limit):
            body = {
                "profile_id": self.me.profile_id,
                "title_id": title_id,
                "device": {"device_id": f"{self.device_id}-{attempt}", "platform": "mobile"},
            }
            check = partial(limit_problem, limit=limit, active=1 + len(admitted))
            made = self._call(
                "POST", "/v1/playback/sessions", PROBE_NAME, (201, 409), json=body, check=check
            )
            if made is None or made.status_code == 409:
                break
            admitted.append(made.json()["session_id"])
        for session_id in admitted:
            self._stop(title_id, session_id)

    @tag("limits")
    @task(1)
    def second_device(self) -> None:
        if not self._ready():
            return
        page = self._choose_title(search=False)
        playback = self._start(page) if page else None
        if playback is None:
            return
        self._progress(playback, "playing")
        self._hit_stream_limit(playback.title_id)
        self._stop(playback.title_id, playback.session_id)


# -- load shape -------------------------------------------------------------------------------


def shape_stage(run_s: float, options: Any) -> tuple[int, float] | None:
    """(users, spawn rate) at ``run_s`` into ramp → steady → spike → drain; None when done."""
    steady, spike = options.shape_users, options.shape_spike_users

    def rate(users: float, seconds: float) -> float:
        return max(1.0, users / max(1.0, seconds))

    stages = [
        # Reach the steady count by the end of the ramp, then hold it (the same tick).
        (options.shape_ramp_s + options.shape_steady_s, steady, rate(steady, options.shape_ramp_s)),
        # A spike arrives fast: all its extra users within a tenth of the stage.
        (options.shape_spike_s, spike, rate(abs(spike - steady), options.shape_spike_s / 10)),
        (options.shape_drain_s, 0, rate(spike, options.shape_drain_s)),
    ]
    ends = 0.0
    for length, users, spawn_rate in stages:
        ends += length
        if run_s < ends:
            return users, spawn_rate
    return None


class RampSteadySpikeDrain(LoadTestShape):
    """Ramp → steady → spike → drain with ``--shape``; otherwise plain ``-u/-r/-t``.

    Locust always runs a shape class it finds in the locustfile, and a shape owns the run's
    end, so without ``--shape`` this one hands back ``-u/-r`` and stops at ``-t`` itself
    (``use_common_options`` lets the web UI set them too). With ``--shape``, ``-t`` still caps it.
    """

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options
        run_s = self.get_run_time()
        if options.run_time and run_s >= options.run_time:
            return None
        if not options.shape:
            return options.num_users or 1, options.spawn_rate or 1
        return shape_stage(run_s, options)


# -- thresholds -------------------------------------------------------------------------------


def http_total(environment: Environment) -> StatsEntry:
    """Every HTTP request of the run in one entry; the TTFF and LAG measurements left out."""
    total = StatsEntry(environment.stats, "HTTP requests", "")
    for (_name, method), entry in environment.stats.entries.items():
        if method not in MEASUREMENTS:
            total.extend(entry)
    return total


def threshold_breaches(environment: Environment) -> list[str]:
    options = environment.parsed_options
    http = http_total(environment)
    if http.num_requests == 0:
        return ["no HTTP requests were made"]
    breaches = []
    ratio = http.num_failures / http.num_requests
    if ratio > options.max_failure_ratio:
        breaches.append(
            f"failure ratio {ratio:.4f} ({http.num_failures}/{http.num_requests}) "
            f"> --max-failure-ratio {options.max_failure_ratio}"
        )
    p95 = http.get_response_time_percentile(0.95)
    if p95 > options.max_p95_ms:
        breaches.append(f"p95 {p95:.0f} ms > --max-p95-ms {options.max_p95_ms:.0f}")
    ttff = environment.stats.entries.get(("time to first frame", "TTFF"))
    if options.max_ttff_p95_ms > 0 and ttff is not None and ttff.num_requests:
        ttff_p95 = ttff.get_response_time_percentile(0.95)
        if ttff_p95 > options.max_ttff_p95_ms:
            breaches.append(f"TTFF p95 {ttff_p95:.0f} ms > --max-ttff-p95-ms")
    if environment.runner is not None and environment.runner.exceptions:
        count = sum(e["count"] for e in environment.runner.exceptions.values())
        breaches.append(f"{count} exception(s) in user code (see the error report)")
    return breaches


@events.quitting.add_listener
def _enforce_thresholds(environment: Environment, **_kwargs: Any) -> None:
    """The run's verdict as the exit code: 1 if a threshold broke, else 0 (failures within
    --max-failure-ratio pass). Workers hold no totals: the master (or the only process) judges."""
    if isinstance(environment.runner, WorkerRunner):
        return
    breaches = threshold_breaches(environment)
    http = http_total(environment)
    summary = (
        f"{http.num_requests} HTTP requests, {http.num_failures} failed, "
        f"p95 {http.get_response_time_percentile(0.95) if http.num_requests else 0:.0f} ms"
    )
    for breach in breaches:
        print(f"[thresholds] BROKEN: {breach}", file=sys.stderr, flush=True)
    verdict = "FAILED" if breaches else "passed"
    print(f"[thresholds] {verdict}: {summary}", file=sys.stderr, flush=True)
    environment.process_exit_code = 1 if breaches else 0
