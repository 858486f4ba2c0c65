"""Field map between F&O `Activities` (Category = Task) and the canonical Task.

F&O keeps instants in UTC; a task's start and due are read as the dates `StartDateTime` and
`EndDateTime` fall on in the mailbox zone, and written as that date's local midnight. The task
status is `ActivityStatus` (enum smmActivityTaskTimeType); a closed activity counts as completed, and
completing writes `Closed` = Yes and `CompletedPercentage` = 100 as F&O's own form does.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from typing import Any, Final
from zoneinfo import ZoneInfo

from sync_core.model.datetimes import format_z, local_midnight_utc, parse_instant
from sync_core.model.fields import read_enum, read_flag, read_str
from sync_core.model.task_base import REMINDER_FIELDS, Importance, Task, TaskStatus, select_fields
from sync_core.model.text import normalise_categories, split_categories

_SOURCE: Final = "fno"
# F&O's "no date" for a non-nullable DateTimeOffset.
EMPTY_DATE: Final = "1900-01-01T00:00:00Z"

# Keys: member names (case-folded) and the enum numbers from F&O's $metadata.
_STATUS: Final[dict[str | int, TaskStatus]] = {
    "notstarted": "notStarted",
    "inprogress": "inProgress",
    "completed": "completed",
    "waiting": "waitingOnOthers",
    "deferred": "deferred",
    0: "notStarted",
    1: "inProgress",
    2: "completed",
    3: "waitingOnOthers",
    4: "deferred",
}
_STATUS_OUT: Final[dict[TaskStatus, str]] = {
    "notStarted": "NotStarted",
    "inProgress": "InProgress",
    "completed": "Completed",
    "waitingOnOthers": "Waiting",
    "deferred": "Deferred",
}
_PRIORITY: Final[dict[str | int, Importance]] = {
    "low": "low",
    "normal": "normal",
    "high": "high",
    0: "normal",
    1: "low",
    2: "high",
}
_PRIORITY_OUT: Final[dict[Importance, str]] = {"low": "Low", "normal": "Normal", "high": "High"}


def task_from_activity(activity: Mapping[str, Any], *, sync_category: str, time_zone: ZoneInfo) -> Task:
    """Canonical task from an F&O activity row; every field is optional, unusable values take defaults."""
    status = read_enum(
        activity.get("ActivityStatus"), _STATUS, "notStarted", source=_SOURCE, field="ActivityStatus"
    )
    if read_flag(activity.get("Closed"), False, source=_SOURCE, field="Closed"):
        status = "completed"
    return Task(
        title=read_str(activity.get("Purpose")),
        body=read_str(activity.get("OutlookText")),
        start=_local_date(activity.get("StartDateTime"), time_zone),
        due=_local_date(activity.get("EndDateTime"), time_zone),
        status=status,
        importance=read_enum(activity.get("Priority"), _PRIORITY, "normal", source=_SOURCE, field="Priority"),
        reminder_on=read_flag(activity.get("Reminder"), False, source=_SOURCE, field="Reminder"),
        reminder_at=parse_instant(activity.get("ReminderDate")),
        categories=normalise_categories(
            split_categories(activity.get("OutlookCategories")), exclude=[sync_category]
        ),
    )


def task_activity_fields(
    task: Task,
    *,
    time_zone: ZoneInfo,
    fields: Collection[str] | None = None,
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """F&O JSON body for the given canonical fields (all when None).

    `current` is the activity as it is now (None when creating): reopening a task that F&O shows as
    100 % done resets the percentage, any other percentage is the user's and stays.
    """
    wanted = select_fields(fields)
    body: dict[str, Any] = {}
    if "title" in wanted:
        body["Purpose"] = task.title
    if "body" in wanted:
        body["OutlookText"] = task.body
    if "start" in wanted:
        body["StartDateTime"] = _instant_of(task.start, time_zone)
    if "due" in wanted:
        body["EndDateTime"] = _instant_of(task.due, time_zone)
    if "status" in wanted:
        body["ActivityStatus"] = _STATUS_OUT[task.status]
        body["Closed"] = "Yes" if task.completed else "No"
        if task.completed:
            body["CompletedPercentage"] = 100
        elif current is not None and _percentage(current.get("CompletedPercentage")) >= 100:
            body["CompletedPercentage"] = 0
    if "importance" in wanted:
        body["Priority"] = _PRIORITY_OUT[task.importance]
    if wanted.intersection(REMINDER_FIELDS):
        body["Reminder"] = "Yes" if task.reminder_on else "No"
        if task.reminder_at is not None:
            body["ReminderDate"] = format_z(task.reminder_at)
    if "categories" in wanted:
        body["OutlookCategories"] = ";".join(task.categories)
    return body


def is_closed(activity: Mapping[str, Any]) -> bool:
    """Completed in F&O (status Completed or the activity closed): never deleted by sync."""
    status = read_enum(
        activity.get("ActivityStatus"), _STATUS, "notStarted", source=_SOURCE, field="ActivityStatus"
    )
    return status == "completed" or read_flag(activity.get("Closed"), False, source=_SOURCE, field="Closed")


def _local_date(value: Any, zone: ZoneInfo) -> date | None:
    instant = parse_instant(value)
    return instant.astimezone(zone).date() if instant is not None else None


def _instant_of(day: date | None, zone: ZoneInfo) -> str:
    return format_z(local_midnight_utc(day, zone)) if day is not None else EMPTY_DATE


def _percentage(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return 0.0
    return 0.0
