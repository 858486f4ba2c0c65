"""Daily and weekly recurrence: normalise the request's pattern and list occurrence dates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from simulators.graph.errors import GraphError, bad_request

DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MAX_OCCURRENCES = 5000


def _invalid(message: str) -> GraphError:
    return bad_request(message, "ErrorInvalidRecurrence" if "pattern" in message else "ErrorInvalidRequest")


def _parse_date(value: object, field: str) -> date:
    if not isinstance(value, str):
        raise bad_request(f"Recurrence range {field} is required.")
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise bad_request(f"Recurrence range {field} is not a date.") from exc


def normalise(raw: object, zone_name: str) -> dict[str, Any]:
    """Request recurrence -> the echo Graph stores (lower-case enums, defaults filled in)."""
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("pattern"), dict)
        or not isinstance(raw.get("range"), dict)
    ):
        raise bad_request("Recurrence needs a pattern and a range.")
    pattern, rng = raw["pattern"], raw["range"]
    kind = str(pattern.get("type", "")).lower()
    if kind not in ("daily", "weekly"):
        raise _invalid("Only daily and weekly recurrence pattern types are supported by this stand-in.")
    interval = pattern.get("interval", 1)
    if not isinstance(interval, int) or isinstance(interval, bool) or not 1 <= interval <= 999:
        raise _invalid("The recurrence pattern interval must be between 1 and 999.")
    raw_days = pattern.get("daysOfWeek") or []
    if not isinstance(raw_days, list) or any(str(d).lower() not in DAYS for d in raw_days):
        raise _invalid("The recurrence pattern daysOfWeek is invalid.")
    days = sorted({str(d).lower() for d in raw_days}, key=DAYS.index)
    if kind == "weekly" and not days:
        raise _invalid("A weekly recurrence pattern needs daysOfWeek.")
    first_day = str(pattern.get("firstDayOfWeek") or "sunday").lower()
    if first_day not in DAYS:
        raise _invalid("The recurrence pattern firstDayOfWeek is invalid.")
    range_type = str(rng.get("type", "")).lower()
    start = _parse_date(rng.get("startDate"), "startDate")
    end_text = "0001-01-01"
    count = 0
    if range_type == "enddate":
        end = _parse_date(rng.get("endDate"), "endDate")
        if end < start:
            raise bad_request("The recurrence range endDate is before its startDate.", "ErrorInvalidRequest")
        end_text = end.isoformat()
        range_type = "endDate"
    elif range_type == "numbered":
        count = rng.get("numberOfOccurrences")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise bad_request("numberOfOccurrences must be a positive number.", "ErrorInvalidRequest")
        range_type = "numbered"
    elif range_type == "noend":
        range_type = "noEnd"
    else:
        raise bad_request("The recurrence range type is invalid.", "ErrorInvalidRequest")
    return {
        "pattern": {
            "type": kind,
            "interval": interval,
            "month": 0,
            "dayOfMonth": 0,
            "daysOfWeek": days,
            "firstDayOfWeek": first_day,
            "index": "first",
        },
        "range": {
            "type": range_type,
            "startDate": start.isoformat(),
            "endDate": end_text,
            "recurrenceTimeZone": zone_name,
            "numberOfOccurrences": count,
        },
    }


def occurrence_dates(recurrence: dict[str, Any]) -> Iterator[date]:
    """Dates (in the series' zone) of every occurrence, in order; bounded for noEnd series."""
    pattern, rng = recurrence["pattern"], recurrence["range"]
    start = date.fromisoformat(rng["startDate"])
    end = date.fromisoformat(rng["endDate"]) if rng["type"] == "endDate" else date.max
    limit = rng["numberOfOccurrences"] if rng["type"] == "numbered" else _MAX_OCCURRENCES
    for produced, day in enumerate(_candidates(pattern, start)):
        if day > end or produced >= limit:
            return
        yield day


def _candidates(pattern: dict[str, Any], start: date) -> Iterator[date]:
    interval = pattern["interval"]
    if pattern["type"] == "daily":
        day = start
        while day < date.max - timedelta(days=interval):
            yield day
            day += timedelta(days=interval)
        return
    # Weekly: weeks start on firstDayOfWeek; every `interval`-th week counted from the start's week.
    first = DAYS.index(pattern["firstDayOfWeek"])
    offset = (start.isoweekday() % 7 - first) % 7
    week_start = start - timedelta(days=offset)
    wanted = sorted((DAYS.index(d) - first) % 7 for d in pattern["daysOfWeek"])
    for _ in range(_MAX_OCCURRENCES):
        for shift in wanted:
            day = week_start + timedelta(days=shift)
            if day >= start:
                yield day
        week_start += timedelta(days=7 * interval)
