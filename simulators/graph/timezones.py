"""Time zone names as Graph accepts them (Windows or IANA) and its dateTimeTimeZone text format."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

_UTC_NAMES = {"utc", "etc/utc", "coordinated universal time", "tzone://microsoft/utc", "gmt"}
# IANA names are letters, digits, '_', '-', '+', '/': anything else never reaches ZoneInfo.
_IANA_SHAPE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")
_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:\d{2})?$"
)


def resolve_zone(name: str | None) -> tzinfo | None:
    """Windows or IANA zone name -> tzinfo; None when Graph would not know the name."""
    if not name or len(name) > 100:
        return None
    if name.strip().lower() in _UTC_NAMES:
        return UTC
    if name in win_tz:
        return ZoneInfo(win_tz[name])
    if not _IANA_SHAPE.match(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_local(text: object, zone: tzinfo) -> datetime:
    """A dateTimeTimeZone.dateTime string (read in `zone`) -> aware UTC datetime; ValueError if malformed."""
    if not isinstance(text, str):
        raise ValueError("dateTime must be a string")
    match = _DATETIME.match(text.strip())
    if not match:
        raise ValueError("dateTime is not an ISO 8601 local date-time")
    day, clock, fraction, offset = match.groups()
    micro = int((fraction or "0").ljust(7, "0")[:6])
    naive = datetime.fromisoformat(f"{day}T{clock or '00:00:00'}").replace(microsecond=micro)
    if offset:
        aware = datetime.fromisoformat(naive.isoformat() + ("+00:00" if offset == "Z" else offset))
        return aware.astimezone(UTC)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def format_local(moment: datetime, zone: tzinfo) -> str:
    """Aware datetime -> Graph's 7-fraction-digit local text without offset."""
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0"


def format_offset(moment: datetime) -> str:
    """DateTimeOffset as Graph writes it for events: 7 fraction digits and Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def parse_offset(text: str) -> datetime:
    """Query-string DateTimeOffset (startDateTime=...); naive values are UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
