"""Tasks: F&O `Activities` (Category Task) <-> Microsoft To Do tasks (SPEC.md 3.2).

What is special about To Do, and where it is handled:
- No change notifications for app-only callers: every list of the mailbox is polled with delta
  (`scan_exchange`; the cursor is one delta link per list).
- No extended properties: the stamp is a linkedResource (`task_todo`), and the F&O activity keeps the
  To Do task id in `OutlookEntryId` (as `todo:<id>`), so a partner is found again without listing every task.
- No immutable ids: a task moved to another list gets a new id. Its old id then answers 404 or comes
  as `@removed`; the task is found again by its linkedResource and the link follows it (scan and
  `load_graph`), so nothing is deleted or duplicated.
- Only the configured list (default list unless SYNC_TODO_LIST) imports new tasks; linked tasks keep
  syncing in whatever list the user moves them to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sync_core.d365 import entities
from sync_core.engine.rules import task_deletion_rule
from sync_core.engine.types import DeletionContext, SideView
from sync_core.kinds import task_todo as todo
from sync_core.kinds.activity_feed import FEED_PAGE, scan_activity_feed
from sync_core.kinds.base import (
    DeletionOutcome,
    EmitExchange,
    EmitFno,
    ExchangeChange,
    FnoItem,
    GraphItem,
)
from sync_core.kinds.keys import fno_key, parse_fno_time, split_fno_key
from sync_core.model.task import (
    REMINDER_FIELDS,
    content_hash,
    from_record,
    is_closed,
    task_activity_fields,
    task_from_activity,
    task_from_todo,
    to_record,
    todo_fields,
)
from sync_core.pipeline.context import Mailbox, SyncContext
from sync_core.state.base import ConcurrencyError, Link

log = logging.getLogger(__name__)

ACTIVITY_CATEGORY = "Task"
_FLAGGED = "flaggedEmails"  # To Do's view of flagged messages: not tasks this product syncs


class SyncListMissing(RuntimeError):
    """The configured To Do list does not exist yet; the mailbox scan creates it (retried, transient)."""


class TaskKind:
    name = "task"
    merge_groups: tuple[tuple[str, ...], ...] = (REMINDER_FIELDS,)

    def __init__(self) -> None:
        # Per mailbox: the id of the list tasks go to (read once per context; lists rarely change).
        self._sync_lists: dict[str, str] = {}

    def content_hash(self, record: Mapping[str, Any]) -> str:
        return content_hash(record)

    def deletion_rule(self, context: DeletionContext) -> DeletionOutcome:
        return task_deletion_rule(context)

    # ---- feeds -------------------------------------------------------------------------------------
    async def scan_exchange(
        self, ctx: SyncContext, mailbox: Mailbox, cursor: str | None, emit: EmitExchange
    ) -> str | None:
        saved = _load_cursor(cursor)
        lists = await todo.list_lists(ctx.graph, mailbox.address)
        sync_list = await self._resolve_sync_list(ctx, mailbox, lists, create=True)
        category = ctx.settings.category
        listed: list[ExchangeChange] = []
        removed: list[str] = []
        carrying: set[str] = set()  # listed tasks that carry the sync category
        links_out: dict[str, str] = {}
        scanned = [lst for lst in lists if _list_id(lst) and lst.get("wellknownListName") != _FLAGGED]
        for lst in scanned:
            list_id = _list_id(lst)
            start = saved.get(list_id) or todo.delta_path(mailbox.address, list_id)
            async for page in ctx.graph.iter_delta(mailbox.address, start):
                for item in page.items:
                    task_id = item.get("id")
                    if not isinstance(task_id, str) or not todo.is_usable_id(task_id):
                        continue
                    graph_id = todo.compose(list_id, task_id)
                    if "@removed" in item:
                        removed.append(graph_id)
                        continue
                    categories = item.get("categories")
                    tagged = isinstance(categories, list) and category in categories
                    if tagged:
                        carrying.add(graph_id)
                    listed.append(ExchangeChange(graph_id, marked=tagged and list_id == sync_list))
                if page.delta_link:
                    links_out[list_id] = page.delta_link
        current = {_list_id(lst) for lst in scanned}
        vanished = {list_id for list_id in saved if list_id not in current}
        moved = await self._follow_moves(
            ctx, mailbox, scanned, listed, removed, carrying, full=not saved, vanished=vanished
        )
        changes = [*listed, *moved]
        for offset in range(0, len(changes), FEED_PAGE):
            await emit(changes[offset : offset + FEED_PAGE])
        return json.dumps({"v": 1, "lists": links_out}, sort_keys=True)

    async def _follow_moves(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        lists: list[dict[str, Any]],
        listed: list[ExchangeChange],
        removed: list[str],
        carrying: set[str],
        *,
        full: bool,
        vanished: set[str],
    ) -> list[ExchangeChange]:
        """Links whose task moved to another list (To Do gives it a new id there) follow it.

        Two ways to notice: a task the round lists under an unknown id carries the category and this
        product's linkedResource of a linked F&O key whose old id is gone; or a linked id was reported
        removed, was not listed by a full round, or was in a list that is gone (then the lists are read
        once to find the stamp elsewhere). Relinking happens before the changes are queued, so the pair
        job finds the link under the new id. Returns changes to queue besides `listed`."""
        store, address = ctx.store, mailbox.address
        out: list[ExchangeChange] = []
        followed: set[str] = set()  # old ids whose link now points at the moved task
        for graph_id in [c.graph_id for c in listed if c.graph_id in carrying]:
            if await store.get_link_by_graph(self.name, address, graph_id) is not None:
                continue
            list_id, task_id = todo.split(graph_id)
            task = await todo.get_task(ctx.graph, address, list_id, task_id)
            stamp = todo.stamp_of(task) if task else None
            link = await store.get_link_by_fno(self.name, address, stamp) if stamp else None
            if (
                link is None
                or not _is_task_ref(link.graph_id)
                or await self._still_there(ctx, mailbox, link.graph_id)
            ):
                continue
            followed.add(link.graph_id)
            out.append(await self._relink(ctx, link, graph_id))
        if not removed and not full and not vanished:
            return out
        links = {
            link.graph_id: link
            for link in await store.list_links(self.name, address)
            if _is_task_ref(link.graph_id) and link.graph_id not in followed
        }
        seen = {change.graph_id for change in listed}
        gone = set(removed)
        suspects = [links[g] for g in dict.fromkeys(removed) if g in links]
        suspects += [
            link
            for graph_id, link in links.items()
            if graph_id not in gone and graph_id not in seen and (full or todo.split(graph_id)[0] in vanished)
        ]
        out += [ExchangeChange(g, removed=True) for g in removed if g not in links and g not in followed]
        if not suspects:
            return out
        index = await self._stamp_index(ctx, mailbox, lists)
        for link in suspects:
            candidates = [g for g in index.get(link.fno_key, []) if g == link.graph_id or g not in links]
            if link.graph_id in candidates or not candidates:
                out.append(ExchangeChange(link.graph_id, removed=not candidates))
                continue
            out.append(await self._relink(ctx, link, candidates[0]))
        return out

    async def _still_there(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> bool:
        list_id, task_id = todo.split(graph_id)
        return await todo.get_task(ctx.graph, mailbox.address, list_id, task_id) is not None

    async def _relink(self, ctx: SyncContext, link: Link, new_id: str) -> ExchangeChange:
        if not ctx.dry_run:
            try:
                await ctx.store.save_link(link.model_copy(update={"graph_id": new_id}))
            except ConcurrencyError:
                log.info("task link changed meanwhile; its pair job follows the move")
        log.info("task moved between To Do lists; its link follows it")
        return ExchangeChange(new_id)

    async def _stamp_index(
        self, ctx: SyncContext, mailbox: Mailbox, lists: list[dict[str, Any]]
    ) -> dict[str, list[str]]:
        """F&O key -> tasks carrying it, over all the given lists (one read of each list)."""
        index: dict[str, list[str]] = {}
        for lst in lists:
            list_id = _list_id(lst)
            async for task in todo.iter_tasks(ctx.graph, mailbox.address, list_id):
                stamp = todo.stamp_of(task)
                if stamp and todo.is_usable_id(task.get("id")):
                    index.setdefault(stamp, []).append(todo.compose(list_id, task["id"]))
        return index

    async def scan_fno(self, ctx: SyncContext, cursor: str | None, emit: EmitFno) -> str | None:
        return await scan_activity_feed(ctx, ACTIVITY_CATEGORY, cursor, emit)

    # ---- reading a pair ----------------------------------------------------------------------------
    async def load_fno(self, ctx: SyncContext, key: str) -> FnoItem | None:
        company, number = split_fno_key(key)
        row = await entities.get_activity(ctx.fno, company, number)
        if row is None:
            return None
        return FnoItem(key=key, row=row, version=str(row.get("LastDateTimeEdited") or ""), extra={})

    async def load_graph(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> GraphItem | None:
        try:
            list_id, task_id = todo.split(graph_id)
        except ValueError:
            return None
        task = await todo.get_task(ctx.graph, mailbox.address, list_id, task_id)
        if task is not None:
            return _graph_item(list_id, task)
        # Not where the link says: moved to another list (new id) or deleted. The stamp tells which.
        link = await ctx.store.get_link_by_graph(self.name, mailbox.address, graph_id)
        if link is None or link.fno_key.startswith("pending:"):
            return None
        return await self._search(ctx, mailbox, link.fno_key, skip_linked=True)

    async def find_graph_partner(self, ctx: SyncContext, mailbox: Mailbox, key: str) -> GraphItem | None:
        """The To Do task stamped with `key`: first where F&O says it is, then (only when there is a
        reason to think one exists) by reading the mailbox's lists."""
        fno = await self.load_fno(ctx, key)
        stored = str(fno.row.get("OutlookEntryId") or "") if fno else ""
        entry = stored.removeprefix(todo.ENTRY_PREFIX) if stored.startswith(todo.ENTRY_PREFIX) else ""
        sync_list = await self._sync_list_id(ctx, mailbox) if entry else None
        if entry and sync_list:
            task = await todo.get_task(ctx.graph, mailbox.address, sync_list, entry)
            if task is not None and todo.stamp_of(task) == key:
                return _graph_item(sync_list, task)
        claimed = await ctx.store.get_link_by_fno(self.name, mailbox.address, key)
        if not entry and claimed is None:
            return None  # never sent to To Do: no need to read every list
        return await self._search(ctx, mailbox, key, skip_linked=False)

    async def _search(
        self, ctx: SyncContext, mailbox: Mailbox, key: str, *, skip_linked: bool
    ) -> GraphItem | None:
        lists = await todo.list_lists(ctx.graph, mailbox.address)
        for lst in lists:
            list_id = _list_id(lst)
            if not list_id or lst.get("wellknownListName") == _FLAGGED:
                continue
            async for task in todo.iter_tasks(ctx.graph, mailbox.address, list_id):
                if todo.stamp_of(task) != key or not todo.is_usable_id(task.get("id")):
                    continue
                graph_id = todo.compose(list_id, task["id"])
                if skip_linked and await ctx.store.get_link_by_graph(self.name, mailbox.address, graph_id):
                    continue
                return _graph_item(list_id, task)
        return None

    async def find_fno_partner(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem) -> FnoItem | None:
        """The activity named by the task's linkedResource, else the one holding its id in OutlookEntryId.

        A linkedResource can be written by any app or user: it only counts for a task activity of this
        mailbox's own worker, so a crafted one cannot link someone else's activity into this mailbox."""
        if graph.stamp:
            found = await self.load_fno(ctx, graph.stamp)
            if found is not None and _owned_task(found.row, mailbox):
                return found
        _list, task_id = todo.split(graph.id)
        for row in await entities.find_activities_by_outlook_entry_id(ctx.fno, todo.ENTRY_PREFIX + task_id):
            if _owned_task(row, mailbox):
                return await self.load_fno(ctx, fno_key(str(row["dataAreaId"]), str(row["ActivityNumber"])))
        return None

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
            marked = todo.split(item.id)[0] == await self._sync_list_id(ctx, mailbox)
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

    def in_scope(self, ctx: SyncContext, record: Mapping[str, Any]) -> bool:
        """Open tasks always; a completed one only if it is dated inside the window's past part
        (years of finished F&O tasks are not pushed into To Do, nor the other way round)."""
        task = from_record(record)
        day = task.due or task.start
        if not task.completed or day is None:
            return True
        return day >= (ctx.window()[0]).date()

    def is_organizer(self, graph: GraphItem | None) -> bool:
        return True  # a To Do task has no organizer: the mailbox owns it

    # ---- writing -----------------------------------------------------------------------------------
    async def create_in_graph(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, record: Mapping[str, Any]
    ) -> GraphItem:
        list_id = await self._sync_list_id(ctx, mailbox)
        if list_id is None:
            raise SyncListMissing("the configured To Do list does not exist yet; the mailbox scan creates it")
        body = todo_fields(
            from_record(record),
            time_zone=mailbox.zone,
            time_zone_name=mailbox.zone_name,
            sync_category=ctx.settings.category,
        )
        body["linkedResources"] = [todo.linked_resource(ctx.settings.d365_url, fno.key)]
        task = await todo.create_task(ctx.graph, mailbox.address, list_id, body)
        item = _graph_item(list_id, task, stamp=fno.key)
        # F&O remembers where the task is, so the partner is found without reading every list.
        company, number = split_fno_key(fno.key)
        await ctx.fno.update(
            "Activities",
            entities.activity_key(company, number),
            {"OutlookEntryId": todo.ENTRY_PREFIX + str(task["id"])},
        )
        return item

    async def create_in_fno(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, record: Mapping[str, Any]
    ) -> FnoItem:
        company = mailbox.record.company
        list_id, task_id = todo.split(graph.id)
        body = task_activity_fields(from_record(record), time_zone=mailbox.zone)
        body.update(
            {
                "dataAreaId": company,
                "Category": ACTIVITY_CATEGORY,
                "KeepSynchronized": "Yes",
                "ResponsibleWorkerPersonnelNumber": mailbox.record.personnel_number,
                # Finds the activity again if we crash before the link is saved.
                "OutlookEntryId": todo.ENTRY_PREFIX + task_id,
            }
        )
        row = await ctx.fno.create("Activities", body)
        key = fno_key(company, str(row["ActivityNumber"]))
        if graph.stamp != key:
            resource = todo.linked_resource(ctx.settings.d365_url, key)
            await todo.set_stamp(ctx.graph, mailbox.address, list_id, graph.item, resource)
        loaded = await self.load_fno(ctx, key)
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
        list_id, task_id = todo.split(graph.id)
        task = await todo.update_task(ctx.graph, mailbox.address, list_id, task_id, patch)
        return str(task.get("@odata.etag") or "")

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
            company, number = split_fno_key(fno.key)
            await ctx.fno.update("Activities", entities.activity_key(company, number), patch)
        return ""

    async def set_graph_mark(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, marked: bool
    ) -> None:
        await self._write_category(ctx, mailbox, graph.id, graph.item, marked)

    async def _write_category(
        self, ctx: SyncContext, mailbox: Mailbox, graph_id: str, item: Mapping[str, Any], marked: bool
    ) -> None:
        # Only the category list is written, so nothing else of the user's task changes.
        categories = [c for c in item.get("categories") or [] if c != ctx.settings.category]
        if marked:
            categories.append(ctx.settings.category)
        list_id, task_id = todo.split(graph_id)
        await todo.update_task(ctx.graph, mailbox.address, list_id, task_id, {"categories": categories})

    async def set_fno_mark(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, marked: bool) -> None:
        company, number = split_fno_key(fno.key)
        await ctx.fno.update(
            "Activities",
            entities.activity_key(company, number),
            {"KeepSynchronized": "Yes" if marked else "No"},
        )

    async def delete_graph(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> None:
        list_id, task_id = todo.split(graph_id)
        task = await todo.get_task(ctx.graph, mailbox.address, list_id, task_id)
        if task is None:
            return
        if task.get("status") == "completed":
            # Completed since the last sync: never deleted by sync; unmarked so it is not created again.
            await self._write_category(ctx, mailbox, graph_id, task, False)
            return
        await todo.delete_task(ctx.graph, mailbox.address, list_id, task_id)

    async def delete_fno(self, ctx: SyncContext, mailbox: Mailbox, key: str) -> None:
        company, number = split_fno_key(key)
        row = await entities.get_activity(ctx.fno, company, number)
        if row is None:
            return
        if is_closed(row):
            # Completed since the last sync: never deleted by sync; unmarked so it is not created again.
            await ctx.fno.update(
                "Activities", entities.activity_key(company, number), {"KeepSynchronized": "No"}
            )
            return
        await ctx.fno.delete("Activities", entities.activity_key(company, number))

    # ---- the configured list -----------------------------------------------------------------------
    async def _sync_list_id(self, ctx: SyncContext, mailbox: Mailbox) -> str | None:
        cached = self._sync_lists.get(mailbox.address)
        if cached is not None:
            return cached
        lists = await todo.list_lists(ctx.graph, mailbox.address)
        return await self._resolve_sync_list(ctx, mailbox, lists, create=False)

    async def _resolve_sync_list(
        self, ctx: SyncContext, mailbox: Mailbox, lists: list[dict[str, Any]], *, create: bool
    ) -> str | None:
        """The default list, or the one named SYNC_TODO_LIST (created when `create` and not a dry run)."""
        name = ctx.settings.todo_list.strip()
        found: str | None = None
        for lst in lists:
            if lst.get("wellknownListName") == _FLAGGED:
                continue
            if name and str(lst.get("displayName") or "").strip().casefold() == name.casefold():
                found = _list_id(lst)
                break
            if not name and lst.get("wellknownListName") == "defaultList":
                found = _list_id(lst)
                break
        if found is None and name and create and not ctx.dry_run:
            created = await todo.create_list(ctx.graph, mailbox.address, name)
            found = _list_id(created)
            if found:
                lists.append(created)
                log.info("To Do list created")
        if found:
            self._sync_lists[mailbox.address] = found
        return found or None


def _list_id(lst: Mapping[str, Any]) -> str:
    """The list's id, or "" for one that cannot be addressed (never seen from Graph)."""
    value = lst.get("id")
    return value if isinstance(value, str) and todo.is_usable_id(value) and ":" not in value else ""


def _owned_task(row: Mapping[str, Any], mailbox: Mailbox) -> bool:
    return (
        row.get("Category") == ACTIVITY_CATEGORY
        and str(row.get("ResponsibleWorkerPersonnelNumber") or "") == mailbox.record.personnel_number
    )


def _is_task_ref(graph_id: str) -> bool:
    try:
        todo.split(graph_id)
    except ValueError:
        return False
    return True


def _graph_item(list_id: str, task: Mapping[str, Any], stamp: str | None = None) -> GraphItem:
    return GraphItem(
        id=todo.compose(list_id, str(task["id"])),
        item=task,
        version=str(task.get("@odata.etag") or ""),
        stamp=stamp or todo.stamp_of(task),
    )


def _load_cursor(cursor: str | None) -> dict[str, str]:
    """Per-list delta links; anything unreadable means a full round."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    lists = value.get("lists") if isinstance(value, dict) else None
    if not isinstance(lists, dict):
        return {}
    return {k: v for k, v in lists.items() if isinstance(k, str) and isinstance(v, str) and v}


__all__ = ["ACTIVITY_CATEGORY", "SyncListMissing", "TaskKind"]
