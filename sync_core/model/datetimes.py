"""Parsing and formatting of the date-time shapes F&O and Graph send, and all-day date rules.

F&O sends `Edm.DateTimeOffset` text ("2024-01-01T10:00:00Z", sometimes with an offset) and uses
1900-01-01 for "no date". Graph sends `dateTimeTimeZone` objects: a wall-clock `dateTime` with
7 fraction digits and no offset, plus a separate `timeZone` name. Everything hostile (nulls,
garbage, out-of-range years) parses to None rather than raising.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sync_core.model.timezones import resolve_time_zone

# Years outside this range are F&O's "empty" 1900-01-01, Graph's 0001-01-01 or 9999 sentinels,
# and would overflow when shifted across zones.
_MIN_YEAR = 1901
_MAX_YEAR = 9998

_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?\s*$"
)

# Within this many minutes of local midnight a time is read as that midnight (DST gaps,
# a user time zone a few hours off the mailbox's, inclusive 23:59 ends).
_MIDNIGHT_SLACK_MINUTES = 180


def _parse_offset(text: str) -> timezone | None:
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) >= 4 else 0
    if hours > 23 or minutes > 59:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_iso(value: Any) -> datetime | None:
    """Parse ISO-8601-ish text; naive when the text has no offset, None when unusable."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    match = _ISO.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    # Any number of fraction digits (Graph sends 7): keep microseconds, drop the rest.
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tzinfo: timezone | None = None
    if offset is not None:
        tzinfo = _parse_offset(offset)
        if tzinfo is None:
            return None
    try:
        parsed = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=tzinfo,
        )
    except ValueError:
        return None
    if not _MIN_YEAR <= parsed.year <= _MAX_YEAR:
        return None
    return parsed


def parse_instant(value: Any) -> datetime | None:
    """An F&O DateTimeOffset (or any ISO instant) as an aware UTC datetime; naive text counts as UTC."""
    parsed = parse_iso(value)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_zoned(value: Any) -> datetime | None:
    """A Graph dateTimeTimeZone object as an aware datetime in the zone it names (wall clock kept).

    An offset inside `dateTime` (not what Graph sends, but seen from other clients) wins over
    `timeZone`. A missing or unknown `timeZone` means UTC: the reader asks Graph for UTC.
    """
    if not isinstance(value, dict):
        return None
    parsed = parse_iso(value.get("dateTime"))
    if parsed is None:
        return None
    if parsed.tzinfo is not None:
        return parsed
    zone_name = value.get("timeZone")
    zone = resolve_time_zone(zone_name if isinstance(zone_name, str) else None)
    return parsed.replace(tzinfo=zone)


def utc_minute(value: datetime) -> datetime:
    """Aware UTC, truncated to the minute (both systems store minutes; seconds only cause echoes)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(second=0, microsecond=0)


def format_z(value: datetime) -> str:
    """UTC instant as F&O wants it: 2024-01-01T10:00:00Z."""
    return utc_minute(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_wall_clock(value: datetime) -> str:
    """Wall-clock time as Graph writes dateTime: 2024-01-01T10:00:00.0000000 (no offset)."""
    return value.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S") + ".0000000"


def local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant of midnight starting `day` in `zone`.

    Where midnight does not exist (a DST jump at 00:00) fold=0 gives the instant of the first
    wall-clock time after the gap, which reads back as the same day.
    """
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)


def is_midnight(value: datetime) -> bool:
    return value.hour == 0 and value.minute == 0 and value.second == 0 and value.microsecond == 0


def all_day_date(local: datetime, *, is_end: bool) -> date:
    """The calendar date an all-day boundary means, given its wall-clock time in the mailbox zone.

    Close to midnight (either side) means that midnight; otherwise a start belongs to its own day
    and an end to the next (the end of an all-day range is exclusive).
    """
    minutes = local.hour * 60 + local.minute
    if minutes <= _MIDNIGHT_SLACK_MINUTES:
        return local.date()
    if minutes >= 24 * 60 - _MIDNIGHT_SLACK_MINUTES:
        return local.date() + timedelta(days=1)
    return local.date() + timedelta(days=1) if is_end else local.date()


def all_day_range(
    start_local: datetime, end_local: datetime | None, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """UTC instants of the local midnights bounding an all-day range (at least one day long)."""
    start_day = all_day_date(start_local, is_end=False)
    end_day = all_day_date(end_local, is_end=True) if end_local is not None else start_day
    if end_day <= start_day:
        end_day = start_day + timedelta(days=1)
    return local_midnight_utc(start_day, zone), local_midnight_utc(end_day, zone)
