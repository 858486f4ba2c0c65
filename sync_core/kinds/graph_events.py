"""The Exchange side of appointments: calendar events of a mailbox (runtime/side.py GraphSide).

Events carry the product's stamp (the F&O key) in a single-value extended property, written in the same
request that creates an event. The calendar delta is read in kinds/events_feed.py (series, the window). What
is a fact of events lives here: an occurrence carries its series' mark and no series member is stamped
(a write turns an occurrence into an exception)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync_core.kinds.events_feed import STAMPABLE_TYPES, FirstScan, read_event_changes
from sync_core.kinds.exchange_feed import graph_item, toggled
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import STAMP_PROPERTY_ID
from sync_core.runtime.kind import EmitExchange, GraphItem


def _stamp_property(fno_key: str) -> list[dict[str, str]]:
    return [{"id": STAMP_PROPERTY_ID, "value": fno_key}]


@dataclass(frozen=True)
class GraphEvents:
    kind: str  # whose links the feed reads (the linked series masters a removal may concern)
    first_scan: FirstScan | None = None  # the kind's step before a mailbox's first delta round

    async def read_changes(
        self, ctx: SyncContext, mailbox: Mailbox, cursor: str | None, emit: EmitExchange
    ) -> str | None:
        return await read_event_changes(
            ctx, mailbox, cursor, emit, kind=self.kind, first_scan=self.first_scan
        )

    async def get(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> GraphItem | None:
        event = await ctx.graph.get_event(mailbox.address, graph_id, stamp_property_id=STAMP_PROPERTY_ID)
        return graph_item(event) if event else None

    async def find_stamped(self, ctx: SyncContext, mailbox: Mailbox, fno_key: str) -> GraphItem | None:
        found = await ctx.graph.find_events_by_property(mailbox.address, STAMP_PROPERTY_ID, fno_key)
        live = [e for e in found if not e.get("isCancelled")]
        if not live:
            return None
        live.sort(key=lambda e: str(e.get("createdDateTime") or ""))
        # Re-read so the stamp is expanded the same way as on every other read.
        return await self.get(ctx, mailbox, str(live[0]["id"]))

    async def create(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        body: Mapping[str, Any],
        *,
        stamp: str,
        container: str | None = None,  # events go to the mailbox's calendar: no other place
    ) -> GraphItem:
        fields = dict(body)
        fields["singleValueExtendedProperties"] = _stamp_property(stamp)
        event = await ctx.graph.create_event(mailbox.address, fields)
        return graph_item(event, stamp=stamp)

    async def update(
        self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, patch: Mapping[str, Any]
    ) -> str:
        event = await ctx.graph.update_event(mailbox.address, item.id, dict(patch), if_match=item.if_match)
        return str(event.get("changeKey") or "")

    async def set_mark(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, marked: bool) -> None:
        if marked and item.item.get("type") == "occurrence":
            return  # an occurrence carries its series' mark; writing it would make it an exception
        categories = toggled(item.item.get("categories"), ctx.settings.category, marked)
        await ctx.graph.update_event(mailbox.address, item.id, {"categories": categories})

    async def stamp(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, fno_key: str) -> None:
        if item.item.get("type") not in STAMPABLE_TYPES:
            return  # writing to a series member would change it; series are found by their links
        await ctx.graph.update_event(
            mailbox.address, item.id, {"singleValueExtendedProperties": _stamp_property(fno_key)}
        )

    async def delete(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> None:
        await ctx.graph.delete_event(mailbox.address, graph_id)
