"""A side: one resource of one service, read and written the same way whichever kind pairs it.

A kind (runtime/kind.py) holds an F&O side and an Exchange side (`fno_side`, `graph_side`) and adds what is
its own: the field mapping, finding a partner, merge groups and the other rules. The pipeline calls the
sides directly for what needs no mapping: the feeds (`read_changes`), reading an Exchange item, marks,
deletions and the deletion check. What a side needs of its kind (whose links and cursor, what the kind does
before a first scan, which page of F&O rows is on which list) is given when the kind builds it.
Implemented: F&O activities of one category (`kinds/fno_activities.py`, shared by appointments and tasks),
Graph calendar events (`kinds/graph_events.py`, its delta in `kinds/events_feed.py`), To Do tasks
(`kinds/todo_tasks.py`, the round of list deltas in `kinds/todo_feed.py`), the contacts of a list's folder
(`kinds/graph_contacts.py`) and F&O contact persons (`kinds/fno_contact_persons.py`, shared by private and
shared lists).

`mailbox` on `FnoSide.pointing_at`, `set_mark` and `delete`: a contact person's mark is its place on one
mailbox's list, not a field of the record, and what finds it again is a creation token searched in that
mailbox's company; sides whose records carry their own mark (activities) ignore it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.kind import EmitExchange, EmitFno, GraphItem


class FnoSide(Protocol):
    """Records of one F&O entity, keyed as the pair job keys them (`company|number`, runtime/keys.py)."""

    async def read_changes(self, ctx: SyncContext, cursor: str | None, emit: EmitFno) -> str | None:
        """The feed of every mailbox's records edited since `cursor`; returns the new cursor."""
        ...

    async def get(self, ctx: SyncContext, key: str) -> dict[str, Any] | None: ...

    async def pointing_at(
        self, ctx: SyncContext, reference: str, *, mailbox: Mailbox | None = None
    ) -> list[dict[str, Any]]:
        """The records that name this Exchange item (the reference they hold, e.g. `OutlookEntryId`)."""
        ...

    async def create(
        self, ctx: SyncContext, mailbox: Mailbox, body: Mapping[str, Any], *, reference: str
    ) -> tuple[str, dict[str, Any]]:
        """A marked record of the mailbox's worker, naming the Exchange item it was made from (found again
        by `pointing_at` if the answer is lost). Returns its key and F&O's answer."""
        ...

    async def update(
        self, ctx: SyncContext, key: str, fields: Mapping[str, Any], *, if_match: str | None = None
    ) -> None:
        """`if_match`: the version the pair job holds (written only if the record is still so)."""
        ...

    async def set_mark(
        self, ctx: SyncContext, key: str, marked: bool, *, mailbox: Mailbox | None = None
    ) -> None: ...

    async def delete(self, ctx: SyncContext, key: str, *, mailbox: Mailbox | None = None) -> None: ...

    async def existing(self, ctx: SyncContext, keys: list[str]) -> set[str]:
        """Which keys still exist (batched: F&O shows no deletions over OData)."""
        ...


class GraphSide(Protocol):
    """Items of one mailbox resource in Microsoft Graph, keyed by the id the pair job holds."""

    async def read_changes(
        self, ctx: SyncContext, mailbox: Mailbox, cursor: str | None, emit: EmitExchange
    ) -> str | None:
        """The mailbox's items changed since `cursor` (its delta); returns the new cursor, which the caller
        saves after the changes are queued."""
        ...

    async def get(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> GraphItem | None:
        """The item the pair job knows by this id, as it is now (None: gone). A To Do task moved to another
        list has a new id: its link's old id finds it by its stamp."""
        ...

    async def find_stamped(self, ctx: SyncContext, mailbox: Mailbox, fno_key: str) -> GraphItem | None:
        """The item carrying the product's stamp for this F&O key (the oldest, should there be two)."""
        ...

    async def create(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        body: Mapping[str, Any],
        *,
        stamp: str,
        container: str | None = None,
    ) -> GraphItem:
        """An item stamped with the F&O key in the same request that makes it. `container`: where it is
        made when the resource has more than one place, the To Do list (the kind knows which: it is found
        through the kind's cursor); None for a mailbox's calendar."""
        ...

    async def update(
        self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, patch: Mapping[str, Any]
    ) -> str:
        """Write `patch` (with `If-Match` when the item was taken from the link); returns the new version."""
        ...

    async def set_mark(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, marked: bool) -> None:
        """Set or clear the sync category, the user's other categories kept."""
        ...

    async def stamp(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, fno_key: str) -> None:
        """Write the stamp on an item as read: a To Do task's stamp is a linkedResource, replaced in place
        when the task already has one, which only the task as read tells (no second read)."""
        ...

    async def delete(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> None: ...
