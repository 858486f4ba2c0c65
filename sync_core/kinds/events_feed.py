"""The calendar delta of a mailbox, as the Graph events side reads it (`GraphEvents.read_changes`).

One delta round per scan over the calendar window; the cursor keeps the window's start with the delta link,
so a window that moved (a new day) first finishes the old token's round. Series are met as the delta sends
them (kinds/appointment_series.py): a member's mark is its master's, a bare occurrence is read (or taken
from its master's listing) before it is carried to the pair job."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from sync_core.kinds.appointment_series import SeriesReads
from sync_core.kinds.exchange_feed import graph_item, read_delta
from sync_core.model.appointment import is_whole
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.kind import EmitExchange, ExchangeChange

# Event types that are synced (docs/spec.md §3.1): single events, and of a series the master plus each
# occurrence and exception inside the window. Only single events are ever written merely to stamp them.
SYNCED_EVENT_TYPES = {"singleInstance", "seriesMaster", "occurrence", "exception", None}
STAMPABLE_TYPES = {"singleInstance", None}

# What the kind does before a mailbox's first delta round (appointments adopt an earlier Outlook sync's
# links, kinds/appointment_adopt.py): the changes it returns are emitted first.
FirstScan = Callable[[SyncContext, Mailbox], Awaitable[list[ExchangeChange]]]


def is_marked(ctx: SyncContext, event_type: object, categories: object) -> bool:
    """The sync category on an event of a synced type."""
    return (
        isinstance(categories, list)
        and ctx.settings.category in categories
        and event_type in SYNCED_EVENT_TYPES
    )


async def read_event_changes(
    ctx: SyncContext,
    mailbox: Mailbox,
    cursor: str | None,
    emit: EmitExchange,
    *,
    kind: str,
    first_scan: FirstScan | None,
) -> str | None:
    """`kind`: whose links name the series masters a removal may concern."""
    start, end = ctx.window()
    if cursor is None and first_scan is not None:
        # First scan of this mailbox: what the kind does before anything is matched or created.
        first = await first_scan(ctx, mailbox)
        if first:
            await emit(first)
    saved = _load_cursor(cursor)
    delta_link: str | None = None
    if saved and saved.get("windowStart") == start.isoformat():
        delta_link = saved.get("deltaLink")
    elif saved and saved.get("deltaLink"):
        # The window moved (a new day): read what changed under the old token before starting anew,
        # so a deletion made since the last cycle is not missed.
        await _read_delta(ctx, mailbox, kind, saved["deltaLink"], start, end, emit)
    new_link = await _read_delta(ctx, mailbox, kind, delta_link, start, end, emit)
    return json.dumps({"windowStart": start.isoformat(), "deltaLink": new_link})


async def _read_delta(
    ctx: SyncContext,
    mailbox: Mailbox,
    kind: str,
    delta_link: str | None,
    start: datetime,
    end: datetime,
    emit: EmitExchange,
) -> str | None:
    series = SeriesReads(ctx, mailbox, kind)

    async def changes(graph_id: str, item: Mapping[str, Any]) -> list[ExchangeChange]:
        return await changes_of(ctx, mailbox, graph_id, item, series)

    pages = ctx.graph.iter_event_delta(mailbox.address, delta_link=delta_link, start=start, end=end)
    done = await read_delta(pages, changes, emit)
    if done.removals:
        # Deleting a whole series reports its occurrences removed, not always the master: let the
        # deletion check confirm each linked master too (one read per series).
        await emit(await _linked_masters(ctx, kind, mailbox))
    return done.delta_link


async def changes_of(
    ctx: SyncContext,
    mailbox: Mailbox,
    graph_id: str,
    item: Mapping[str, Any],
    series: SeriesReads,
) -> list[ExchangeChange]:
    """What one event the delta listed means: its change, and those of its series."""
    event_type = item.get("type")
    master_id = item.get("seriesMasterId")
    if event_type in ("occurrence", "exception") and isinstance(master_id, str) and master_id:
        return await _member_changes(ctx, graph_id, master_id, item, series)
    # An item the delta sent without every mapped field is read whole first (see is_whole).
    whole = item if is_whole(item) else await ctx.graph.get_event(mailbox.address, graph_id)
    if whole is None:
        return [ExchangeChange(graph_id, removed=True)]  # gone meanwhile: the deletion check confirms
    changes = [_change(ctx, graph_id, whole)]
    if event_type == "seriesMaster":
        # Graph documents no master in the calendar delta; where one comes, its series changed.
        gone = await series.master_listed(whole)
        changes += [ExchangeChange(member, removed=True) for member in gone]
    return changes


async def _member_changes(
    ctx: SyncContext,
    graph_id: str,
    master_id: str,
    item: Mapping[str, Any],
    series: SeriesReads,
) -> list[ExchangeChange]:
    first = not series.knows_master(master_id)
    master = await series.master(master_id)  # the mark is the series' (read once a scan)
    changes = [ExchangeChange(master_id, marked=_marked(ctx, master, "seriesMaster"))] if first else []
    whole = item if is_whole(item) else series.instance(graph_id)
    if whole is not None:
        return [*changes, _change(ctx, graph_id, whole)]
    # Bare and not read yet: nothing is carried, the pair job reads it (missing fields are never mapped).
    categories = item.get("categories")
    if categories is None and master is not None:
        categories = master.get("categories")
    marked = is_marked(ctx, item.get("type"), categories)
    return [*changes, ExchangeChange(graph_id, marked=marked)]


async def _linked_masters(ctx: SyncContext, kind: str, mailbox: Mailbox) -> list[ExchangeChange]:
    links = await ctx.store.list_links(kind, mailbox.address)
    return [
        ExchangeChange(link.graph_id, removed=True)
        for link in links
        if link.snapshot.get("series") == "master"
    ]


def _load_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _marked(ctx: SyncContext, event: Mapping[str, Any] | None, event_type: object) -> bool:
    return event is not None and is_marked(ctx, event_type, event.get("categories"))


def _change(ctx: SyncContext, graph_id: str, event: Mapping[str, Any]) -> ExchangeChange:
    """A change carrying the whole event as the feed listed it (the pair job then need not read it)."""
    version = event.get("changeKey")
    return ExchangeChange(
        graph_id,
        marked=_marked(ctx, event, event.get("type")),
        version=version if isinstance(version, str) and version else None,
        item=graph_item(event),
    )
