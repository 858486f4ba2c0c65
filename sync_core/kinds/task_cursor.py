"""The task scan's cursor of one mailbox: a delta link per watched To Do list, and what the last read
of the list of lists found (when, and which list is the sync list), so an idle scan reads only deltas.

Stored as JSON in the state store; anything unreadable counts as no cursor (a full round)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import exchange_cursor_name, parse_fno_time
from sync_core.runtime.phase import last_slot
from sync_core.state.base import ConcurrencyError

log = logging.getLogger(__name__)

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
    # note_created).
    lists_stale: bool = False
    # The tasks (composed ids) pair jobs created in To Do since the last scan. The next round must list
    # each (it is new since the round's token); one it does not list was deleted or moved meanwhile, and
    # delta reports neither for a task it never listed (kinds/todo_feed.py checks them).
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


async def note_created(ctx: SyncContext, kind: str, mailbox: Mailbox, graph_id: str) -> None:
    """A task created in To Do now is listed by its list's next delta round, unless the user moves or
    deletes it first: then no round reports it removed (delta reports only what a round listed), and
    a list created for it is not known while the list of lists is cached. So the next scan reads the
    list of lists and checks that its round listed the task (both marked in its cursor; a scan saving
    meanwhile is detected by the ETag, and the mark is made again on its cursor)."""
    name = exchange_cursor_name(kind, mailbox.address)
    for _attempt in range(3):
        cursor = await ctx.store.get_cursor(name)
        saved = load_cursor(cursor.value if cursor else None)
        if cursor is None or not saved.links:
            return  # the next scan is a full round: it compares every link with what the lists hold
        noted = graph_id in saved.created or len(saved.created) >= CREATED_MAX
        if saved.lists_stale and noted:
            return
        saved.lists_stale = True
        if not noted:
            saved.created.append(graph_id)
        update = {"value": saved.dump(), "updated_at": ctx.now()}
        try:
            await ctx.store.save_cursor(cursor.model_copy(update=update))
            return
        except ConcurrencyError:
            continue
    log.info("To Do lists not marked for reading; the periodic read finds a moved task")


__all__ = ["CREATED_MAX", "TaskCursor", "load_cursor", "note_created"]
