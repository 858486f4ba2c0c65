"""Retry policy: which failures are resent and how long to wait."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync_core.d365.retry import BACKOFF_CAP, MAX_RETRY_AFTER, backoff, retry_delay
from sync_core.retry_after import parse_retry_after


def test_backoff_doubles_and_caps() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff(50) == BACKOFF_CAP


def test_parse_retry_after_seconds_and_date() -> None:
    now = datetime(2024, 1, 1, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("Mon, 01 Jan 2024 10:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Mon, 01 Jan 2024 09:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None


def test_429_honours_retry_after_for_any_method() -> None:
    assert retry_delay(429, "12", 1, idempotent=False) == 12.0
    assert retry_delay(429, None, 3, idempotent=False) == 4.0


def test_429_with_too_long_retry_after_is_final() -> None:
    assert retry_delay(429, str(MAX_RETRY_AFTER + 1), 1, idempotent=True) is None


@pytest.mark.parametrize(
    ("status", "idempotent", "expected"),
    [
        (503, True, 2.0),
        (503, False, 2.0),
        (504, True, 2.0),
        (504, False, None),
        (500, True, None),
        (400, True, None),
    ],
)
def test_unavailable(status: int, idempotent: bool, expected: float | None) -> None:
    assert retry_delay(status, None, 2, idempotent=idempotent) == expected
