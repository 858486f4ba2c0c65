"""When to retry an F&O request and how long to wait first (pure; the client does the sleeping)."""

from __future__ import annotations

from sync_core.retry_after import parse_retry_after

THROTTLED = 429
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
# A longer Retry-After would hold a worker for minutes: give the item back to the queue instead.
MAX_RETRY_AFTER = 120.0


def backoff(attempt: int, base: float = BACKOFF_BASE) -> float:
    """Exponential backoff for the `attempt`-th failure (1-based): 1, 2, 4, ... seconds (times `base`),
    capped."""
    return min(BACKOFF_CAP, base * 2.0 ** max(0, attempt - 1))


def retry_delay(status: int, retry_after: str | None, attempt: int, *, idempotent: bool) -> float | None:
    """Seconds to wait before resending after `status`, or None when the failure is final.

    429 and 503 mean the request was not run, so any method is resent (Retry-After honoured, else backoff).
    504 is resent only for idempotent requests: a create that timed out at the gateway may have been
    committed, and resending it would duplicate the record."""
    if status == THROTTLED:
        wait = parse_retry_after(retry_after)
        if wait is None:
            return backoff(attempt)
        return wait if wait <= MAX_RETRY_AFTER else None
    if status == 503 or (status == 504 and idempotent):
        wait = parse_retry_after(retry_after)
        return min(wait, MAX_RETRY_AFTER) if wait is not None else backoff(attempt)
    return None
