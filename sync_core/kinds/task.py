"""Tasks: F&O `Activities` (Category Task) <-> Microsoft To Do tasks (docs/spec.md §3.2).

What is special about To Do, and where it is handled:
- No change notifications for app-only callers: every list of the mailbox is polled with delta
  (kinds/todo_feed.py, the To Do side's feed; the cursor, `task_cursor`, holds one delta link per list and
  what the last read of the list of lists found, which is read again only when due or when a linked task
  left its list).
- No extended properties: the stamp is a linkedResource (`task_todo`; read and written by the To Do side,
  `todo_tasks`), and the F&O activity keeps the To Do task id in `OutlookEntryId` (as `todo:<id>`), so a
  partner is found again without listing every task.
- No immutable ids: a task moved to another list gets a new id. Its old id then answers 404 or comes
  as `@removed`; the task is found again by its linkedResource and the link follows it (the feed, and
  `TodoTasks.get`), so nothing is deleted or duplicated.
- Only the configured list (default list unless SYNC_TODO_LIST) imports new tasks; linked tasks keep
  syncing in whatever list the user moves them to. Outside that list a task with the category counts as
  marked when it carries this product's stamp (`graph_view`); the feed reads such a task, when it is not
  linked, to learn that (`TodoFeed._stamped_elsewhere`), so a stamped task marked again in another list is
  linked again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync_core.engine.rules import task_deletion_rule
from sync_core.engine.types import SideView
from sync_core.kinds import inventory
from sync_core.kinds import task_todo as todo
from sync_core.kinds.fno_activities import FnoActivities
from sync_core.kinds.task_cursor import note_created
from sync_core.kinds.task_todo import list_id_of
from sync_core.kinds.todo_tasks import TodoTasks
from sync_core.model.task import (
    REMINDER_FIELDS,
    content_hash,
    from_record,
    task_activity_fields,
    task_from_activity,
    task_from_todo,
    to_record,
    todo_fields,
)
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import fno_key, parse_fno_time, row_version
from sync_core.runtime.kind import FnoItem, GraphItem, Kind
from sync_core.runtime.rules import KindRules
from sync_core.settings import Settings
from sync_core.state.base import Link

NAME = "task"
ACTIVITY_CATEGORY = "Task"


class SyncListMissing(RuntimeError):
    """The configured To Do list does not exist yet; the mailbox scan creates it (retried, transient)."""


# ---- the rules (runtime/rules.py) -------------------------------------------------------------------
def _in_scope(ctx: SyncContext, record: Mapping[str, Any]) -> bool:
    """Open tasks always; a completed one only if it is dated inside the window's past part
    (years of finished F&O tasks are not pushed into To Do, nor the other way round)."""
    task = from_record(record)
    day = task.due or task.start
    if not task.completed or day is None:
        return True
    return day >= (ctx.window()[0]).date()


RULES = KindRules(
    merge_groups=(REMINDER_FIELDS,),
    # Written without reading first (pipeline/reads.py) unless the status changes: reopening a task
    # depends on the percentage F&O holds now.
    fields_needing_fno_row=frozenset({"status"}),
    deletion_rule=task_deletion_rule,
    in_scope=_in_scope,
    unlink_record_follows_stamp=True,  # a moved task has a new id, the same linkedResource
)


class TaskMapping:
    """Activities of category Task <-> To Do tasks (model/task.py)."""

    def __init__(self, fno_side: FnoActivities, graph_side: TodoTasks) -> None:
        self._fno, self._graph = fno_side, graph_side

    def graph_if_match(self, settings: Settings, link: Link) -> str | None:
        """The task's `@odata.etag` (its version), only with SYNC_TODO_WRITE_WITHOUT_READ: Update todoTask
        (api-reference/v1.0/api/todotask-update.md) names no `If-Match`, so by default a task is read first
        and written without one."""
        return (link.graph_version or None) if settings.todo_write_without_read else None

    def content_hash(self, record: Mapping[str, Any]) -> str:
        return content_hash(record)

    async def load_fno(self, ctx: SyncContext, key: str) -> FnoItem | None:
        # The pair job's FnoItem of an activity row (the version its mapping compares).
        row = await self._fno.get(ctx, key)
        if row is None:
            return None
        return _fno_item(key, row)

    async def fno_item_from_row(self, ctx: SyncContext, key: str, row: Mapping[str, Any]) -> FnoItem | None:
        """The activity as the F&O feed read it: the same FnoItem as load_fno, without a request. A row
        that is not this key's or lacks a field the pair job reads is read again."""
        if not _whole_row_of(key, row):
            return await self.load_fno(ctx, key)
        return _fno_item(key, dict(row))

    async def fno_view(self, ctx: SyncContext, mailbox: Mailbox, item: FnoItem | None) -> SideView:
        if item is None or item.row.get("Category") != ACTIVITY_CATEGORY:
            return SideView(present=item is not None, marked=False)
        task = task_from_activity(item.row, sync_category=ctx.settings.category, time_zone=mailbox.zone)
        return SideView(
            present=True,
            marked=item.row.get("KeepSynchronized") == "Yes",
            record=to_record(task),
            modified_at=parse_fno_time(item.row.get("LastDateTimeEdited")),
        )

    async def graph_view(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem | None) -> SideView:
        if item is None:
            return SideView(present=False, marked=False)
        categories = item.item.get("categories")
        marked = isinstance(categories, list) and ctx.settings.category in categories
        if marked and not item.stamp:
            # Unstamped tasks are imported only from the configured list.
            marked = todo.split(item.id)[0] == await self._graph.sync_list_id(ctx, mailbox)
        task = task_from_todo(item.item, sync_category=ctx.settings.category, time_zone=mailbox.zone)
        return SideView(
            present=True,
            marked=marked,
            record=to_record(task),
            modified_at=parse_fno_time(item.item.get("lastModifiedDateTime")),
        )

    async def align(
        self, ctx: SyncContext, mailbox: Mailbox, fno: SideView, graph: SideView
    ) -> tuple[SideView, SideView]:
        return fno, graph  # every canonical task field exists on both sides

    def is_organizer(self, graph: GraphItem | None) -> bool:
        return True  # a To Do task has no organizer: the mailbox owns it


class TaskPartners:
    """The task an activity's OutlookEntryId names or that carries its stamp; the activity a task's
    linkedResource names or that holds its id."""

    def __init__(self, fno_side: FnoActivities, graph_side: TodoTasks, mapping: TaskMapping) -> None:
        self._fno, self._graph, self._mapping = fno_side, graph_side, mapping

    async def find_graph_partner(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem) -> GraphItem | None:
        """The To Do task of activity `fno`: first the one its OutlookEntryId names (written when the
        task was created from F&O, or in the same request that made the activity from To Do), then (only
        when there is a reason to think one exists) by reading the mailbox's lists for the stamp."""
        key = fno.key
        stored = str(fno.row.get("OutlookEntryId") or "")
        entry = stored.removeprefix(todo.ENTRY_PREFIX) if stored.startswith(todo.ENTRY_PREFIX) else ""
        if entry:
            found = await self._task_named(ctx, mailbox, key, entry)
            if found is not None:
                return found
        claimed = await ctx.store.get_link_by_fno(NAME, mailbox.address, key)
        if not entry and claimed is None:
            return None  # never sent to To Do: no need to read every list
        found = await self._graph.find_stamped(ctx, mailbox, key)
        if found is not None and claimed is not None and claimed.claimed_side == "graph" and not ctx.dry_run:
            await self._finish_create(ctx, mailbox, fno, found)
        return found

    async def _finish_create(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, task: GraphItem) -> None:
        """A create of ours made `task` but its worker died (or the answer was lost) before the steps after
        the POST (TaskWrites.create_in_graph): note the task for the next scan, or a deletion before its
        list's next delta round is never reported; and name it in OutlookEntryId, or the activity marked
        again after an unlink would not find it and make a second one."""
        await note_created(ctx, NAME, mailbox, task.id)
        _list_id, task_id = todo.split(task.id)
        entry = todo.ENTRY_PREFIX + task_id
        # No row: a claim settled after its activity went (pipeline/pair.py), nothing to write to.
        if fno.row and fno.row.get("OutlookEntryId") != entry:
            await self._fno.update(ctx, fno.key, {"OutlookEntryId": entry})

    async def _task_named(
        self, ctx: SyncContext, mailbox: Mailbox, key: str, task_id: str
    ) -> GraphItem | None:
        """The task with this id, in the sync list or else in any other list, if it is stamped for this
        activity or not at all (a task made into an activity whose answer was lost is not stamped yet)."""
        sync_list = await self._graph.sync_list_id(ctx, mailbox)
        list_ids = [sync_list] if sync_list else []
        task = await self._graph.get_in(ctx, mailbox, sync_list, task_id) if sync_list else None
        if task is None:
            others = [
                list_id_of(lst)
                for lst in await self._graph.lists(ctx, mailbox)
                if list_id_of(lst) not in list_ids
            ]
            for list_id in others:
                if not list_id or not todo.is_usable_id(task_id):
                    continue
                task = await self._graph.get_in(ctx, mailbox, list_id, task_id)
                if task is not None:
                    break
        if task is None or task.stamp not in (None, key):
            return None
        return task

    async def find_fno_partner(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem) -> FnoItem | None:
        """The activity named by the task's linkedResource, else the one holding its id in OutlookEntryId.

        A linkedResource can be written by any app or user: it only counts for a task activity of this
        mailbox's own worker, so a crafted one cannot link someone else's activity into this mailbox."""
        if graph.stamp:
            found = await self._mapping.load_fno(ctx, graph.stamp)
            if found is not None and _owned_task(found.row, mailbox):
                return found
        _list, task_id = todo.split(graph.id)
        for row in await self._fno.pointing_at(ctx, todo.ENTRY_PREFIX + task_id):
            if _owned_task(row, mailbox):
                return await self._mapping.load_fno(
                    ctx, fno_key(str(row["dataAreaId"]), str(row["ActivityNumber"]))
                )
        return None


class TaskWrites:
    """To Do tasks (in the sync list) and task activities written from the canonical record."""

    def __init__(self, fno_side: FnoActivities, graph_side: TodoTasks, mapping: TaskMapping) -> None:
        self._fno, self._graph, self._mapping = fno_side, graph_side, mapping

    async def create_in_graph(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, record: Mapping[str, Any]
    ) -> GraphItem:
        list_id = await self._graph.sync_list_id(ctx, mailbox)
        if list_id is None:
            raise SyncListMissing("the configured To Do list does not exist yet; the mailbox scan creates it")
        body = todo_fields(
            from_record(record),
            time_zone=mailbox.zone,
            time_zone_name=mailbox.zone_name,
            sync_category=ctx.settings.category,
        )
        item = await self._graph.create(ctx, mailbox, body, stamp=fno.key, container=list_id)
        # F&O remembers where the task is, so the partner is found without reading every list.
        await self._fno.update(ctx, fno.key, {"OutlookEntryId": todo.ENTRY_PREFIX + str(item.item["id"])})
        return item

    async def create_in_fno(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, record: Mapping[str, Any]
    ) -> FnoItem:
        _list_id, task_id = todo.split(graph.id)
        body = task_activity_fields(from_record(record), time_zone=mailbox.zone)
        key, row = await self._fno.create(ctx, mailbox, body, reference=todo.ENTRY_PREFIX + task_id)
        if graph.stamp != key:
            await self._graph.stamp(ctx, mailbox, graph, key)
        if _whole_row_of(key, row):
            return _fno_item(key, row)  # F&O answered the POST with the record: no read back
        loaded = await self._mapping.load_fno(ctx, key)
        if loaded is None:
            raise RuntimeError("the activity just created cannot be read back")
        return loaded

    async def update_graph(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        graph: GraphItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str:
        patch = todo_fields(
            from_record(record),
            time_zone=mailbox.zone,
            time_zone_name=mailbox.zone_name,
            sync_category=ctx.settings.category,
            fields=set(fields),
        )
        if not patch:
            return graph.version
        return await self._graph.update(ctx, mailbox, graph, patch)

    async def update_fno(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        fno: FnoItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str:
        patch = task_activity_fields(
            from_record(record), time_zone=mailbox.zone, fields=set(fields), current=fno.row
        )
        if patch:
            await self._fno.update(ctx, fno.key, patch, if_match=fno.if_match)
        return ""

    async def stamp_graph(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, fno_key: str) -> None:
        await self._graph.stamp(ctx, mailbox, graph, fno_key)  # the stamp alone finishes a create


class TaskListings:
    """The sync list's tasks and the worker's task activities (kinds/inventory.py)."""

    def __init__(self, graph_side: TodoTasks) -> None:
        self._graph = graph_side

    async def graph_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        return await inventory.task_graph(ctx, mailbox, await self._graph.sync_list_id(ctx, mailbox))

    async def fno_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        return await inventory.task_fno(ctx, mailbox, ACTIVITY_CATEGORY)


def _owned_task(row: Mapping[str, Any], mailbox: Mailbox) -> bool:
    return (
        row.get("Category") == ACTIVITY_CATEGORY
        and str(row.get("ResponsibleWorkerPersonnelNumber") or "") == mailbox.record.personnel_number
    )


# What the task pair job reads of an activity row (the mapping, the marks, ownership, the version).
_ROW_FIELDS = (
    "dataAreaId",
    "ActivityNumber",
    "Category",
    "KeepSynchronized",
    "ResponsibleWorkerPersonnelNumber",
    "LastDateTimeEdited",
    "OutlookEntryId",
    "Purpose",
    "OutlookText",
    "StartDateTime",
    "EndDateTime",
    "ActivityStatus",
    "Closed",
    "CompletedPercentage",
    "Priority",
    "Reminder",
    "ReminderDate",
    "OutlookCategories",
)


def _whole_row_of(key: str, row: Mapping[str, Any]) -> bool:
    """Whether `row` is the activity `key` with every field the pair job reads (a $select that left
    one out would otherwise read as that field's default)."""
    if any(name not in row for name in _ROW_FIELDS) or not row.get("LastDateTimeEdited"):
        return False
    company, number = row.get("dataAreaId"), row.get("ActivityNumber")
    if not isinstance(company, str) or not isinstance(number, str) or not company:
        return False
    try:
        return fno_key(company, number) == key
    except ValueError:
        return False


def _fno_item(key: str, row: Mapping[str, Any]) -> FnoItem:
    return FnoItem(key=key, row=row, version=row_version(row, "LastDateTimeEdited"), extra={})


def task_kind() -> Kind:
    """The task kind: activities of category Task and To Do tasks (a factory: the To Do side keeps the sync
    list it found, per kind instance)."""
    fno = FnoActivities(ACTIVITY_CATEGORY, read_before_delete=True)
    graph = TodoTasks(NAME)  # follows this kind's links and cursor
    mapping = TaskMapping(fno, graph)
    return Kind(
        name=NAME,
        rules=RULES,
        fno_side=fno,
        graph_side=graph,
        mapping=mapping,
        partners=TaskPartners(fno, graph, mapping),
        writes=TaskWrites(fno, graph, mapping),
        listings=TaskListings(graph),
    )


__all__ = ["ACTIVITY_CATEGORY", "NAME", "SyncListMissing", "task_kind"]
