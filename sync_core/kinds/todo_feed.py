"""The To Do feed of a mailbox (`TodoTasks.read_changes`): one delta round per watched list.

To Do has no change notifications for app-only callers, and a task moved to another list gets a new id
there. So the round reads each watched list's delta (the cursor, kinds/task_cursor.py, holds one delta link
per list and what the last read of the list of lists found), reads the list of lists only when due or when a
linked task left its list, and lets a link follow a task moved to another list (found again by its stamp)
before the changes are queued. Outside the sync list a task with the category counts as marked when it
carries this product's stamp: the round reads such a task, when it is not linked, to learn that.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sync_core.exchange.errors import GraphNotFound
from sync_core.kinds import task_todo as todo
from sync_core.kinds.activity_feed import FEED_PAGE
from sync_core.kinds.exchange_feed import read_delta
from sync_core.kinds.task_cursor import TaskCursor, load_cursor
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.kind import EmitExchange, ExchangeChange, GraphItem
from sync_core.state.base import ConcurrencyError, Link

if TYPE_CHECKING:
    from sync_core.kinds.todo_tasks import TodoTasks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TodoFeed:
    """One scan of a mailbox's lists, read through its To Do side (`tasks`, whose kind's links it follows)."""

    tasks: TodoTasks

    async def read_changes(
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
            self.tasks.sync_lists[mailbox.address] = str(saved.sync_list)
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
        lists = await self.tasks.lists(ctx, mailbox)
        out.sync_list = await self.tasks.resolve_sync_list(ctx, mailbox, lists, create=True)
        out.lists_read_at = now
        return [todo.list_id_of(lst) for lst in lists if todo.list_id_of(lst)]

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
            if await ctx.store.get_link_by_graph(self.tasks.kind, mailbox.address, graph_id) is not None:
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
            if await store.get_link_by_graph(self.tasks.kind, address, graph_id) is not None:
                continue
            task = read[graph_id] = await self.tasks.get_at(ctx, mailbox, graph_id)
            stamp = task.stamp if task else None
            link = await store.get_link_by_fno(self.tasks.kind, address, stamp) if stamp else None
            if (
                link is None
                or not todo.is_task_ref(link.graph_id)
                or await self._still_there(ctx, mailbox, link.graph_id)
            ):
                continue
            followed.add(link.graph_id)
            out.append(await self._relink(ctx, link, graph_id))
        if not removed and not full and not vanished and not unlisted:
            return out
        links = {
            link.graph_id: link
            for link in await store.list_links(self.tasks.kind, address)
            if todo.is_task_ref(link.graph_id) and link.graph_id not in followed
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
            if list_id == sync_list or await store.get_link_by_graph(
                self.tasks.kind, address, change.graph_id
            ):
                out.append(change)
                continue
            if change.graph_id in found.read:  # read by _follow_moves, or listed twice by delta
                task = found.read[change.graph_id]
            else:
                task = found.read[change.graph_id] = await self.tasks.get_at(ctx, mailbox, change.graph_id)
            if task is not None and task.stamp:
                log.info("stamped To Do task marked outside the sync list; queued")
                change = replace(change, marked=True)
            out.append(change)
        return out

    async def _still_there(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> bool:
        return await self.tasks.get_at(ctx, mailbox, graph_id) is not None

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
            async for task in self.tasks.tasks(ctx, mailbox, list_id):
                if task.stamp:
                    index.setdefault(task.stamp, []).append(task.id)
        return index


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
        # (TodoFeed._stamped_elsewhere), and the pair job reads it with its stamp.
        carried = todo.task_item(list_id, item) if in_sync_list and version else None
        self.listed.append(
            ExchangeChange(graph_id, marked=tagged and in_sync_list, version=version, item=carried)
        )
