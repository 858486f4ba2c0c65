"""What the Exchange sides of every kind share (events, To Do tasks, contacts): the delta page loop, the
sync category toggle and the `GraphItem` of an item as Graph returned it. One implementation each; the
kinds pass what differs (the pages, how an item becomes changes, its id, its version and stamp)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sync_core.exchange.client import DeltaPage
from sync_core.runtime.keys import stamp_of
from sync_core.runtime.kind import EmitExchange, ExchangeChange, GraphItem

ChangesOf = Callable[[str, Mapping[str, Any]], Awaitable[list[ExchangeChange]]]


@dataclass(frozen=True)
class DeltaRound:
    delta_link: str | None  # where the next round starts (None: the round did not finish its pages)
    removals: bool  # whether any page reported an item removed


def plain_id(item: Mapping[str, Any]) -> str | None:
    graph_id = item.get("id")
    return graph_id if isinstance(graph_id, str) and graph_id else None


async def read_delta(
    pages: AsyncIterator[DeltaPage],
    changes_of: ChangesOf,
    emit: EmitExchange,
    *,
    id_of: Callable[[Mapping[str, Any]], str | None] = plain_id,
) -> DeltaRound:
    """One delta round: each page's changes are emitted before the next page is read (so a scan cut short
    has queued what it passed). An item without a usable id is skipped; `@removed` is a removal."""
    final: str | None = None
    removals = False
    async for page in pages:
        changes: list[ExchangeChange] = []
        for item in page.items:
            graph_id = id_of(item)
            if graph_id is None:
                continue
            if "@removed" in item:
                removals = True
                changes.append(ExchangeChange(graph_id, removed=True))
                continue
            changes.extend(await changes_of(graph_id, item))
        if changes:
            await emit(changes)
        if page.delta_link:
            final = page.delta_link
    return DeltaRound(final, removals)


def toggled(categories: Iterable[str] | None, category: str, marked: bool) -> list[str]:
    """An item's categories with the sync category set or cleared, the user's others kept in order: only
    this list is written, so nothing else of the user's item changes."""
    kept = [c for c in categories or [] if c != category]
    return [*kept, category] if marked else kept


def graph_item(
    item: Mapping[str, Any],
    stamp: str | None = None,
    *,
    item_id: str | None = None,
    version_key: str = "changeKey",
    stamp_in: Callable[[Mapping[str, Any]], str | None] = stamp_of,
) -> GraphItem:
    """The pair job's view of an Exchange item: its id (`item_id` when the kind composes one), its version
    (an event's or contact's `changeKey`, a To Do task's `@odata.etag`) and the product's stamp."""
    return GraphItem(
        id=item_id if item_id is not None else str(item["id"]),
        item=item,
        version=str(item.get(version_key) or ""),
        stamp=stamp or stamp_in(item),
    )
