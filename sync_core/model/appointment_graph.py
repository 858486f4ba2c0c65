"""Field map between a Microsoft Graph `event` and the canonical Appointment.

Events are read with `Prefer: outlook.timezone="UTC"`, so timed events arrive as UTC wall-clock
times. All-day events arrive either as UTC instants of the local midnights or (a real Exchange
quirk) as midnight wall-clock in some other zone; both are reduced to local dates in the mailbox
zone. Writes send timed events in UTC and all-day events as local midnights in the mailbox zone,
which is what Graph requires for `isAllDay`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sync_core.model.appointment_base import (
    DEFAULT_REMINDER_MINUTES,
    MAX_REMINDER_MINUTES,
    TIME_FIELDS,
    Appointment,
    Importance,
    Sensitivity,
    Series,
    ShowAs,
    select_fields,
)
from sync_core.model.datetimes import (
    all_day_range,
    format_wall_clock,
    is_midnight,
    parse_instant,
    parse_zoned,
    utc_minute,
)
from sync_core.model.fields import MissingField, note_default, read_enum, read_flag, read_int, read_mapping
from sync_core.model.text import (
    html_to_text,
    normalise_addresses,
    normalise_categories,
    normalise_line,
)
from sync_core.model.timezones import resolve_time_zone_checked

_SOURCE: Final = "graph"

_SHOW_AS: Final[dict[str | int, ShowAs]] = {
    "free": "free",
    "tentative": "tentative",
    "busy": "busy",
    "oof": "oof",
    # F&O has no such members: both read as Busy (docs/spec.md §3.1).
    "workingelsewhere": "busy",
    "unknown": "busy",
}
_SENSITIVITY: Final[dict[str | int, Sensitivity]] = {
    "normal": "normal",
    "personal": "personal",
    "private": "private",
    "confidential": "confidential",
}
_IMPORTANCE: Final[dict[str | int, Importance]] = {"low": "low", "normal": "normal", "high": "high"}
_SERIES: Final[dict[str | int, Series]] = {
    "singleinstance": "single",
    "seriesmaster": "master",
    "occurrence": "occurrence",
    "exception": "exception",
}


# Every property appointment_from_event reads, plus the version. Public reports say the calendar delta sends
# occurrences with only id, type, start, end and seriesMasterId (docs/microsoft.md): such an event must be
# read whole before it is mapped, or its missing fields would read as empty and be cleared on the other side.
_MAPPED: Final = (
    "subject", "body", "start", "end", "isAllDay", "location", "showAs", "sensitivity", "importance",
    "isReminderOn", "reminderMinutesBeforeStart", "categories", "attendees", "type", "changeKey",
)  # fmt: skip


def is_whole(event: Mapping[str, Any]) -> bool:
    """Whether the event carries every property the mapping reads (an occurrence also its originalStart)."""
    member = event.get("type") in ("occurrence", "exception")
    return all(name in event for name in _MAPPED) and (not member or "originalStart" in event)


def appointment_from_event(
    event: dict[str, Any],
    *,
    sync_category: str,
    time_zone: ZoneInfo,
    owner_addresses: Iterable[str] = (),
) -> Appointment:
    """Canonical appointment from a Graph event (as read with outlook.timezone="UTC").

    `time_zone` is the mailbox zone. Raises MissingField (a MappingError) when `start` or `end` is missing
    or unreadable: Graph always sends both, so an event without them is malformed, not zero-length.
    """
    start = parse_zoned(event.get("start"))
    if start is None:
        raise MissingField("graph event", "start")
    end = parse_zoned(event.get("end"))
    if end is None:
        raise MissingField("graph event", "end")
    all_day = read_flag(event.get("isAllDay"), False, source=_SOURCE, field="isAllDay")
    if all_day:
        start_utc, end_utc = all_day_range(
            _mailbox_wall_clock(start, time_zone), _mailbox_wall_clock(end, time_zone), time_zone
        )
    else:
        start_utc = utc_minute(start)
        end_utc = utc_minute(end)
        if end_utc < start_utc:
            note_default(_SOURCE, "end")
            end_utc = start_utc
    return Appointment(
        subject=_text(event.get("subject")),
        body=_body_text(event.get("body")),
        start=start_utc,
        end=end_utc,
        is_all_day=all_day,
        location=_text(read_mapping(event.get("location")).get("displayName")),
        show_as=read_enum(event.get("showAs"), _SHOW_AS, "busy", source=_SOURCE, field="showAs"),
        sensitivity=read_enum(
            event.get("sensitivity"), _SENSITIVITY, "normal", source=_SOURCE, field="sensitivity"
        ),
        importance=read_enum(
            event.get("importance"), _IMPORTANCE, "normal", source=_SOURCE, field="importance"
        ),
        reminder_on=read_flag(event.get("isReminderOn"), False, source=_SOURCE, field="isReminderOn"),
        reminder_minutes=read_int(
            event.get("reminderMinutesBeforeStart"),
            DEFAULT_REMINDER_MINUTES,
            lo=0,
            hi=MAX_REMINDER_MINUTES,
            source=_SOURCE,
            field="reminderMinutesBeforeStart",
        ),
        categories=normalise_categories(_list(event.get("categories")), exclude=[sync_category]),
        attendees=normalise_addresses(_attendee_addresses(event.get("attendees")), exclude=owner_addresses),
        series=read_enum(
            event.get("type") or "singleInstance", _SERIES, "single", source=_SOURCE, field="type"
        ),
        original_start=_original_start(event),
    )


def _original_start(event: dict[str, Any]) -> datetime | None:
    """originalStart (Edm.DateTimeOffset) of an occurrence or exception; None for anything else."""
    if event.get("type") not in ("occurrence", "exception"):
        return None
    return parse_instant(event.get("originalStart"))


def event_fields(
    appointment: Appointment,
    *,
    time_zone: ZoneInfo,
    time_zone_name: str,
    sync_category: str,
    fields: Collection[str] | None = None,
) -> dict[str, Any]:
    """Graph event JSON for the given canonical fields (all when None).

    start, end and isAllDay are always written together. All-day boundaries are written as
    midnight in `time_zone_name` (the mailbox's own zone name; `time_zone` is the same zone
    resolved). `categories` always includes the sync category. Attendees are written as required.
    The series fields are Exchange's own (read-only) and never written. Unknown field names raise ValueError.
    """
    wanted = select_fields(fields)
    body: dict[str, Any] = {}
    if "subject" in wanted:
        body["subject"] = appointment.subject
    if "body" in wanted:
        body["body"] = {"contentType": "text", "content": appointment.body}
    if wanted.intersection(TIME_FIELDS):
        if appointment.is_all_day:
            zone_name = _writable_zone_name(time_zone, time_zone_name)
            body["start"] = _local_midnight(appointment.start, time_zone, zone_name)
            body["end"] = _local_midnight(appointment.end, time_zone, zone_name)
        else:
            body["start"] = {
                "dateTime": format_wall_clock(appointment.start.astimezone(UTC)),
                "timeZone": "UTC",
            }
            body["end"] = {"dateTime": format_wall_clock(appointment.end.astimezone(UTC)), "timeZone": "UTC"}
        body["isAllDay"] = appointment.is_all_day
    if "location" in wanted:
        body["location"] = {"displayName": appointment.location}
    if "show_as" in wanted:
        body["showAs"] = appointment.show_as
    if "sensitivity" in wanted:
        body["sensitivity"] = appointment.sensitivity
    if "importance" in wanted:
        body["importance"] = appointment.importance
    if "reminder_on" in wanted:
        body["isReminderOn"] = appointment.reminder_on
    if "reminder_minutes" in wanted:
        body["reminderMinutesBeforeStart"] = appointment.reminder_minutes
    if "categories" in wanted:
        mark = normalise_line(sync_category)
        body["categories"] = [*appointment.categories, *([mark] if mark else [])]
    if "attendees" in wanted:
        body["attendees"] = [
            {"emailAddress": {"address": address}, "type": "required"} for address in appointment.attendees
        ]
    return body


def _mailbox_wall_clock(value: datetime, mailbox_zone: ZoneInfo) -> datetime:
    # Midnight wall-clock in the zone it came with means that date, whatever the zone
    # (Exchange's all-day quirk); any other time is an instant, seen in the mailbox zone.
    if is_midnight(value):
        return value.replace(tzinfo=mailbox_zone)
    return value.astimezone(mailbox_zone)


def _local_midnight(instant: datetime, zone: ZoneInfo, zone_name: str) -> dict[str, str]:
    local = instant.astimezone(zone)
    # A boundary not exactly at local midnight (a DST gap at 00:00) rounds to the nearest date.
    day = local.date() + timedelta(days=1 if local.hour >= 12 else 0)
    return {"dateTime": format_wall_clock(datetime.combine(day, time(0, 0))), "timeZone": zone_name}


def _writable_zone_name(zone: ZoneInfo, name: str) -> str:
    zone_of_name, known = resolve_time_zone_checked(name)
    if known and zone_of_name.key == zone.key:
        return name.strip()
    return zone.key


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _body_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    body = read_mapping(value)
    content = body.get("content")
    if not isinstance(content, str):
        return ""
    content_type = body.get("contentType")
    if isinstance(content_type, str) and content_type.strip().casefold() == "html":
        return html_to_text(content)
    return content


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _attendee_addresses(value: Any) -> list[Any]:
    return [read_mapping(read_mapping(item).get("emailAddress")).get("address") for item in _list(value)]
