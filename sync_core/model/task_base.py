"""The canonical task record, its JSON-able snapshot form and its content hash.

To Do keeps dates, not times, for a task's start and due: both are calendar dates in the mailbox's time
zone here. F&O instants are read as the date they fall on in that zone. The reminder is an instant
(UTC, to the minute) and only exists while the reminder is on, so "reminder off" compares equal
whatever stale reminder time either side still keeps.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from sync_core.model.datetimes import format_z, utc_minute
from sync_core.model.hashing import hash_fields
from sync_core.model.text import normalise_body, normalise_categories, normalise_line

TaskStatus = Literal["notStarted", "inProgress", "completed", "waitingOnOthers", "deferred"]
Importance = Literal["low", "normal", "high"]

STATUSES: tuple[TaskStatus, ...] = ("notStarted", "inProgress", "completed", "waitingOnOthers", "deferred")


class Task(BaseModel):
    """One task as both systems should hold it. `categories` excludes the sync category."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = ""
    body: str = ""
    start: date | None = None
    due: date | None = None
    status: TaskStatus = "notStarted"
    importance: Importance = "normal"
    reminder_on: bool = False
    reminder_at: datetime | None = None
    categories: tuple[str, ...] = ()

    @field_validator("title")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return normalise_line(value)

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        return normalise_body(value)

    @field_validator("reminder_at")
    @classmethod
    def _instant(cls, value: datetime | None) -> datetime | None:
        return utc_minute(value) if value is not None else None

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return normalise_categories(value)

    @model_validator(mode="after")
    def _reminder(self) -> Self:
        # A reminder without a time cannot be shown by either side; no time is kept without a reminder.
        if not self.reminder_on or self.reminder_at is None:
            object.__setattr__(self, "reminder_on", False)
            object.__setattr__(self, "reminder_at", None)
        return self

    @property
    def completed(self) -> bool:
        return self.status == "completed"


FIELDS: tuple[str, ...] = tuple(Task.model_fields)
"""Canonical field names, in declaration order; also the fields the content hash covers."""

REMINDER_FIELDS: tuple[str, ...] = ("reminder_on", "reminder_at")
"""Merged and written as one unit: a reminder time from one side never pairs with the other's switch."""


def select_fields(fields: Collection[str] | None) -> frozenset[str]:
    """The canonical fields a writer should include (all when None); unknown names raise ValueError."""
    wanted = frozenset(FIELDS if fields is None else fields)
    unknown = wanted.difference(FIELDS)
    if unknown:
        raise ValueError(f"unknown task fields: {sorted(unknown)}")
    return wanted


def to_record(task: Task) -> dict[str, Any]:
    """JSON-able dict (dates as YYYY-MM-DD, the reminder as ISO text with Z): the link snapshot form."""
    record = task.model_dump()
    record["start"] = task.start.isoformat() if task.start else None
    record["due"] = task.due.isoformat() if task.due else None
    record["reminder_at"] = format_z(task.reminder_at) if task.reminder_at else None
    record["categories"] = list(task.categories)
    return record


def from_record(record: Mapping[str, Any]) -> Task:
    """Task from a snapshot record; unknown keys (from a newer version) are ignored."""
    return Task.model_validate({key: record[key] for key in FIELDS if key in record})


def content_hash(record: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of the canonical fields (missing fields hash as null)."""
    return hash_fields(record, FIELDS)
