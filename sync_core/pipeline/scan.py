"""Scan one mailbox (Graph delta) or one F&O change feed and queue one message per changed pair.

Cursors are saved only after the messages are queued: a crash re-reads, it never skips."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sync_core.exchange.errors import DeltaTokenExpired
from sync_core.pipeline.poll_schedule import covered, note_scan
from sync_core.pipeline.reconcile import reconcile_mailbox
from sync_core.pipeline.valve import check_deletions
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import exchange_cursor_name, fno_cursor_name
from sync_core.runtime.kind import ExchangeChange, FnoChange, GraphItem, Kind
from sync_core.runtime.messages import CarriedGraphItem, ScanFnoFeed, ScanMailbox, SyncPair, fits
from sync_core.state.base import ConcurrencyError, Cursor, Link

log = logging.getLogger(__name__)


# How stale the registry's last_synced_at may get (status, the stale-mailbox alert at 120 minutes):
# writing it after every scan cost two Table requests an idle scan.
LAST_SYNCED_EVERY = timedelta(minutes=15)
_PARALLEL_LOOKUPS = 8  # mailboxes of one feed page whose links are read at the same time


async def scan_mailbox(ctx: SyncContext, message: ScanMailbox) -> int:
    """Returns the number of pair messages queued (deletions are queued by the deletion check)."""
    mailbox = await ctx.mailbox(message.mailbox)
    if mailbox is None or mailbox.record.paused:
        return 0  # a paused mailbox's delta token stays: the scan after `resume` lists what changed
    if await covered(ctx, message):
        return 0  # a notification's scan whose change a later complete read took in already
    feed = ctx.feeds.get(message.kind)
    if feed is not None:
        # A one-way feed (the e-mail import): its own job's messages, no pairs, no cursor here.
        started = ctx.now()
        await feed.scan_mailbox(ctx, mailbox.address)
        await _note_synced(ctx, mailbox)
        await note_scan(ctx, message.kind, mailbox.address, started, complete=True, changed=False)
        return 0
    kind = ctx.kinds[message.kind]
    name = exchange_cursor_name(kind.name, mailbox.address)
    cursor = await ctx.store.get_cursor(name)
    observed = ctx.now()  # before reading: what the feed lists is at least this new
    queued = 0
    seen: set[str] = set()  # every item the feed named, listed or removed
    listed: set[str] = set()  # the items it listed as present: one message each
    removed: set[str] = set()

    async def emit(changes: list[ExchangeChange]) -> None:
        nonlocal queued
        pairs: list[SyncPair] = []
        for change in changes:
            seen.add(change.graph_id)
            if change.graph_id in listed:
                continue  # delta may repeat an item; one message is enough
            if change.removed:
                if await ctx.store.get_link_by_graph(kind.name, mailbox.address, change.graph_id):
                    removed.add(change.graph_id)  # a deletion candidate: the deletion check decides
                continue
            # Listed after a removal in the same scan: moved from one folder the feed reads into another
            # (a contact dragged from the list's folder to the default one, where it carries the category).
            # It is there: not a deletion, and its change must not be skipped as a repeat.
            listed.add(change.graph_id)
            removed.discard(change.graph_id)
            link = await ctx.store.get_link_by_graph(kind.name, mailbox.address, change.graph_id)
            if link is not None and change.version and change.version == link.graph_version:
                continue  # unchanged since the last sync (the echo of our own write): nothing to do
            if change.marked or link is not None:
                pair = SyncPair(
                    kind=kind.name,
                    mailbox=mailbox.address,
                    graph_id=change.graph_id,
                    cycle_id=message.cycle_id,
                )
                if change.item is not None and _settled(link):
                    pair = _carrying(pair, observed, graph_item=_carried(change.item))
                pairs.append(pair)
        if pairs:
            await ctx.queues.send(ctx.settings.item_queue, pairs)
            queued += len(pairs)

    full = cursor is None
    try:
        new_value = await kind.graph_side.read_changes(ctx, mailbox, cursor.value if cursor else None, emit)
    except DeltaTokenExpired:
        # The token is gone: resynchronise fully against the links; the pair job creates nothing twice.
        log.info("delta token expired; full resync", extra={"kind": kind.name})
        full = True
        seen.clear()
        listed.clear()
        removed.clear()
        new_value = await kind.graph_side.read_changes(ctx, mailbox, None, emit)
    if full and new_value is not None:
        # A complete round listed everything in scope: what it did not list may be gone.
        removed.update(await _unseen_links(ctx, kind, mailbox.address, seen))
    # The periodic reconciliation (when due): out-of-step pairs queued, Exchange sides gone join `removed`.
    reconciled = await reconcile_mailbox(ctx, kind, mailbox, message.cycle_id, seen=seen)
    if reconciled is not None:
        removed.update(reconciled.gone)
    # All of this mailbox's deletions are counted together before any is applied (safety valve).
    held = await check_deletions(ctx, kind, mailbox, removed, message.cycle_id)
    if not ctx.dry_run:
        # While deletions are held the delta cursor stays put: the next scan sees the same removals again.
        if new_value is not None and not held:
            await _save_cursor(ctx, name, new_value, cursor)
        if reconciled is not None and not held:
            await reconciled.finish(ctx)  # while held it runs again, so its candidates stay counted
        await _note_synced(ctx, mailbox)
        # With notifications on, when this feed is next read without one (pipeline/poll_schedule.py). Echoes
        # of our own writes queued nothing (above), so they do not count as a change.
        changed = bool(queued or removed or (reconciled is not None and reconciled.pairs))
        await note_scan(ctx, kind.name, mailbox.address, observed, complete=not held, changed=changed)
    return queued


async def _note_synced(ctx: SyncContext, mailbox: Mailbox) -> None:
    if ctx.dry_run:
        return
    synced = mailbox.record.last_synced_at
    if synced is None or ctx.now() - synced >= LAST_SYNCED_EVERY:
        await ctx.store.upsert_mailbox(mailbox.record.model_copy(update={"last_synced_at": ctx.now()}))


async def _unseen_links(ctx: SyncContext, kind: Kind, mailbox: str, seen: set[str]) -> set[str]:
    """After a full round, a linked item in scope (e.g. inside the calendar window) that the round did not
    list may have been deleted. Items that simply lie outside the window are not asked about again."""
    unseen: set[str] = set()
    for link in await ctx.store.list_links(kind.name, mailbox):
        if link.graph_id in seen or link.claimed_side == "graph":
            continue
        try:
            in_scope = kind.rules.in_scope(ctx, link.snapshot) if link.snapshot else True
        except (ValueError, TypeError):
            in_scope = True  # an unreadable snapshot: ask rather than assume
        if in_scope:
            unseen.add(link.graph_id)
    return unseen


async def scan_fno_feed(ctx: SyncContext, message: ScanFnoFeed) -> int:
    feed = ctx.feeds.get(message.kind)
    if feed is not None:
        await feed.scan_fno(ctx)  # a one-way feed: work of its own job, no F&O changes to follow
        return 0
    kind = ctx.kinds[message.kind]
    owners = {r.personnel_number: r.mailbox for r in await ctx.mailbox_records() if r.status == "ok"}
    name = fno_cursor_name(kind.name)
    cursor = await ctx.store.get_cursor(name)
    started_from = cursor.value if cursor else None
    observed = ctx.now()  # before reading: what the feed lists is at least this new
    queued = 0

    async def emit(changes: list[FnoChange], *, checkpoint: str | None = None) -> None:
        nonlocal queued, cursor
        queued += await queue_fno_changes(ctx, kind.name, owners, changes, message.cycle_id, observed)
        if checkpoint is not None and not ctx.dry_run:
            # This page's work is queued: a scan cut short after it resumes here.
            cursor = await _save_cursor(ctx, name, checkpoint, cursor)

    new_value = await kind.fno_side.read_changes(ctx, started_from, emit)
    if not ctx.dry_run and new_value is not None:
        await _save_cursor(ctx, name, new_value, cursor)
    # A task changed in F&O does not bring its owner's To Do back to every-cycle polling: its pair job
    # writes To Do itself, and whoever edited it in F&O says nothing about edits in To Do
    # (pipeline/poll_schedule.py).
    return queued


async def queue_fno_changes(
    ctx: SyncContext,
    kind: str,
    owners: dict[str, str],
    changes: list[FnoChange],
    cycle_id: str,
    observed: datetime,
) -> int:
    """Queue the pair messages of F&O changes (`owners`: personnel number -> mailbox in scope): what the F&O
    feed queues, and what an F&O data event queues for its row (fno_events/). Returns how many."""
    owned = [(owners[c.owner], c) for c in changes if c.owner in owners]  # others: not in scope
    links = await _links_of(ctx, kind, owned)
    pairs: list[SyncPair] = []
    for mailbox, change in owned:
        link = links.get((mailbox, change.fno_key))
        if link is not None and change.version and change.version == link.fno_version:
            continue  # unchanged since the last sync (the echo of our own write): nothing to do
        if change.marked or link is not None:
            pair = SyncPair(kind=kind, mailbox=mailbox, fno_key=change.fno_key, cycle_id=cycle_id)
            if change.row is not None and _settled(link):
                pair = _carrying(pair, observed, fno_row=dict(change.row))
            pairs.append(pair)
    if pairs:
        await ctx.queues.send(ctx.settings.item_queue, pairs)
    return len(pairs)


async def _links_of(
    ctx: SyncContext, kind: str, owned: list[tuple[str, FnoChange]]
) -> dict[tuple[str, str], Link]:
    """The links of a page of changes: one bulk read per mailbox, not one read per row."""
    keys: dict[str, list[str]] = {}
    for mailbox, change in owned:
        keys.setdefault(mailbox, []).append(change.fno_key)
    found: dict[tuple[str, str], Link] = {}
    gate = asyncio.Semaphore(_PARALLEL_LOOKUPS)

    async def lookup(mailbox: str, fno_keys: list[str]) -> None:
        async with gate:
            for key, link in (await ctx.store.get_links_by_fno(kind, mailbox, fno_keys)).items():
                found[(mailbox, key)] = link

    await asyncio.gather(*(lookup(m, k) for m, k in keys.items()))
    return found


def _settled(link: Link | None) -> bool:
    return link is not None and not link.is_claim


def _carried(item: GraphItem) -> CarriedGraphItem:
    return CarriedGraphItem(id=item.id, item=dict(item.item), version=item.version, stamp=item.stamp)


def _carrying(
    pair: SyncPair,
    observed: datetime,
    *,
    graph_item: CarriedGraphItem | None = None,
    fno_row: dict[str, Any] | None = None,
) -> SyncPair:
    """The pair message with the item the feed read, unless that makes it too big for a queue message
    (a huge body): then the pair job reads the item itself."""
    carrying = pair.model_copy(update={"graph_item": graph_item, "fno_row": fno_row, "observed_at": observed})
    return carrying if fits(carrying) else pair


async def _save_cursor(ctx: SyncContext, name: str, value: str, previous: Cursor | None) -> Cursor | None:
    """Returns the cursor as stored now (ours, or the one a concurrent scan saved)."""
    if previous is not None and previous.value == value:
        return previous  # nothing moved: no write
    try:
        return await ctx.store.save_cursor(
            Cursor(
                name=name, value=value, updated_at=datetime.now(UTC), etag=previous.etag if previous else None
            )
        )
    except ConcurrencyError:
        # Another scan of the same feed saved first; its cursor is as good as ours and the
        # changes we queued are idempotent.
        log.info("cursor saved by a concurrent scan", extra={"cursor": name.split(":", 2)[0]})
        return await ctx.store.get_cursor(name)
