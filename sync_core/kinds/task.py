"""Tasks: F&O `Activities` (Category Task) <-> Microsoft To Do tasks (docs/spec.md §3.2).

What is special about To Do, and where it is handled:
- No change notifications for app-only callers: every list of the mailbox is polled with delta
  (`scan_exchange`; the cursor, `task_cursor`, holds one delta link per list and what the last read of
  the list of lists found, which is read again only when due or when a linked task left its list).
- No extended properties: the stamp is a linkedResource (`task_todo`; read and written by the To Do side,
  `todo_tasks`), and the F&O activity keeps the To Do task id in `OutlookEntryId` (as `todo:<id>`), so a
  partner is found again without listing every task.
- No immutable ids: a task moved to another list gets a new id. Its old id then answers 404 or comes
  as `@removed`; the task is found again by its linkedResource and the link follows it (scan and
  `load_graph`), so nothing is deleted or duplicated.
- Only the configured list (default list unless SYNC_TODO_LIST) imports new tasks; linked tasks keep
  syncing in whatever list the user moves them to. Outside that list a task with the category counts as
  marked when it carries this product's stamp (`graph_view`); the scan reads such a task, when it is not
  linked, to learn that (`_stamped_elsewhere`), so a stamped task marked again in another list is linked again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sync_core.engine.rules import task_deletion_rule
from sync_core.engine.types import SideView
from sync_core.exchange.errors import GraphNotFound
from sync_core.kinds import inventory
from sync_core.kinds import task_todo as todo
from sync_core.kinds.activity_feed import FEED_PAGE
from sync_core.kinds.exchange_feed import read_delta
from sync_core.kinds.fno_activities import FnoActivities
from sync_core.kinds.task_cursor import CREATED_MAX, TaskCursor, load_cursor
from sync_core.kinds.todo_tasks import TodoTasks, list_id_of, task_item
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
from sync_core.runtime.keys import exchange_cursor_name, fno_key, parse_fno_time, row_version
from sync_core.runtime.kind import (
    EmitExchange,
    EmitFno,
    ExchangeChange,
    FnoItem,
    GraphItem,
    KindDefaults,
)
from sync_core.runtime.rules import KindRules
from sync_core.settings import Settings
from sync_core.state.base import ConcurrencyError, Link

log = logging.getLogger(__name__)

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


class TaskKind(KindDefaults):
    name = "task"
    rules = RULES

    def graph_if_match(self, settings: Settings, link: Link) -> str | None:
        """The task's `@odata.etag` (its version), only with SYNC_TODO_WRITE_WITHOUT_READ: Update todoTask
        (api-reference/v1.0/api/todotask-update.md) names no `If-Match`, so by default a task is read first
        and written without one."""
        return (link.graph_version or None) if settings.todo_write_without_read else None

    def __init__(self) -> None:
        # The two sides (runtime/side.py).
        self.fno_side = FnoActivities(ACTIVITY_CATEGORY)
        self.graph_side = TodoTasks()
        # Per mailbox: the id of the list tasks go to (read once per context; lists rarely change).
        self._sync_lists: dict[str, str] = {}

    def content_hash(self, record: Mapping[str, Any]) -> str:
        return content_hash(record)

    # ---- feeds -------------------------------------------------------------------------------------
    async def scan_exchange(
        self, ctx: SyncContext, mailbox: Mailbox, cursor: str | None, emit: EmitExchange
    ) -> str | None:
        """One delta round per watched list. The list of lists (new lists, the list a moved task went to)
        is read only when due (SYNC_TODO_LISTS_REFRESH_MINUTES), or at once when a watched list is gone or
        reports a linked task removed: that is how a move to another list shows."""
        saved = load_cursor(cursor)
        now, name = ctx.now(), ctx.settings.todo_list.strip()
        out = TaskCursor(
            links={}, lists_read_at=saved.lists_read_at, sync_list=saved.sync_list, list_name=name
        )
        watched: list[str] | None = None
        lists_read = saved.lists_due(now, ctx.settings.todo_lists_refresh_minutes, name, mailbox.address)
        if lists_read:
            watched = await self._read_lists(ctx, mailbox, out, now)
        else:
            self._sync_lists[mailbox.address] = str(saved.sync_list)
        found = _Round()
        pending = watched if watched is not None else list(saved.links)
        await self._read_deltas(ctx, mailbox, pending, saved.links, out, found)
        if watched is None:
            watched = list(saved.links)
            if found.gone_lists or await self._linked_removal(ctx, mailbox, found.removed):
                fresh = await self._read_lists(ctx, mailbox, out, now)
                # New lists (and one that answered 404 but is listed again) start a round of their own.
                await self._read_deltas(
                    ctx, mailbox, [i for i in fresh if i not in out.links], {}, out, found
                )
                watched, lists_read = fresh, True
        current = set(watched) - found.gone_lists
        vanished = {list_id for list_id in saved.links if list_id not in current}
        seen = {change.graph_id for change in found.listed} | set(found.removed)
        moved = await self._follow_moves(
            ctx,
            mailbox,
            [list_id for list_id in watched if list_id in current],
            found.listed,
            found.removed,
            found.carrying,
            full=not saved.links,
            vanished=vanished,
            unlisted=[graph_id for graph_id in saved.created if graph_id not in seen],
            may_have_moved=lists_read or bool(found.removed) or not saved.links or bool(vanished),
            read=found.read,
        )
        changes = [*await self._stamped_elsewhere(ctx, mailbox, found, out.sync_list), *moved]
        for offset in range(0, len(changes), FEED_PAGE):
            await emit(changes[offset : offset + FEED_PAGE])
        return out.dump()

    async def _read_lists(
        self, ctx: SyncContext, mailbox: Mailbox, out: TaskCursor, now: datetime
    ) -> list[str]:
        """Read the list of lists: the watched lists' ids, the sync list (created if missing) into `out`."""
        lists = await self.graph_side.lists(ctx, mailbox)
        out.sync_list = await self._resolve_sync_list(ctx, mailbox, lists, create=True)
        out.lists_read_at = now
        return [list_id_of(lst) for lst in lists if list_id_of(lst)]

    async def _read_deltas(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        list_ids: list[str],
        links: Mapping[str, str],
        out: TaskCursor,
        found: _Round,
    ) -> None:
        category, sync_list = ctx.settings.category, out.sync_list

        async def removed(changes: list[ExchangeChange]) -> None:
            found.removed.extend(change.graph_id for change in changes)  # the scan decides on them below

        for list_id in list_ids:
            start = links.get(list_id) or todo.delta_path(mailbox.address, list_id)

            async def listed(
                graph_id: str, item: Mapping[str, Any], list_id: str = list_id
            ) -> list[ExchangeChange]:
                found.add(list_id, graph_id, item, category=category, sync_list=sync_list)
                return []  # collected in `found`: what a listed task means needs the whole round

            def composed(item: Mapping[str, Any], list_id: str = list_id) -> str | None:
                return _composed_id(list_id, item)

            try:
                pages = ctx.graph.iter_delta(mailbox.address, start)
                done = await read_delta(pages, listed, removed, id_of=composed)
                if done.delta_link:
                    out.links[list_id] = done.delta_link
                found.gone_lists.discard(list_id)
            except GraphNotFound:
                found.gone_lists.add(list_id)  # the list was deleted since the list of lists was read
                out.links.pop(list_id, None)

    async def _linked_removal(self, ctx: SyncContext, mailbox: Mailbox, removed: list[str]) -> bool:
        for graph_id in removed:
            if await ctx.store.get_link_by_graph(self.name, mailbox.address, graph_id) is not None:
                return True
        return False

    async def _follow_moves(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        list_ids: list[str],
        listed: list[ExchangeChange],
        removed: list[str],
        carrying: set[str],
        *,
        full: bool,
        vanished: set[str],
        unlisted: list[str],
        may_have_moved: bool,
        read: dict[str, GraphItem | None],
    ) -> list[ExchangeChange]:
        """Links whose task moved to another list (To Do gives it a new id there) follow it.

        Two ways to notice: a task the round lists under an unknown id carries the category and this
        product's linkedResource of a linked F&O key whose old id is gone; or a linked id was reported
        removed, was not listed by a full round, or was in a list that is gone (then the lists are read
        once to find the stamp elsewhere), or was created by this product since the last round and not
        listed by this one (`unlisted`: deleted or moved before its first round, which delta never
        reports). Relinking happens before the changes are queued, so the pair job finds the link under
        the new id. Returns changes to queue besides `listed`.

        The first way reads each such task (delta does not send the linkedResource), so only when a move
        may have happened: a task was removed, or the list of lists was read (after this product created
        tasks, a task may move before its first round lists it, and nothing is reported removed). The
        tasks read are kept in `read` (composed id -> task, None if gone) for `_stamped_elsewhere`."""
        store, address = ctx.store, mailbox.address
        out: list[ExchangeChange] = []
        followed: set[str] = set()  # old ids whose link now points at the moved task
        unknown_ids = [c.graph_id for c in listed if c.graph_id in carrying] if may_have_moved else []
        for graph_id in unknown_ids:
            if await store.get_link_by_graph(self.name, address, graph_id) is not None:
                continue
            task = read[graph_id] = await self.graph_side.get(ctx, mailbox, graph_id)
            stamp = task.stamp if task else None
            link = await store.get_link_by_fno(self.name, address, stamp) if stamp else None
            if (
                link is None
                or not _is_task_ref(link.graph_id)
                or await self._still_there(ctx, mailbox, link.graph_id)
            ):
                continue
            followed.add(link.graph_id)
            out.append(await self._relink(ctx, link, graph_id))
        if not removed and not full and not vanished and not unlisted:
            return out
        links = {
            link.graph_id: link
            for link in await store.list_links(self.name, address)
            if _is_task_ref(link.graph_id) and link.graph_id not in followed
        }
        seen = {change.graph_id for change in listed}
        first = dict.fromkeys([*removed, *unlisted])
        suspects = [links[g] for g in first if g in links]
        suspects += [
            link
            for graph_id, link in links.items()
            if graph_id not in first
            and graph_id not in seen
            and (full or todo.split(graph_id)[0] in vanished)
        ]
        out += [ExchangeChange(g, removed=True) for g in removed if g not in links and g not in followed]
        if not suspects:
            return out
        index = await self._stamp_index(ctx, mailbox, list_ids)
        for link in suspects:
            candidates = [g for g in index.get(link.fno_key, []) if g == link.graph_id or g not in links]
            if link.graph_id in candidates or not candidates:
                out.append(ExchangeChange(link.graph_id, removed=not candidates))
                continue
            out.append(await self._relink(ctx, link, candidates[0]))
        return out

    async def _stamped_elsewhere(
        self, ctx: SyncContext, mailbox: Mailbox, found: _Round, sync_list: str | None
    ) -> list[ExchangeChange]:
        """The round's changes, marked as the pair job counts marks (`graph_view`): a task with the
        category counts in the sync list, and in any other list when it carries this product's stamp
        (a task the product knows: created or imported by it, then moved there). Delta sends no
        linkedResources, so such a task outside the sync list is read here; only when it is not linked
        (a linked task is queued anyway) and only when the round lists it (it changed): an idle scan
        reads nothing more. Without this, a stamped task unlinked earlier (unmarked on one side, so sync
        removed its category) and marked again by the user outside the sync list was never queued."""
        store, address = ctx.store, mailbox.address
        out: list[ExchangeChange] = []
        for change in found.listed:
            if change.marked or change.graph_id not in found.carrying:
                out.append(change)
                continue
            list_id, _task_id = todo.split(change.graph_id)
            if list_id == sync_list or await store.get_link_by_graph(self.name, address, change.graph_id):
                out.append(change)
                continue
            if change.graph_id in found.read:  # read by _follow_moves, or listed twice by delta
                task = found.read[change.graph_id]
            else:
                task = found.read[change.graph_id] = await self.graph_side.get(ctx, mailbox, change.graph_id)
            if task is not None and task.stamp:
                log.info("stamped To Do task marked outside the sync list; queued")
                change = replace(change, marked=True)
            out.append(change)
        return out

    async def _lists_stale(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> None:
        """A task created in To Do now is listed by its list's next delta round, unless the user moves or
        deletes it first: then no round reports it removed (delta reports only what a round listed), and
        a list created for it is not known while the list of lists is cached. So the next scan reads the
        list of lists and checks that its round listed the task (both marked in its cursor; a scan saving
        meanwhile is detected by the ETag, and the mark is made again on its cursor)."""
        name = exchange_cursor_name(self.name, mailbox.address)
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

    async def _still_there(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> bool:
        return await self.graph_side.get(ctx, mailbox, graph_id) is not None

    async def _relink(self, ctx: SyncContext, link: Link, new_id: str) -> ExchangeChange:
        if not ctx.dry_run:
            try:
                await ctx.store.save_link(link.model_copy(update={"graph_id": new_id}))
            except ConcurrencyError:
                log.info("task link changed meanwhile; its pair job follows the move")
        log.info("task moved between To Do lists; its link follows it")
        return ExchangeChange(new_id)

    async def _stamp_index(
        self, ctx: SyncContext, mailbox: Mailbox, list_ids: list[str]
    ) -> dict[str, list[str]]:
        """F&O key -> tasks carrying it, over all the given lists (one read of each list)."""
        index: dict[str, list[str]] = {}
        for list_id in list_ids:
            async for task in self.graph_side.tasks(ctx, mailbox, list_id):
                if task.stamp:
                    index.setdefault(task.stamp, []).append(task.id)
        return index

    async def scan_fno(self, ctx: SyncContext, cursor: str | None, emit: EmitFno) -> str | None:
        return await self.fno_side.read_changes(ctx, cursor, emit)

    # ---- reading a pair ----------------------------------------------------------------------------
    async def load_fno(self, ctx: SyncContext, key: str) -> FnoItem | None:
        row = await self.fno_side.get(ctx, key)
        if row is None:
            return None
        return _fno_item(key, row)

    async def fno_item_from_row(self, ctx: SyncContext, key: str, row: Mapping[str, Any]) -> FnoItem | None:
        """The activity as the F&O feed read it (pipeline hook): the same FnoItem as load_fno, without a
        request. A row that is not this key's or lacks a field the pair job reads is read again."""
        if not _whole_row_of(key, row):
            return await self.load_fno(ctx, key)
        return _fno_item(key, dict(row))

    async def load_graph(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> GraphItem | None:
        if not _is_task_ref(graph_id):
            return None
        task = await self.graph_side.get(ctx, mailbox, graph_id)
        if task is not None:
            return task
        # Not where the link says: moved to another list (new id) or deleted. The stamp tells which.
        link = await ctx.store.get_link_by_graph(self.name, mailbox.address, graph_id)
        if link is None or link.claimed_side == "fno":
            return None
        return await self._unlinked_stamped(ctx, mailbox, link.fno_key)

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
        claimed = await ctx.store.get_link_by_fno(self.name, mailbox.address, key)
        if not entry and claimed is None:
            return None  # never sent to To Do: no need to read every list
        found = await self.graph_side.find_stamped(ctx, mailbox, key)
        if found is not None and claimed is not None and claimed.claimed_side == "graph" and not ctx.dry_run:
            await self._finish_create(ctx, mailbox, fno, found)
        return found

    async def _finish_create(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, task: GraphItem) -> None:
        """A create of ours made `task` but its worker died (or the answer was lost) before the steps after
        the POST (create_in_graph): note the task for the next scan, or a deletion before its list's next
        delta round is never reported; and name it in OutlookEntryId, or the activity marked again after an
        unlink would not find it and make a second one."""
        await self._lists_stale(ctx, mailbox, task.id)
        _list_id, task_id = todo.split(task.id)
        entry = todo.ENTRY_PREFIX + task_id
        # No row: a claim settled after its activity went (pipeline/pair.py), nothing to write to.
        if fno.row and fno.row.get("OutlookEntryId") != entry:
            await self.fno_side.update(ctx, fno.key, {"OutlookEntryId": entry})

    async def _task_named(
        self, ctx: SyncContext, mailbox: Mailbox, key: str, task_id: str
    ) -> GraphItem | None:
        """The task with this id, in the sync list or else in any other list, if it is stamped for this
        activity or not at all (a task made into an activity whose answer was lost is not stamped yet)."""
        sync_list = await self._sync_list_id(ctx, mailbox)
        list_ids = [sync_list] if sync_list else []
        task = await self.graph_side.get_in(ctx, mailbox, sync_list, task_id) if sync_list else None
        if task is None:
            others = [
                list_id_of(lst)
                for lst in await self.graph_side.lists(ctx, mailbox)
                if list_id_of(lst) not in list_ids
            ]
            for list_id in others:
                if not list_id or not todo.is_usable_id(task_id):
                    continue
                task = await self.graph_side.get_in(ctx, mailbox, list_id, task_id)
                if task is not None:
                    break
        if task is None or task.stamp not in (None, key):
            return None
        return task

    async def _unlinked_stamped(self, ctx: SyncContext, mailbox: Mailbox, key: str) -> GraphItem | None:
        """The first task carrying the stamp that no link holds (the one a linked task moved to)."""
        async for task in self.graph_side.stamped(ctx, mailbox, key):
            if not await ctx.store.get_link_by_graph(self.name, mailbox.address, task.id):
                return task
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
        for row in await self.fno_side.pointing_at(ctx, todo.ENTRY_PREFIX + task_id):
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

    def is_organizer(self, graph: GraphItem | None) -> bool:
        return True  # a To Do task has no organizer: the mailbox owns it

    # ---- reconciliation (pipeline/reconcile.py) -----------------------------------------------------------
    async def existing_fno_keys(self, ctx: SyncContext, keys: list[str]) -> set[str]:
        return await self.fno_side.existing(ctx, keys)

    async def graph_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        return await inventory.task_graph(ctx, mailbox, await self._sync_list_id(ctx, mailbox))

    async def fno_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        return await inventory.task_fno(ctx, mailbox, ACTIVITY_CATEGORY)

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
        item = await self.graph_side.create(ctx, mailbox, body, stamp=fno.key, container=list_id)
        await self._lists_stale(ctx, mailbox, item.id)
        # F&O remembers where the task is, so the partner is found without reading every list.
        await self.fno_side.update(ctx, fno.key, {"OutlookEntryId": todo.ENTRY_PREFIX + str(item.item["id"])})
        return item

    async def create_in_fno(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, record: Mapping[str, Any]
    ) -> FnoItem:
        _list_id, task_id = todo.split(graph.id)
        body = task_activity_fields(from_record(record), time_zone=mailbox.zone)
        key, row = await self.fno_side.create(ctx, mailbox, body, reference=todo.ENTRY_PREFIX + task_id)
        if graph.stamp != key:
            await self.graph_side.stamp(ctx, mailbox, graph, key)
        if _whole_row_of(key, row):
            return _fno_item(key, row)  # F&O answered the POST with the record: no read back
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
        return await self.graph_side.update(ctx, mailbox, graph, patch)

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
            await self.fno_side.update(ctx, fno.key, patch, if_match=fno.if_match)
        return ""

    async def set_graph_mark(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, marked: bool
    ) -> None:
        await self.graph_side.set_mark(ctx, mailbox, graph, marked)

    async def stamp_graph(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, fno_key: str) -> None:
        await self.graph_side.stamp(ctx, mailbox, graph, fno_key)

    async def set_fno_mark(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, marked: bool) -> None:
        await self.fno_side.set_mark(ctx, fno.key, marked)

    async def delete_graph(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> None:
        await self.graph_side.delete(ctx, mailbox, graph_id)

    async def delete_fno(self, ctx: SyncContext, mailbox: Mailbox, key: str) -> None:
        row = await self.fno_side.get(ctx, key)
        if row is None:
            return
        await self.fno_side.delete(ctx, key)

    # ---- the configured list -----------------------------------------------------------------------
    async def _sync_list_id(self, ctx: SyncContext, mailbox: Mailbox) -> str | None:
        cached = self._sync_lists.get(mailbox.address)
        if cached is not None:
            return cached
        # A pair job runs in a context of its own: the mailbox scan's cursor knows the list (no Graph read).
        cursor = await ctx.store.get_cursor(exchange_cursor_name(self.name, mailbox.address))
        saved = load_cursor(cursor.value if cursor else None)
        if saved.sync_list and saved.list_name == ctx.settings.todo_list.strip():
            self._sync_lists[mailbox.address] = saved.sync_list
            return saved.sync_list
        lists = await self.graph_side.lists(ctx, mailbox)
        return await self._resolve_sync_list(ctx, mailbox, lists, create=False)

    async def _resolve_sync_list(
        self, ctx: SyncContext, mailbox: Mailbox, lists: list[dict[str, Any]], *, create: bool
    ) -> str | None:
        """The default list, or the one named SYNC_TODO_LIST (created when `create` and not a dry run)."""
        name = ctx.settings.todo_list.strip()
        found: str | None = None
        for lst in lists:
            if name and str(lst.get("displayName") or "").strip().casefold() == name.casefold():
                found = list_id_of(lst)
                break
            if not name and lst.get("wellknownListName") == "defaultList":
                found = list_id_of(lst)
                break
        if found is None and name and create and not ctx.dry_run:
            created = await self.graph_side.create_list(ctx, mailbox, name)
            found = list_id_of(created)
            if found:
                lists.append(created)
                log.info("To Do list created")
        if found:
            self._sync_lists[mailbox.address] = found
        return found or None


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


def _composed_id(list_id: str, item: Mapping[str, Any]) -> str | None:
    """A delta item's id as the pair job knows it (list and task), None for one that is not a task's."""
    task_id = item.get("id")
    if not isinstance(task_id, str) or not todo.is_usable_id(task_id):
        return None
    try:
        return todo.compose(list_id, task_id)
    except ValueError:
        return None


@dataclass
class _Round:
    """What the delta rounds of one scan found."""

    listed: list[ExchangeChange] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    carrying: set[str] = field(default_factory=set)  # listed tasks that carry the sync category
    gone_lists: set[str] = field(default_factory=set)  # watched lists whose delta answered 404
    # Tasks the scan read with their linkedResources (composed id -> task, None when not there).
    read: dict[str, GraphItem | None] = field(default_factory=dict)

    def add(
        self, list_id: str, graph_id: str, item: Mapping[str, Any], *, category: str, sync_list: str | None
    ) -> None:
        """A task the delta listed (not removed; its id composed with its list's)."""
        categories = item.get("categories")
        tagged = isinstance(categories, list) and category in categories
        if tagged:
            self.carrying.add(graph_id)
        in_sync_list = list_id == sync_list
        etag = item.get("@odata.etag")
        version = etag if isinstance(etag, str) and etag else None
        # Delta sends the whole task but not its linkedResources (the stamp). In the sync list the stamp
        # does not decide whether the task counts as marked, so the pair job may use the task as listed;
        # elsewhere only a stamped task counts: the scan reads it for its stamp when it is not linked
        # (TaskKind._stamped_elsewhere), and the pair job reads it with its stamp.
        carried = task_item(list_id, item) if in_sync_list and version else None
        self.listed.append(
            ExchangeChange(graph_id, marked=tagged and in_sync_list, version=version, item=carried)
        )


__all__ = ["ACTIVITY_CATEGORY", "SyncListMissing", "TaskKind"]
