"""The task scan's cursor of one mailbox: a delta link per watched To Do list, and what the last read
of the list of lists found (when, and which list is the sync list), so an idle scan reads only deltas.

Stored as JSON in the state store; anything unreadable counts as no cursor (a full round)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sync_core.runtime.keys import parse_fno_time
from sync_core.runtime.phase import last_slot

VERSION = 2
# Tasks created since the last scan are remembered up to this many (a cursor stays small; beyond it a
# deletion before the next round waits for the periodic reconciliation, as before).
CREATED_MAX = 50


@dataclass
class TaskCursor:
    links: dict[str, str] = field(default_factory=dict)  # list id -> delta link of the list's next round
    lists_read_at: datetime | None = None  # when the list of lists was last read
    sync_list: str | None = None  # the list tasks go to, as resolved then
    list_name: str | None = None  # the SYNC_TODO_LIST it was resolved for ("" = the default list)
    # Set by a pair job that created a task in To Do: read the list of lists at the next scan (see
    # TaskKind.create_in_graph).
    lists_stale: bool = False
    # The tasks (composed ids) pair jobs created in To Do since the last scan. The next round must list
    # each (it is new since the round's token); one it does not list was deleted or moved meanwhile, and
    # delta reports neither for a task it never listed (TaskKind.scan_exchange checks them).
    created: list[str] = field(default_factory=list)

    def lists_due(self, now: datetime, refresh_minutes: int, list_name: str, mailbox: str) -> bool:
        """Whether the list of lists must be read before the deltas (not known, resolved for another
        configured list, or not read since the mailbox's latest refresh slot: once per refresh period, at
        a slot shifted per mailbox so that mailboxes set up together do not all read it in one cycle)."""
        if not self.links or self.lists_read_at is None or not self.sync_list or self.lists_stale:
            return True
        if self.list_name != list_name or refresh_minutes <= 0:
            return True
        if self.lists_read_at > now:
            return True  # a clock that went back (or a cursor from the future) is not trusted
        period = timedelta(minutes=refresh_minutes)
        return self.lists_read_at < last_slot(now, f"todo-lists:{mailbox.lower()}", period)

    def dump(self) -> str:
        value: dict[str, object] = {"v": VERSION, "lists": self.links}
        if self.lists_read_at is not None and self.sync_list:
            value["listsReadAt"] = self.lists_read_at.isoformat()
            value["syncList"] = self.sync_list
            value["listName"] = self.list_name or ""
        if self.lists_stale:
            value["listsStale"] = True
        if self.created:
            value["created"] = self.created
        return json.dumps(value, sort_keys=True)


def load_cursor(raw: str | None) -> TaskCursor:
    """Version 1 cursors (delta links only) load with the list of lists unknown: read it once."""
    if not raw:
        return TaskCursor()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return TaskCursor()
    if not isinstance(value, dict):
        return TaskCursor()
    lists = value.get("lists")
    links = (
        {k: v for k, v in lists.items() if isinstance(k, str) and isinstance(v, str) and k and v}
        if isinstance(lists, dict)
        else {}
    )
    read_at = value.get("listsReadAt")
    sync_list, name = value.get("syncList"), value.get("listName")
    created = value.get("created")
    return TaskCursor(
        links=links,
        lists_read_at=parse_fno_time(read_at) if isinstance(read_at, str) else None,
        sync_list=sync_list if isinstance(sync_list, str) and sync_list in links else None,
        list_name=name if isinstance(name, str) else None,
        lists_stale=value.get("listsStale") is True,
        created=[g for g in created if isinstance(g, str) and g] if isinstance(created, list) else [],
    )


__all__ = ["CREATED_MAX", "TaskCursor", "load_cursor"]
