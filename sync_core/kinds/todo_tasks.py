"""The Exchange side of tasks: Microsoft To Do tasks of a mailbox (runtime/side.py GraphSide).

A task lives in a list and the pair job knows it by `{listId}|{taskId}` (kinds/task_todo.py). Its stamp is
this product's linkedResource, sent in the same request that creates the task. To Do has no immutable ids:
a task moved to another list gets a new id there, so `get` follows a linked task by its stamp, and the feed
(one delta per list, kinds/todo_feed.py) lets the link follow it. New tasks go to the sync list (the
default list, or the one named SYNC_TODO_LIST), remembered in the scan's cursor. Built by the task kind
with its name: the links and the cursor are the kind's."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sync_core.kinds import task_todo as todo
from sync_core.kinds.exchange_feed import toggled
from sync_core.kinds.task_cursor import load_cursor, note_created
from sync_core.kinds.task_todo import list_id_of, task_item
from sync_core.kinds.todo_feed import TodoFeed
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import exchange_cursor_name
from sync_core.runtime.kind import EmitExchange, GraphItem

log = logging.getLogger(__name__)

_FLAGGED = "flaggedEmails"  # To Do's view of flagged messages: not tasks this product syncs


@dataclass(frozen=True)
class TodoTasks:
    kind: str  # whose links a moved task is followed by, and whose scan cursor knows the sync list
    # Per mailbox: the id of the list tasks go to (read once per context; lists rarely change).
    sync_lists: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    async def read_changes(
        self, ctx: SyncContext, mailbox: Mailbox, cursor: str | None, emit: EmitExchange
    ) -> str | None:
        return await TodoFeed(self).read_changes(ctx, mailbox, cursor, emit)

    # ---- lists (the sync list, and the lists the feed watches) ---------------------------------------
    async def lists(self, ctx: SyncContext, mailbox: Mailbox) -> list[dict[str, Any]]:
        """The mailbox's task lists, To Do's view of flagged e-mails left out."""
        found = await todo.list_lists(ctx.graph, mailbox.address)
        return [lst for lst in found if lst.get("wellknownListName") != _FLAGGED]

    async def create_list(self, ctx: SyncContext, mailbox: Mailbox, name: str) -> dict[str, Any]:
        return await todo.create_list(ctx.graph, mailbox.address, name)

    async def tasks(self, ctx: SyncContext, mailbox: Mailbox, list_id: str) -> AsyncIterator[GraphItem]:
        """Every task of the list with its stamp (one paged read of the list)."""
        async for task in todo.iter_tasks(ctx.graph, mailbox.address, list_id):
            if todo.is_usable_id(task.get("id")):
                yield task_item(list_id, task)

    async def sync_list_id(self, ctx: SyncContext, mailbox: Mailbox) -> str | None:
        """The list new tasks go to (None: it does not exist yet; the mailbox scan creates it)."""
        cached = self.sync_lists.get(mailbox.address)
        if cached is not None:
            return cached
        # A pair job runs in a context of its own: the mailbox scan's cursor knows the list (no Graph read).
        cursor = await ctx.store.get_cursor(exchange_cursor_name(self.kind, mailbox.address))
        saved = load_cursor(cursor.value if cursor else None)
        if saved.sync_list and saved.list_name == ctx.settings.todo_list.strip():
            self.sync_lists[mailbox.address] = saved.sync_list
            return saved.sync_list
        lists = await self.lists(ctx, mailbox)
        return await self.resolve_sync_list(ctx, mailbox, lists, create=False)

    async def resolve_sync_list(
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
            created = await self.create_list(ctx, mailbox, name)
            found = list_id_of(created)
            if found:
                lists.append(created)
                log.info("To Do list created")
        if found:
            self.sync_lists[mailbox.address] = found
        return found or None

    # ---- items ---------------------------------------------------------------------------------------
    async def get(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> GraphItem | None:
        """The task, or the one a linked task moved to (not where the link says: moved to another list,
        with a new id, or deleted; the stamp tells which). None: gone, or the id is no task's."""
        if not todo.is_task_ref(graph_id):
            return None
        task = await self.get_at(ctx, mailbox, graph_id)
        if task is not None:
            return task
        link = await ctx.store.get_link_by_graph(self.kind, mailbox.address, graph_id)
        if link is None or link.claimed_side == "fno":
            return None
        return await self.unlinked_stamped(ctx, mailbox, link.fno_key)

    async def get_at(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> GraphItem | None:
        """The task, None when it is not in the list its id names (deleted or moved) or the id is no task's."""
        try:
            list_id, task_id = todo.split(graph_id)
        except ValueError:
            return None
        return await self.get_in(ctx, mailbox, list_id, task_id)

    async def get_in(
        self, ctx: SyncContext, mailbox: Mailbox, list_id: str, task_id: str
    ) -> GraphItem | None:
        """The task with this id in this list (an id F&O holds may be any string: sent as it is)."""
        task = await todo.get_task(ctx.graph, mailbox.address, list_id, task_id)
        return task_item(list_id, task) if task is not None else None

    async def stamped(self, ctx: SyncContext, mailbox: Mailbox, fno_key: str) -> AsyncIterator[GraphItem]:
        """The tasks carrying the stamp, list by list in Graph's order; read lazily, so a caller that stops
        at the first it wants reads no further list."""
        for lst in await self.lists(ctx, mailbox):
            list_id = list_id_of(lst)
            if not list_id:
                continue
            async for item in self.tasks(ctx, mailbox, list_id):
                if item.stamp == fno_key:
                    yield item

    async def find_stamped(self, ctx: SyncContext, mailbox: Mailbox, fno_key: str) -> GraphItem | None:
        """The first task found with the stamp (To Do has no creation order across lists to prefer)."""
        async for item in self.stamped(ctx, mailbox, fno_key):
            return item
        return None

    async def unlinked_stamped(self, ctx: SyncContext, mailbox: Mailbox, key: str) -> GraphItem | None:
        """The first task carrying the stamp that no link holds (the one a linked task moved to)."""
        async for task in self.stamped(ctx, mailbox, key):
            if not await ctx.store.get_link_by_graph(self.kind, mailbox.address, task.id):
                return task
        return None

    async def create(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        body: Mapping[str, Any],
        *,
        stamp: str,
        container: str | None = None,
    ) -> GraphItem:
        if container is None:
            raise ValueError("a To Do task is created in a list")
        fields = dict(body)
        fields["linkedResources"] = [todo.linked_resource(ctx.settings.d365_url, stamp)]
        task = await todo.create_task(ctx.graph, mailbox.address, container, fields)
        item = task_item(container, task, stamp=stamp)
        await note_created(ctx, self.kind, mailbox, item.id)  # the next round checks it listed the task
        return item

    async def update(
        self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, patch: Mapping[str, Any]
    ) -> str:
        list_id, task_id = todo.split(item.id)
        task = await todo.update_task(
            ctx.graph, mailbox.address, list_id, task_id, dict(patch), if_match=item.if_match
        )
        return str(task.get("@odata.etag") or "")

    async def set_mark(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, marked: bool) -> None:
        categories = toggled(item.item.get("categories"), ctx.settings.category, marked)
        list_id, task_id = todo.split(item.id)
        await todo.update_task(ctx.graph, mailbox.address, list_id, task_id, {"categories": categories})

    async def stamp(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, fno_key: str) -> None:
        list_id, _task_id = todo.split(item.id)
        resource = todo.linked_resource(ctx.settings.d365_url, fno_key)
        await todo.set_stamp(ctx.graph, mailbox.address, list_id, item.item, resource)

    async def delete(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> None:
        list_id, task_id = todo.split(graph_id)
        # Read first: a task already gone, or an id To Do does not know (400), is left alone.
        if await todo.get_task(ctx.graph, mailbox.address, list_id, task_id) is None:
            return
        await todo.delete_task(ctx.graph, mailbox.address, list_id, task_id)
