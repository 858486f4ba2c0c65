from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from sync_core.model.datetimes import (
    all_day_date,
    all_day_range,
    format_wall_clock,
    format_z,
    local_midnight_utc,
    parse_instant,
    parse_iso,
    parse_zoned,
    utc_minute,
)

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T10:00:00Z", datetime(2024, 1, 1, 10, 0, tzinfo=UTC)),
        ("2024-01-01T10:00:00.1234567Z", datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-01-01T10:00:00+05:45", datetime(2024, 1, 1, 4, 15, tzinfo=UTC)),
        ("2024-01-01T10:00:00-1000", datetime(2024, 1, 1, 20, 0, tzinfo=UTC)),
        ("2024-01-01T10:00", datetime(2024, 1, 1, 10, 0, tzinfo=UTC)),
        ("2024-01-01", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01 10:00:00z", datetime(2024, 1, 1, 10, 0, tzinfo=UTC)),
    ],
)
def test_parse_instant(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "1900-01-01T00:00:00Z",  # F&O's empty date
        "0001-01-01T00:00:00Z",  # Graph's empty attendee response time
        "9999-12-31T23:59:59Z",
        "2024-02-30T10:00:00Z",
        "2024-01-01T25:00:00Z",
        "2024-01-01T10:00:00+24:00",
        "yesterday",
        12345,
        {"dateTime": "2024-01-01T10:00:00"},
        "2024-01-01T10:00:00Z" + " " * 100,
    ],
)
def test_parse_instant_rejects(value: object) -> None:
    assert parse_instant(value) is None


def test_parse_iso_keeps_naive_wall_clock() -> None:
    assert parse_iso("2017-04-15T11:00:00.0000000") == datetime(2017, 4, 15, 11, 0)


def test_parse_zoned_windows_name_and_seven_digits() -> None:
    value = parse_zoned({"dateTime": "2024-07-01T09:30:59.9999999", "timeZone": "W. Europe Standard Time"})
    assert value is not None
    assert utc_minute(value) == datetime(2024, 7, 1, 7, 30, tzinfo=UTC)


def test_parse_zoned_offset_in_text_wins_and_missing_zone_is_utc() -> None:
    with_offset = parse_zoned({"dateTime": "2024-07-01T09:30:00+02:00", "timeZone": "Tonga Standard Time"})
    no_zone = parse_zoned({"dateTime": "2024-07-01T09:30:00.0000000"})
    assert with_offset is not None and no_zone is not None
    assert utc_minute(with_offset) == datetime(2024, 7, 1, 7, 30, tzinfo=UTC)
    assert utc_minute(no_zone) == datetime(2024, 7, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "value", [None, "x", {}, {"dateTime": None}, {"dateTime": "nope", "timeZone": "UTC"}]
)
def test_parse_zoned_rejects(value: object) -> None:
    assert parse_zoned(value) is None


def test_minute_truncation_and_formats() -> None:
    value = datetime(2024, 1, 1, 10, 0, 59, 999999, tzinfo=timezone(timedelta(hours=-10)))
    assert utc_minute(value) == datetime(2024, 1, 1, 20, 0, tzinfo=UTC)
    assert format_z(value) == "2024-01-01T20:00:00Z"
    assert format_wall_clock(datetime(2024, 1, 1, 20, 0)) == "2024-01-01T20:00:00.0000000"


def test_local_midnight_across_dst() -> None:
    # Berlin switches to summer time on 2024-03-31.
    assert local_midnight_utc(date(2024, 3, 31), BERLIN) == datetime(2024, 3, 30, 23, 0, tzinfo=UTC)
    assert local_midnight_utc(date(2024, 4, 1), BERLIN) == datetime(2024, 3, 31, 22, 0, tzinfo=UTC)


def test_midnight_in_a_dst_gap_reads_back_as_the_same_day() -> None:
    # Santiago skipped 2022-09-11 00:00 local (clocks jumped to 01:00).
    zone = ZoneInfo("America/Santiago")
    instant = local_midnight_utc(date(2022, 9, 11), zone)
    assert all_day_date(instant.astimezone(zone), is_end=False) == date(2022, 9, 11)
    assert all_day_date(instant.astimezone(zone), is_end=True) == date(2022, 9, 11)


@pytest.mark.parametrize(
    ("local", "is_end", "expected"),
    [
        (datetime(2024, 5, 2, 0, 0), False, date(2024, 5, 2)),
        (datetime(2024, 5, 2, 0, 0), True, date(2024, 5, 2)),
        (datetime(2024, 5, 2, 8, 0), False, date(2024, 5, 2)),
        (datetime(2024, 5, 2, 17, 0), True, date(2024, 5, 3)),
        (datetime(2024, 5, 2, 23, 59), True, date(2024, 5, 3)),  # inclusive end of day
        (datetime(2024, 5, 1, 23, 0), False, date(2024, 5, 2)),  # an hour off midnight
    ],
)
def test_all_day_date(local: datetime, is_end: bool, expected: date) -> None:
    assert all_day_date(local, is_end=is_end) == expected


def test_all_day_range_is_at_least_one_day() -> None:
    start, end = all_day_range(
        datetime(2024, 5, 2, tzinfo=BERLIN), datetime(2024, 5, 2, tzinfo=BERLIN), BERLIN
    )
    assert (start, end) == (datetime(2024, 5, 1, 22, 0, tzinfo=UTC), datetime(2024, 5, 2, 22, 0, tzinfo=UTC))
    start2, end2 = all_day_range(datetime(2024, 5, 2, tzinfo=BERLIN), None, BERLIN)
    assert (start2, end2) == (start, end)
