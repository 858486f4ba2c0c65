"""The Exchange side of tasks: Microsoft To Do tasks of a mailbox (runtime/side.py GraphSide).

A task lives in a list and the pair job knows it by `{listId}|{taskId}` (kinds/task_todo.py). Its stamp is
this product's linkedResource, sent in the same request that creates the task. The per-list delta, which
list new tasks go to (the configured one, remembered in the scan's cursor) and following a task moved to
another list stay with the kind (kinds/task.py): they need the kind's cursor and links."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from sync_core.kinds import task_todo as todo
from sync_core.kinds.exchange_feed import graph_item, toggled
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.kind import GraphItem

_FLAGGED = "flaggedEmails"  # To Do's view of flagged messages: not tasks this product syncs


def list_id_of(lst: Mapping[str, Any]) -> str:
    """The list's id, or "" for one that cannot be addressed (never seen from Graph)."""
    value = lst.get("id")
    return value if isinstance(value, str) and todo.is_usable_id(value) and ":" not in value else ""


def task_item(list_id: str, task: Mapping[str, Any], stamp: str | None = None) -> GraphItem:
    """A task of `list_id` as the pair job sees it (its version is the task's `@odata.etag`)."""
    item_id = todo.compose(list_id, str(task["id"]))
    return graph_item(task, stamp, item_id=item_id, version_key="@odata.etag", stamp_in=todo.stamp_of)


@dataclass(frozen=True)
class TodoTasks:
    # ---- lists (read by the kind to find the configured list and the lists its scan watches) ----------
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

    # ---- items ---------------------------------------------------------------------------------------
    async def get(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> GraphItem | None:
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
        return task_item(container, task, stamp=stamp)

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
