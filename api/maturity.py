"""One maturity scale for both rating systems (MPAA for films, US TV Parental Guidelines).

Ratings map onto ordered levels so a profile's cap can be compared with any title's rating.
"""

from __future__ import annotations

from typing import Literal

MaturityRating = Literal[
    "TV-Y", "TV-Y7", "G", "TV-G", "PG", "TV-PG", "PG-13", "TV-14", "R", "NC-17", "TV-MA"
]

LEVEL: dict[str, int] = {
    "TV-Y": 0,
    "TV-Y7": 1,
    "G": 2,
    "TV-G": 2,
    "PG": 3,
    "TV-PG": 3,
    "PG-13": 4,
    "TV-14": 4,
    "R": 5,
    "NC-17": 6,
    "TV-MA": 6,
}

KIDS_CAP: MaturityRating = "TV-PG"  # the highest rating a kids profile may be set to
ADULT_DEFAULT: MaturityRating = "TV-MA"


def allows(cap: str, rating: str) -> bool:
    """True when a profile capped at ``cap`` may watch a title rated ``rating``."""
    return LEVEL[rating] <= LEVEL[cap]
