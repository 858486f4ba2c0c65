"""How long to wait before the next attempt: ``Retry-After`` when given, else capped exponential backoff."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 503, 504})
BASE_DELAY = 1.0
MAX_BACKOFF = 32.0
# Retry-After is honoured up to this; a longer ask is better served by re-queueing the work.
MAX_RETRY_AFTER = 300.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from ``Retry-After``: delta-seconds (fractions allowed, Graph sends ``2.128``) or an HTTP date."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            return parse_retry_after(value)
    return None


def backoff(attempt: int, rng: random.Random) -> float:
    """Delay after failed attempt number ``attempt`` (1-based): half-jittered, doubling, capped."""
    ceiling = min(MAX_BACKOFF, BASE_DELAY * 2 ** max(attempt - 1, 0))
    return float(ceiling / 2 + rng.random() * ceiling / 2)


def delay_for(headers: Mapping[str, str], attempt: int, rng: random.Random) -> float:
    given = retry_after_of(headers)
    return given if given is not None else backoff(attempt, rng)
