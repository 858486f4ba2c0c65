"""What a kind of item (appointment, task, ...) declares once: its feeds, its mapping, how it is
found again after a crash, and its deletion rule. The pipeline has no special case per kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sync_core.engine.types import DeletionContext, SideView
from sync_core.runtime.context import Mailbox, SyncContext


@dataclass(frozen=True)
class GraphItem:
    id: str
    item: Mapping[str, Any]
    version: str
    stamp: str | None  # the F&O key this product stamped on it, if any
    # Set on an item assumed from the link's snapshot instead of read (see pipeline/reads.py): the
    # kind's writes to it carry this `If-Match`, so they land only if the item is still as last synced.
    if_match: str | None = None


@dataclass(frozen=True)
class ExchangeChange:
    """One item a mailbox feed reported: changed (with whether it carries the mark) or removed."""

    graph_id: str
    removed: bool = False
    marked: bool = False
    # The item's version as the feed listed it (the kind's GraphItem.version); equal to the link's, the
    # item is as the last sync left it (typically the echo of our own write) and no pair job is queued.
    version: str | None = None
    # The item as the feed listed it, when the feed sends it whole (as the kind's load_graph would
    # return it, the stamp aside): the pair job of a linked pair then decides without reading it again.
    item: GraphItem | None = None


@dataclass(frozen=True)
class FnoChange:
    fno_key: str
    owner: str  # personnel number of the responsible worker
    marked: bool
    edited_at: datetime | None
    version: str | None = None  # as ExchangeChange.version (the kind's FnoItem.version)
    # The F&O row as the feed read it (every field the mapping needs): a kind with the hook
    # `fno_item_from_row(ctx, key, row) -> FnoItem` then skips re-reading the row in the pair job.
    row: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class FnoItem:
    """An F&O record as the pair job sees it (the row plus whatever the mapping needs beside it)."""

    key: str
    row: Mapping[str, Any]
    version: str
    extra: Mapping[str, Any]
    if_match: str | None = None  # as GraphItem.if_match (the row's `@odata.etag`)


DeletionOutcome = Literal["delete_partner", "unlink"]
EmitExchange = Callable[[list[ExchangeChange]], Awaitable[None]]


class EmitFno(Protocol):
    """Queues the pair messages of a batch of F&O changes. `checkpoint`: a cursor value the feed may resume
    from once these are queued (a page boundary): the scan saves it, so a feed cut short (a crash, the
    function timeout) goes on from its last page instead of its start, and nothing it passed is lost."""

    async def __call__(self, changes: list[FnoChange], *, checkpoint: str | None = None) -> None: ...


class KindAdapter(Protocol):
    name: str
    # Fields that merge as one unit (never one side's start with the other side's end).
    merge_groups: tuple[tuple[str, ...], ...]
    # Canonical fields a create writes in a request after the one that makes the item (an activity's
    # attendees are its parent links): when the create's answer was lost they may be missing, and finishing
    # it must not count that as an edit of the created item.
    fields_finished_after_create: frozenset[str]

    def content_hash(self, record: Mapping[str, Any]) -> str:
        """Normalised content hash of a canonical record (the link keeps it beside the snapshot)."""
        ...

    def deletion_rule(self, context: DeletionContext) -> DeletionOutcome: ...

    # Feeds. Each returns the new cursor value; the caller saves it after the changes are queued.
    async def scan_exchange(
        self, ctx: SyncContext, mailbox: Mailbox, cursor: str | None, emit: EmitExchange
    ) -> str | None: ...
    async def scan_fno(self, ctx: SyncContext, cursor: str | None, emit: EmitFno) -> str | None: ...

    # Reading one pair.
    async def load_fno(self, ctx: SyncContext, fno_key: str) -> FnoItem | None: ...
    async def load_graph(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> GraphItem | None: ...
    # The partner of an unlinked item (no link, or a claim left by a create whose answer was lost): by the
    # product's stamp, or by what points at it (the activity's OutlookEntryId, a To Do linkedResource).
    async def find_graph_partner(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem
    ) -> GraphItem | None: ...
    async def find_fno_partner(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem
    ) -> FnoItem | None: ...
    async def fno_view(self, ctx: SyncContext, mailbox: Mailbox, item: FnoItem | None) -> SideView: ...
    async def graph_view(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem | None) -> SideView: ...
    async def align(
        self, ctx: SyncContext, mailbox: Mailbox, fno: SideView, graph: SideView
    ) -> tuple[SideView, SideView]:
        """Make the two views comparable where one side cannot hold a value (e.g. attendees F&O cannot link)."""
        ...

    def in_scope(self, ctx: SyncContext, record: Mapping[str, Any]) -> bool:
        """Whether a new item may be created on the other side (e.g. inside the calendar window)."""
        ...

    # Writing.
    async def create_in_graph(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, record: Mapping[str, Any]
    ) -> GraphItem: ...
    async def create_in_fno(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, record: Mapping[str, Any]
    ) -> FnoItem: ...
    async def update_graph(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        graph: GraphItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str: ...
    async def update_fno(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        fno: FnoItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str: ...
    async def set_graph_mark(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, marked: bool
    ) -> None: ...
    async def stamp_graph(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, fno_key: str) -> None:
        """Write the product's stamp (the F&O key) on an Exchange item that lacks it: the last step of a
        create from Exchange, finished here when its answer was lost."""
        ...

    async def set_fno_mark(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, marked: bool) -> None: ...
    async def delete_graph(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> None: ...
    async def delete_fno(self, ctx: SyncContext, mailbox: Mailbox, fno_key: str) -> None: ...
    def is_organizer(self, graph: GraphItem | None) -> bool: ...
