"""Field map between a Microsoft To Do `todoTask` and the canonical Task.

To Do keeps only the date of `startDateTime` and `dueDateTime`. It is written as midnight of that
date in the mailbox's zone; Graph answers with that midnight as a UTC instant (or, for tasks a user
typed in another zone or in another app, some other time near midnight). The date is read without
shifting the day: a midnight in the zone the value came with is that date, anything else is seen in
the mailbox zone, where a time within a few hours of midnight means that midnight.
`reminderDateTime` is a real instant and is written and read in UTC.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, time
from typing import Any, Final
from zoneinfo import ZoneInfo

from sync_core.model.datetimes import all_day_date, format_wall_clock, is_midnight, parse_zoned
from sync_core.model.fields import read_enum, read_flag, read_mapping, read_str
from sync_core.model.task_base import REMINDER_FIELDS, STATUSES, Importance, Task, TaskStatus, select_fields
from sync_core.model.text import html_to_text, normalise_categories, normalise_line
from sync_core.model.timezones import resolve_time_zone_checked

_SOURCE: Final = "graph"
_STATUS: Final[dict[str | int, TaskStatus]] = {status.casefold(): status for status in STATUSES}
_IMPORTANCE: Final[dict[str | int, Importance]] = {"low": "low", "normal": "normal", "high": "high"}


def task_from_todo(item: Mapping[str, Any], *, sync_category: str, time_zone: ZoneInfo) -> Task:
    """Canonical task from a To Do task; `time_zone` is the mailbox zone."""
    return Task(
        title=read_str(item.get("title")),
        body=_body_text(item.get("body")),
        start=todo_date(item.get("startDateTime"), time_zone),
        due=todo_date(item.get("dueDateTime"), time_zone),
        status=read_enum(item.get("status"), _STATUS, "notStarted", source=_SOURCE, field="status"),
        importance=read_enum(
            item.get("importance"), _IMPORTANCE, "normal", source=_SOURCE, field="importance"
        ),
        reminder_on=read_flag(item.get("isReminderOn"), False, source=_SOURCE, field="isReminderOn"),
        reminder_at=_instant(item.get("reminderDateTime")),
        categories=normalise_categories(_list(item.get("categories")), exclude=[sync_category]),
    )


def todo_fields(
    task: Task,
    *,
    time_zone: ZoneInfo,
    time_zone_name: str,
    sync_category: str,
    fields: Collection[str] | None = None,
) -> dict[str, Any]:
    """To Do JSON for the given canonical fields (all when None).

    Dates go out as local midnight in the mailbox's own zone name (`time_zone` is that zone resolved);
    a missing date is an explicit null, which clears it. `categories` always includes the sync category.
    """
    wanted = select_fields(fields)
    zone_name = writable_zone_name(time_zone, time_zone_name)
    body: dict[str, Any] = {}
    if "title" in wanted:
        body["title"] = task.title
    if "body" in wanted:
        body["body"] = {"contentType": "text", "content": task.body}
    if "start" in wanted:
        body["startDateTime"] = _midnight(task.start, zone_name)
    if "due" in wanted:
        body["dueDateTime"] = _midnight(task.due, zone_name)
    if "status" in wanted:
        body["status"] = task.status
    if "importance" in wanted:
        body["importance"] = task.importance
    if wanted.intersection(REMINDER_FIELDS):
        body["isReminderOn"] = task.reminder_on
        if task.reminder_at is not None:
            body["reminderDateTime"] = {
                "dateTime": format_wall_clock(task.reminder_at.astimezone(UTC)),
                "timeZone": "UTC",
            }
    if "categories" in wanted:
        mark = normalise_line(sync_category)
        body["categories"] = [*task.categories, *([mark] if mark else [])]
    return body


def todo_date(value: Any, mailbox_zone: ZoneInfo) -> date | None:
    """The calendar date a To Do `dateTimeTimeZone` stands for (see the module note)."""
    moment = parse_zoned(value)
    if moment is None:
        return None
    if is_midnight(moment):
        return moment.date()
    return all_day_date(moment.astimezone(mailbox_zone), is_end=False)


def writable_zone_name(zone: ZoneInfo, name: str) -> str:
    """The mailbox's zone name when Graph can read it as that zone, else the IANA name of the zone."""
    zone_of_name, known = resolve_time_zone_checked(name)
    if known and zone_of_name.key == zone.key:
        return name.strip()
    return zone.key


def _midnight(day: date | None, zone_name: str) -> dict[str, str] | None:
    if day is None:
        return None
    return {"dateTime": format_wall_clock(datetime.combine(day, time(0, 0))), "timeZone": zone_name}


def _instant(value: Any) -> datetime | None:
    moment = parse_zoned(value)
    return moment.astimezone(UTC) if moment is not None else None


def _body_text(value: Any) -> str:
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
