"""In-process latency of catalog search (``api.search.index``) at 5k and 100k titles.

Search runs inside the request on the replica's event loop, so its own cost, not HTTP, decides
whether it fits the latency budget (p99 under 10 ms at 100k titles). This measures exactly that,
single-threaded, on the deterministic demo catalog with a query mix drawn from it: exact and
misspelt names, 2-4 letter prefixes (autocomplete), cast, directors and genres. Each query runs
twice: with every title visible, and behind a kids profile's maturity mask, which hides most
titles and makes the index dig deeper for visible candidates.

    python -m loadtest.search_bench
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from api.catalog.demo import generate
from api.catalog.models import Title
from api.maturity import KIDS_CAP, allows
from api.search.index import SearchIndex

SEED = 11
SIZES = (5_000, 100_000)
WARMUP = 200

# Share of each kind of query in the mix; must sum to 1.
MIX: tuple[tuple[str, float], ...] = (
    ("exact", 0.25),
    ("typo", 0.20),
    ("prefix", 0.25),
    ("cast", 0.12),
    ("director", 0.08),
    ("genre", 0.10),
)


def measure(count: int, queries: int = 2000) -> dict[str, float]:
    """Build an index over ``count`` demo titles and time ``queries`` searches (twice)."""
    titles = [title for title, _ in generate(count)]
    gc.collect()
    started = time.perf_counter()
    index = SearchIndex(titles)
    build_s = time.perf_counter() - started
    mix = query_mix(titles, queries, random.Random(SEED))
    kids = np.array([allows(KIDS_CAP, t.maturity_rating) for t in titles], dtype=bool)
    result = {"build_s": build_s}
    result |= _percentiles("", _latencies(index, mix, None))
    result |= _percentiles("kids_", _latencies(index, mix, kids))
    return result


def query_mix(titles: Sequence[Title], count: int, rng: random.Random) -> list[str]:
    makers: dict[str, Callable[[Title, random.Random], str]] = {
        "exact": lambda t, _: t.name,
        "typo": lambda t, r: misspell(t.name, r),
        "prefix": lambda t, r: t.name.lower()[: r.randint(2, 4)],
        "cast": lambda t, r: r.choice(t.cast) if t.cast else t.name,
        "director": lambda t, _: t.director,
        "genre": lambda t, r: r.choice(t.genres),
    }
    kinds = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=count)
    return [makers[kind](rng.choice(titles), rng) for kind in kinds]


def misspell(name: str, rng: random.Random) -> str:
    """One typo (swap, drop, double or replace a letter) in a word of four letters or more."""
    words = name.split()
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return name
    i = rng.choice(candidates)
    word, at = words[i], rng.randrange(1, len(words[i]) - 1)
    edit = rng.randrange(4)
    if edit == 0:
        word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    elif edit == 1:
        word = word[:at] + word[at + 1 :]
    elif edit == 2:
        word = word[:at] + word[at] + word[at:]
    else:
        word = word[:at] + rng.choice("aeioustrn") + word[at + 1 :]
    words[i] = word
    return " ".join(words)


def _latencies(
    index: SearchIndex, queries: list[str], visible: npt.NDArray[np.bool_] | None
) -> list[float]:
    for query in queries[:WARMUP]:
        index.search(query, visible=visible)
    timings = []
    for query in queries:
        started = time.perf_counter_ns()
        index.search(query, visible=visible, limit=20)
        timings.append((time.perf_counter_ns() - started) / 1e6)
    return timings


def _percentiles(prefix: str, timings: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return {
        f"{prefix}p50_ms": cuts[49],
        f"{prefix}p95_ms": cuts[94],
        f"{prefix}p99_ms": cuts[98],
        f"{prefix}max_ms": max(timings),
    }


def main() -> None:
    rows = [(count, measure(count)) for count in SIZES]
    keys = list(rows[0][1])
    print("| titles | " + " | ".join(keys) + " |")
    print("|---:|" + "---:|" * len(keys))
    for count, result in rows:
        print(f"| {count:,} | " + " | ".join(f"{result[k]:.2f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
