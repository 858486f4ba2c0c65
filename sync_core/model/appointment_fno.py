"""Field map between F&O `Activities` (Category = Appointment) and the canonical Appointment.

F&O keeps instants in UTC (`Edm.DateTimeOffset`); an all-day activity is read as the local dates
its start and end fall on in the mailbox zone. Attendees are not activity fields: they are parent
links, which the pipeline resolves to e-mail addresses and passes in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, Final
from zoneinfo import ZoneInfo

from sync_core.model.appointment_base import (
    DEFAULT_REMINDER_MINUTES,
    MAX_REMINDER_MINUTES,
    SERIES_FIELDS,
    TIME_FIELDS,
    Appointment,
    Importance,
    Sensitivity,
    Series,
    ShowAs,
    select_fields,
)
from sync_core.model.datetimes import all_day_range, format_z, parse_instant, utc_minute
from sync_core.model.fields import MissingField, note_default, read_enum, read_flag, read_int, read_str
from sync_core.model.text import normalise_addresses, normalise_categories, split_categories

_SOURCE: Final = "fno"

# Keys: member names (case-folded) and the enum numbers from F&O's $metadata.
_SHOW_AS: Final[dict[str | int, ShowAs]] = {
    "free": "free",
    "tentative": "tentative",
    "busy": "busy",
    "outofoffice": "oof",
    0: "free",
    1: "tentative",
    2: "busy",
    3: "oof",
}
_SENSITIVITY: Final[dict[str | int, Sensitivity]] = {
    "normal": "normal",
    "personal": "personal",
    "privat": "private",  # F&O's own spelling of the member
    "private": "private",
    "confidential": "confidential",
    0: "normal",
    1: "personal",
    2: "private",
    3: "confidential",
}
_PRIORITY: Final[dict[str | int, Importance]] = {
    "low": "low",
    "normal": "normal",
    "high": "high",
    0: "normal",
    1: "low",
    2: "high",
}

_SERIES: Final[dict[str | int, Series]] = {
    "notrecurring": "single",
    "master": "master",
    "occurrence": "occurrence",
    "exception": "exception",
    0: "single",
    1: "master",
    2: "occurrence",
    3: "exception",
}
_SERIES_OUT: Final[dict[Series, str]] = {
    "single": "NotRecurring",
    "master": "Master",
    "occurrence": "Occurrence",
    "exception": "Exception",
}
# F&O's "no date" for the non-nullable OriginalStartDate.
_NO_DATE: Final = "1900-01-01T00:00:00Z"

_SHOW_AS_OUT: Final[dict[ShowAs, str]] = {
    "free": "Free",
    "tentative": "Tentative",
    "busy": "Busy",
    "oof": "OutOfOffice",
}
_SENSITIVITY_OUT: Final[dict[Sensitivity, str]] = {
    "normal": "Normal",
    "personal": "Personal",
    "private": "Privat",
    "confidential": "Confidential",
}
_PRIORITY_OUT: Final[dict[Importance, str]] = {"low": "Low", "normal": "Normal", "high": "High"}


def appointment_from_activity(
    activity: dict[str, Any],
    *,
    attendee_emails: Iterable[str],
    sync_category: str,
    time_zone: ZoneInfo,
    owner_addresses: Iterable[str] = (),
) -> Appointment:
    """Canonical appointment from an F&O activity row.

    Raises MissingField (a MappingError) when StartDateTime is missing, empty (1900-01-01) or
    unreadable, and when EndDateTime is missing or unreadable. F&O's own "no date" (1900-01-01) as the
    end means a zero-length appointment (one day when all-day); an end before the start is moved to
    the start.
    """
    start = parse_instant(activity.get("StartDateTime"))
    if start is None:
        raise MissingField("F&O activity", "StartDateTime")
    raw_end = activity.get("EndDateTime")
    end = parse_instant(raw_end)
    if end is None and not _is_no_date(raw_end):
        raise MissingField("F&O activity", "EndDateTime")
    all_day = read_flag(activity.get("AllDay"), False, source=_SOURCE, field="AllDay")
    if all_day:
        start, end = all_day_range(
            start.astimezone(time_zone), end.astimezone(time_zone) if end is not None else None, time_zone
        )
    else:
        start = utc_minute(start)
        end = utc_minute(end) if end is not None else start
        if end < start:
            note_default(_SOURCE, "EndDateTime")
            end = start
    series = read_enum(
        activity.get("RecurrenceState"), _SERIES, "single", source=_SOURCE, field="RecurrenceState"
    )
    return Appointment(
        subject=read_str(activity.get("Purpose")),
        body=read_str(activity.get("OutlookText")),
        start=start,
        end=end,
        is_all_day=all_day,
        location=read_str(activity.get("Location")),
        show_as=read_enum(activity.get("ShowTimeAs"), _SHOW_AS, "busy", source=_SOURCE, field="ShowTimeAs"),
        sensitivity=read_enum(
            activity.get("Sensitivity"), _SENSITIVITY, "normal", source=_SOURCE, field="Sensitivity"
        ),
        importance=read_enum(activity.get("Priority"), _PRIORITY, "normal", source=_SOURCE, field="Priority"),
        reminder_on=read_flag(activity.get("Reminder"), False, source=_SOURCE, field="Reminder"),
        reminder_minutes=read_int(
            activity.get("ReminderMinutes"),
            DEFAULT_REMINDER_MINUTES,
            lo=0,
            hi=MAX_REMINDER_MINUTES,
            source=_SOURCE,
            field="ReminderMinutes",
        ),
        categories=normalise_categories(
            split_categories(activity.get("OutlookCategories")), exclude=[sync_category]
        ),
        attendees=normalise_addresses(attendee_emails, exclude=owner_addresses),
        series=series,
        # Only occurrences and exceptions have one; F&O keeps some date in the non-nullable field anyway.
        original_start=(
            parse_instant(activity.get("OriginalStartDate"))
            if series in ("occurrence", "exception")
            else None
        ),
    )


def _is_no_date(value: Any) -> bool:
    """F&O's "no date" for a non-nullable DateTimeOffset: 1900-01-01 at any time or offset."""
    return isinstance(value, str) and value.strip().startswith("1900-01-01")


def activity_fields(appointment: Appointment, fields: Collection[str] | None = None) -> dict[str, Any]:
    """F&O JSON body for the given canonical fields (all when None).

    start, end and is_all_day are always written together. `attendees` has no activity field
    (parent links) and is skipped. Unknown field names raise ValueError.
    """
    wanted = select_fields(fields)
    body: dict[str, Any] = {}
    if "subject" in wanted:
        body["Purpose"] = appointment.subject
    if "body" in wanted:
        body["OutlookText"] = appointment.body
    if wanted.intersection(TIME_FIELDS):
        body["StartDateTime"] = format_z(appointment.start)
        body["EndDateTime"] = format_z(appointment.end)
        body["AllDay"] = "Yes" if appointment.is_all_day else "No"
    if "location" in wanted:
        body["Location"] = appointment.location
    if "show_as" in wanted:
        body["ShowTimeAs"] = _SHOW_AS_OUT[appointment.show_as]
    if "sensitivity" in wanted:
        body["Sensitivity"] = _SENSITIVITY_OUT[appointment.sensitivity]
    if "importance" in wanted:
        body["Priority"] = _PRIORITY_OUT[appointment.importance]
    if "reminder_on" in wanted:
        body["Reminder"] = "Yes" if appointment.reminder_on else "No"
    if "reminder_minutes" in wanted:
        body["ReminderMinutes"] = appointment.reminder_minutes
    if "categories" in wanted:
        body["OutlookCategories"] = ";".join(appointment.categories)
    # A full write of a plain appointment leaves F&O's own defaults (NotRecurring, no original date).
    if wanted.intersection(SERIES_FIELDS) and (fields is not None or appointment.series != "single"):
        body["RecurrenceState"] = _SERIES_OUT[appointment.series]
        body["MasterAppointment"] = "Yes" if appointment.series == "master" else "No"
        start = appointment.original_start
        body["OriginalStartDate"] = format_z(start) if start is not None else _NO_DATE
    return body
