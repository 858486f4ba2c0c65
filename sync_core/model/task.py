"""Tasks: the canonical record and its two field maps, in one import.

The pieces live in small modules: `task_base` (model, snapshot record, hash), `task_fno` (F&O
Activities, Category Task) and `task_graph` (Microsoft To Do tasks).
"""

from __future__ import annotations

from sync_core.model.task_base import (
    FIELDS,
    REMINDER_FIELDS,
    STATUSES,
    Importance,
    Task,
    TaskStatus,
    content_hash,
    from_record,
    to_record,
)
from sync_core.model.task_fno import EMPTY_DATE, is_closed, task_activity_fields, task_from_activity
from sync_core.model.task_graph import task_from_todo, todo_date, todo_fields, writable_zone_name

__all__ = [
    "EMPTY_DATE",
    "FIELDS",
    "REMINDER_FIELDS",
    "STATUSES",
    "Importance",
    "Task",
    "TaskStatus",
    "content_hash",
    "from_record",
    "is_closed",
    "task_activity_fields",
    "task_from_activity",
    "task_from_todo",
    "to_record",
    "todo_date",
    "todo_fields",
    "writable_zone_name",
]
