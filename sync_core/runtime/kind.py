"""What a kind of item (appointment, task, ...) is: one frozen record, `Kind`, of its two sides, its field
mapping, how a partner is found, its writes and its rules record (runtime/rules.py). Every field is typed
here and has its explicit default where kinds share one; nothing is looked up by name. The pipeline has no
special case per kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sync_core.engine.types import SideView
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.inventory import Inventory
from sync_core.settings import Settings
from sync_core.state.base import Link

if TYPE_CHECKING:
    from sync_core.runtime.rules import KindRules
    from sync_core.runtime.side import FnoSide, GraphSide


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
    # The item as the feed listed it, when the feed sends it whole (as the side's `get` would
    # return it, the stamp aside): the pair job of a linked pair then decides without reading it again.
    item: GraphItem | None = None


@dataclass(frozen=True)
class FnoChange:
    fno_key: str
    owner: str  # personnel number of the responsible worker
    marked: bool
    edited_at: datetime | None
    version: str | None = None  # as ExchangeChange.version (the kind's FnoItem.version)
    # The F&O row as the feed read it (every field the mapping needs): the pair job then takes the F&O side
    # from it (FieldMapping.fno_item_from_row) instead of reading the row again.
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


class FieldMapping(Protocol):
    """A kind's field mapping: the pair's two sides as canonical views (`model/`), and what the pair job needs
    of them beside the views (the F&O item the mapping reads, the hash and version the link keeps)."""

    def content_hash(self, record: Mapping[str, Any]) -> str:
        """Normalised content hash of a canonical record (the link keeps it beside the snapshot)."""
        ...

    def graph_if_match(self, settings: Settings, link: Link) -> str | None:
        """The `If-Match` a write to the Exchange side may carry when that side is taken from the link
        instead of read (None: the side is always read before it is written)."""
        ...

    async def load_fno(self, ctx: SyncContext, fno_key: str) -> FnoItem | None:
        """The pair's F&O item, read: the mapping may need more than the row (an appointment's attendees,
        a contact's company name)."""
        ...

    async def fno_item_from_row(self, ctx: SyncContext, key: str, row: Mapping[str, Any]) -> FnoItem | None:
        """The pair's F&O item from the row its feed carried (FnoChange.row), without reading it again
        (None: the row is not the kind's, as load_fno would answer)."""
        ...

    async def fno_view(self, ctx: SyncContext, mailbox: Mailbox, item: FnoItem | None) -> SideView: ...
    async def graph_view(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem | None) -> SideView: ...

    async def align(
        self, ctx: SyncContext, mailbox: Mailbox, fno: SideView, graph: SideView
    ) -> tuple[SideView, SideView]:
        """Make the two views comparable where one side cannot hold a value (e.g. attendees F&O cannot link)."""
        ...

    def is_organizer(self, graph: GraphItem | None) -> bool: ...


class Partners(Protocol):
    """The partner of an unlinked item (no link, or a claim left by a create whose answer was lost): by the
    product's stamp, or by what points at it (the activity's OutlookEntryId, a To Do linkedResource)."""

    async def find_graph_partner(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem
    ) -> GraphItem | None: ...
    async def find_fno_partner(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem
    ) -> FnoItem | None: ...


class Matching(Protocol):
    """First-run matching by content (candidates best first; a candidate linked elsewhere is skipped)."""

    async def match_graph_partners(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem
    ) -> list[GraphItem]: ...
    async def match_fno_partners(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem
    ) -> list[FnoItem]: ...


class Writes(Protocol):
    """The writes that carry the mapping: creates, updates, and finishing a create from Exchange."""

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

    async def stamp_graph(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, fno_key: str) -> None:
        """Write the product's stamp (the F&O key) on an Exchange item that lacks it: the last step of a
        create from Exchange, finished here when its answer was lost (the side's `stamp`, or for a contact
        more: the list entry, the problem category, shared lists)."""
        ...


class Listings(Protocol):
    """The periodic reconciliation's listing of each side for one mailbox (pipeline/reconcile.py)."""

    async def graph_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> Inventory: ...
    async def fno_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> Inventory: ...


class _NoMatching:
    """No matching by content: an unlinked item is created on the other side."""

    async def match_graph_partners(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem) -> list[GraphItem]:
        return []

    async def match_fno_partners(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem) -> list[FnoItem]:
        return []


NO_MATCHING: Matching = _NoMatching()

ExistingFolderId = Callable[[SyncContext, Mailbox], Awaitable[str | None]]


async def no_folder(ctx: SyncContext, mailbox: Mailbox) -> str | None:
    return None  # the mailbox's own calendar or lists, no folder of the product's


@dataclass(frozen=True)
class Kind:
    """Everything the pipeline asks of a kind, in one record (built by each kind module's factory,
    `kinds/__init__.py` all_kinds). "What happens to this pair, and why?": `engine/decide.py` gives the
    verdict from the two views (`mapping`) and the `rules`; the pair job carries it out through `writes`
    and the two sides."""

    name: str
    # Everything that decides a pair besides its two views (merge groups, scope, the deletion rule, ...).
    rules: KindRules
    # The two sides (runtime/side.py): the pipeline reads changes, marks and deletes through them directly.
    fno_side: FnoSide
    graph_side: GraphSide
    # Both sides as canonical views, and the F&O item the mapping reads.
    mapping: FieldMapping
    # Finding the partner of an unlinked item by the stamp or what points at it.
    partners: Partners
    # Creates and updates (the mapping written), and finishing a create whose answer was lost.
    writes: Writes
    # Each side listed for the periodic reconciliation.
    listings: Listings
    # First-run matching by content; the default matches nothing (an unlinked item is created).
    matching: Matching = NO_MATCHING
    # The Exchange folder of the kind's own, when it has one and it exists (a contact list's folder: change
    # notifications subscribe to it); never created here. The default: no folder of the product's.
    existing_folder_id: ExistingFolderId = no_folder
