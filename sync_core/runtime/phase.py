"""A mailbox's stable phase within an interval, so that periodic work (reconciliation, registry refresh,
subscription renewal) is spread over the interval instead of falling due for every mailbox at once."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def offset_seconds(mailbox: str, interval: timedelta) -> float:
    """The mailbox's phase within the interval: stable across processes and restarts (not `hash()`)."""
    digest = hashlib.sha256(mailbox.strip().lower().encode()).digest()
    return int.from_bytes(digest[:8], "big") % max(1, int(interval.total_seconds()))


def last_slot(now: datetime, mailbox: str, interval: timedelta) -> datetime:
    """The latest of the mailbox's slots at or before `now` (slots: epoch + offset + k * interval)."""
    offset = timedelta(seconds=offset_seconds(mailbox, interval))
    elapsed = now.astimezone(UTC) - _EPOCH - offset
    return _EPOCH + offset + interval * (elapsed // interval)
