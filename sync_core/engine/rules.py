"""Deletion rules: whether deleting one side of a linked pair deletes its partner (docs/spec.md §4)."""

from __future__ import annotations

from datetime import UTC
from typing import Literal

from sync_core.engine.types import DeletionContext
from sync_core.model.datetimes import parse_instant


def appointment_deletion_rule(ctx: DeletionContext) -> Literal["delete_partner", "unlink"]:
    """Delete the partner only for a future appointment (snapshot start after `now`) whose mailbox
    is the organizer, whichever side it was deleted on; otherwise unlink.

    Deleted in F&O: an attendee's mailbox must not cancel someone else's meeting. Deleted in
    Exchange: an attendee deleting (declining) a meeting keeps the F&O activity. Past
    appointments are history and are never deleted by sync. A snapshot without a readable start
    is treated as past.
    """
    start = parse_instant(ctx.snapshot.get("start"))
    if start is None:
        return "unlink"
    now = ctx.now if ctx.now.tzinfo is not None else ctx.now.replace(tzinfo=UTC)
    if start > now and ctx.mailbox_is_organizer:
        return "delete_partner"
    return "unlink"


def task_deletion_rule(ctx: DeletionContext) -> Literal["delete_partner", "unlink"]:
    """A task deleted on one side deletes its partner while it is open; a completed task is never
    deleted by sync, it is only unlinked (and unmarked on the surviving side).

    To Do has no organizer and no window: an open task is the owner's own to-do, and deleting it
    in To Do or in F&O means it is no longer to be done. A completed task is history, as a past
    appointment is. A snapshot without a readable status is treated as completed (keep, never guess).
    The surviving side as read now counts too: the snapshot may be older than a completion made since
    (the pair job reads the survivor before a deletion goes ahead).
    """
    if ctx.survivor is not None and ctx.survivor.get("status") == "completed":
        return "unlink"
    status = ctx.snapshot.get("status")
    if isinstance(status, str) and status and status != "completed":
        return "delete_partner"
    return "unlink"
