"""How long to wait before the next attempt: ``Retry-After`` when given, else capped exponential backoff."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime

from sync_core.retry_after import parse_retry_after as _parse

RETRY_STATUSES = frozenset({429, 503, 504})
BASE_DELAY = 1.0
MAX_BACKOFF = 32.0
# Retry-After is honoured up to this; a longer ask is better served by re-queueing the work.
MAX_RETRY_AFTER = 300.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from ``Retry-After``, honoured up to MAX_RETRY_AFTER."""
    seconds = _parse(value, now=now)
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            return parse_retry_after(value)
    return None


def backoff(attempt: int, rng: random.Random, base: float = BASE_DELAY) -> float:
    """Delay after failed attempt number ``attempt`` (1-based): half-jittered, doubling from ``base``, capped."""
    ceiling = min(MAX_BACKOFF, base * 2 ** max(attempt - 1, 0))
    return float(ceiling / 2 + rng.random() * ceiling / 2)


def delay_for(headers: Mapping[str, str], attempt: int, rng: random.Random) -> float:
    given = retry_after_of(headers)
    return given if given is not None else backoff(attempt, rng)
