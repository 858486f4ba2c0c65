"""A kind on the in-memory sides (tests/property/memory_sides.py), deciding with a real kind's rules record.

The mapping is the identity over a few canonical fields: an F&O record and a Graph item hold the record's
fields under their own names, so a view's record is those fields as stored. Everything the pipeline asks of
a kind the sides answer goes to the sides directly (the `Kind` record, runtime/kind.py); this one object
plays the record's other parts (mapping, partners, writes, listings): the mapping itself, how a partner is
found again, and the writes and listings over the memory sides.
Which fields each rules record needs, and which of its rules no memory record can exercise (attendees,
reminders, To Do lists, contact list entries, series masters), is said above the profiles in
tests/property/test_every_kind_rules.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sync_core.engine.types import SideView
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.inventory import Inventory, Listed
from sync_core.runtime.keys import fno_key, parse_fno_time
from sync_core.runtime.kind import FnoItem, GraphItem, Kind
from sync_core.runtime.rules import KindRules
from sync_core.runtime.side import FnoSide, GraphSide
from sync_core.settings import Settings
from sync_core.state.base import Link
from tests.property.memory_sides import (
    CATEGORIES,
    EDITED,
    ETAG,
    MARK,
    ORGANIZER,
    OWNER,
    REFERENCE,
    MemoryFnoSide,
    MemoryGraphSide,
)


class MemoryKind:
    """A kind named `name` whose records are `fields`, decided by `rules` (a real kind's RULES)."""

    def __init__(
        self,
        name: str,
        rules: KindRules,
        fields: Sequence[str],
        fno_side: MemoryFnoSide,
        graph_side: MemoryGraphSide,
    ) -> None:
        self.name = name
        self.rules = rules
        self.fields = tuple(fields)
        self.fno_memory, self.graph_memory = fno_side, graph_side
        # What the pipeline may use of them is what the protocols promise (checked by mypy here).
        self.fno_side: FnoSide = fno_side
        self.graph_side: GraphSide = graph_side

    def record_of(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """The mapping, both ways: the canonical fields as stored."""
        return {name: stored.get(name) for name in self.fields}

    def graph_if_match(self, settings: Settings, link: Link) -> str | None:
        return link.graph_version or None  # the memory Graph side takes its version as the If-Match

    def content_hash(self, record: Mapping[str, Any]) -> str:
        text = json.dumps(self.record_of(record), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    # ---- reading a pair ----------------------------------------------------------------------------
    async def load_fno(self, ctx: SyncContext, fno_key: str) -> FnoItem | None:
        row = await self.fno_side.get(ctx, fno_key)
        return None if row is None else await self.fno_item_from_row(ctx, fno_key, row)

    async def fno_item_from_row(self, ctx: SyncContext, key: str, row: Mapping[str, Any]) -> FnoItem | None:
        return FnoItem(key=key, row=dict(row), version=str(row[ETAG]), extra={})

    async def find_graph_partner(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem) -> GraphItem | None:
        """The item the record was made from (its reference: a create from Exchange whose stamp was not
        written yet), else the item stamped with its key (a create from F&O whose answer was lost). The
        item made from it counts unless its stamp names another record that still exists: a stamp left by
        a record deleted since (then unlinked) is stale (test_sync_state_machine.py, the xfail story)."""
        reference = fno.row.get(REFERENCE)
        if isinstance(reference, str):
            named = await self.graph_side.get(ctx, mailbox, reference)
            if named is not None and (
                named.stamp in (None, fno.key) or await self.fno_side.get(ctx, named.stamp) is None
            ):
                return named
        return await self.graph_side.find_stamped(ctx, mailbox, fno.key)

    async def find_fno_partner(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem) -> FnoItem | None:
        """The record the item's stamp names, else (no stamp, or a stale one) the record made from it."""
        if graph.stamp:
            found = await self.load_fno(ctx, graph.stamp)
            if found is not None:
                return found
        for row in await self.fno_side.pointing_at(ctx, graph.id, mailbox=mailbox):
            return await self.load_fno(ctx, fno_key(str(row["dataAreaId"]), str(row["ActivityNumber"])))
        return None

    async def fno_view(self, ctx: SyncContext, mailbox: Mailbox, item: FnoItem | None) -> SideView:
        if item is None:
            return SideView(present=False, marked=False)
        return SideView(
            present=True,
            marked=item.row.get(MARK) == "Yes",
            record=self.record_of(item.row),
            modified_at=parse_fno_time(item.row.get(EDITED)),
        )

    async def graph_view(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem | None) -> SideView:
        if item is None:
            return SideView(present=False, marked=False)
        return SideView(
            present=True,
            marked=ctx.settings.category in (item.item.get(CATEGORIES) or []),
            record=self.record_of(item.item),
            modified_at=parse_fno_time(item.item.get("lastModifiedDateTime")),
        )

    async def align(
        self, ctx: SyncContext, mailbox: Mailbox, fno: SideView, graph: SideView
    ) -> tuple[SideView, SideView]:
        return fno, graph  # both sides hold every field

    # ---- writing -----------------------------------------------------------------------------------
    async def create_in_graph(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, record: Mapping[str, Any]
    ) -> GraphItem:
        return await self.graph_side.create(ctx, mailbox, self.record_of(record), stamp=fno.key)

    async def create_in_fno(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, record: Mapping[str, Any]
    ) -> FnoItem:
        key, _row = await self.fno_side.create(ctx, mailbox, self.record_of(record), reference=graph.id)
        if graph.stamp != key:
            await self.graph_side.stamp(ctx, mailbox, graph, key)  # the last step (pipeline/pair.py)
        loaded = await self.load_fno(ctx, key)
        if loaded is None:
            raise RuntimeError("the record just created cannot be read back")
        return loaded

    async def update_graph(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        graph: GraphItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str:
        return await self.graph_side.update(ctx, mailbox, graph, fields)

    async def update_fno(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        fno: FnoItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str:
        await self.fno_side.update(ctx, fno.key, fields, if_match=fno.if_match)
        return ""  # F&O answers a write without the new version (the feed reads it)

    async def stamp_graph(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, fno_key: str) -> None:
        await self.graph_side.stamp(ctx, mailbox, graph, fno_key)

    def is_organizer(self, graph: GraphItem | None) -> bool:
        return graph is None or graph.item.get(ORGANIZER) is not False

    # ---- the reconciliation ---------------------------------------------------------------------------
    async def graph_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> Inventory:
        items = {
            graph_id: Listed(
                version=str(item["version"]),
                marked=ctx.settings.category in item[CATEGORIES],
                wanted=self.rules.in_scope(ctx, self.record_of(item)),
            )
            for graph_id, item in self.graph_memory.records.items()
        }
        return Inventory(items=items, covers=lambda link: True)  # every item is listed

    async def fno_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> Inventory:
        items = {
            key: Listed(
                version=str(row[ETAG]),
                marked=row[MARK] == "Yes",
                wanted=self.rules.in_scope(ctx, self.record_of(row)),
            )
            for key, row in self.fno_memory.records.items()
            if row[OWNER] == mailbox.record.personnel_number
        }
        return Inventory(items=items, covers=lambda link: True)

    def record(self) -> Kind:
        """The kind as the pipeline holds it: this object as every part but the sides (mypy checks it
        against each part's protocol here)."""
        return Kind(
            name=self.name,
            rules=self.rules,
            fno_side=self.fno_side,
            graph_side=self.graph_side,
            mapping=self,
            partners=self,
            writes=self,
            listings=self,
        )
