"""The periodic reconciliation of one mailbox and kind: a level-triggered safety net under the feeds.

Delta feeds, the F&O watermark and change notifications are edge-triggered: whatever they miss (a lost
message, a crash between a feed read and its queueing, a clock skew larger than the overlap, a delta that
silently skips an item) stays missed until the item changes again. Every `SYNC_RECONCILE_HOURS` (default 6)
the mailbox scan therefore lists both sides cheaply (ids, versions, marks; `kinds/inventory.py`) and
compares them with the links:

- a marked item without a link (and within the kind's scope)      -> a pair message for it;
- a link whose side's listed version differs from the one it holds -> a pair message;
- a link whose side is listed without its mark                     -> a pair message (the pair job unlinks);
- a link whose Exchange side is missing from a listing that covers it -> a deletion candidate: it joins the
  scan's own candidates in the deletion check, which reads each one and applies the safety valve;
- a link whose F&O side is missing -> a pair message without permission to delete (the pair job reads it:
  unmarked or moved away is synced; gone is left to the deletion check's key comparison, which counts it
  with the others before anything is deleted).

Nothing is written here but queue messages and the time of the reconciliation: all in step, the pair jobs
are never even queued. Creations go through the pair job, whose claims and stamp lookups make a pair the
feed also reported this cycle harmless (it finds the link or the stamped partner; nothing twice).

When: per mailbox at fixed slots every interval, phase-shifted by a stable hash of the address, so the
mailboxes of a tenant come due evenly spread over the interval (about one in 72 per 5-minute cycle at the
default), never all in one cycle. A mailbox seen for the first time only remembers when; its first
reconciliation comes at its next slot (a first scan lists everything anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from opentelemetry.trace import get_current_span

from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.inventory import Inventory
from sync_core.runtime.keys import parse_fno_time
from sync_core.runtime.kind import Kind
from sync_core.runtime.messages import SyncPair
from sync_core.runtime.phase import last_slot as last_slot  # re-exported: moved to runtime/phase.py
from sync_core.state.base import ConcurrencyError, Cursor, Link
from sync_core.telemetry import names

log = logging.getLogger(__name__)


def cursor_name(kind: str, mailbox: str) -> str:
    return f"reconcile:{kind}:{mailbox}"


def is_due(now: datetime, last: datetime, mailbox: str, interval: timedelta) -> bool:
    """Due once per slot: when the last reconciliation was before the latest slot. A `last` far in the
    future (a clock that jumped back) is not trusted."""
    if last > now + interval:
        return True
    return last < last_slot(now, mailbox, interval)


@dataclass
class Reconciliation:
    """What one reconciliation found (counts only: no ids or content leave this object in telemetry)."""

    kind: str
    mailbox: str
    gone: set[str] = field(default_factory=set)  # Exchange ids for the deletion check
    pairs: list[SyncPair] = field(default_factory=list)
    unlinked: int = 0  # marked items without a link
    changed: int = 0  # links whose side's version or mark differs
    missing: int = 0  # links whose side was not listed
    _cursor: Cursor | None = None

    @property
    def out_of_step(self) -> int:
        return self.unlinked + self.changed + self.missing

    async def finish(self, ctx: SyncContext) -> None:
        """Remember when: called by the scan once the deletion check accepted the candidates (while the
        valve holds, the reconciliation runs again next cycle, so the held candidates stay counted)."""
        await _save_time(ctx, self.kind, self.mailbox, self._cursor)


async def _save_time(ctx: SyncContext, kind: str, mailbox: str, previous: Cursor | None) -> None:
    if ctx.dry_run:
        return
    cursor = Cursor(
        name=cursor_name(kind, mailbox),
        value=ctx.now().astimezone(UTC).isoformat(),
        updated_at=ctx.now(),
        etag=previous.etag if previous else None,
    )
    try:
        await ctx.store.save_cursor(cursor)
    except ConcurrencyError:
        # Another scan of this mailbox reconciled at the same time: its time is as good as ours.
        log.info("reconciliation time saved by a concurrent scan", extra={"kind": kind})


async def due(ctx: SyncContext, kind: Kind, mailbox: Mailbox) -> tuple[bool, Cursor | None]:
    """Whether this mailbox and kind reconcile now (and the cursor read to decide)."""
    hours = ctx.settings.reconcile_hours
    if hours <= 0:
        return False, None
    cursor = await ctx.store.get_cursor(cursor_name(kind.name, mailbox.address))
    last = parse_fno_time(cursor.value) if cursor is not None else None
    if last is None:
        # First sight (or an unreadable value): remember now, reconcile at the mailbox's next slot.
        await _save_time(ctx, kind.name, mailbox.address, cursor)
        return False, cursor
    return is_due(ctx.now(), last, mailbox.address, timedelta(hours=hours)), cursor


async def reconcile_mailbox(
    ctx: SyncContext, kind: Kind, mailbox: Mailbox, cycle_id: str, *, seen: Iterable[str] = ()
) -> Reconciliation | None:
    """Reconcile when due: queue the out-of-step pairs, return the Exchange deletion candidates (None when
    not due). `seen`: Exchange ids the scan queued or judged already in this run (not queued twice)."""
    is_now, cursor = await due(ctx, kind, mailbox)
    if not is_now:
        return None
    graph = await kind.listings.graph_inventory(ctx, mailbox)
    fno = await kind.listings.fno_inventory(ctx, mailbox)
    links = await ctx.store.list_links(kind.name, mailbox.address)
    found = compare(kind.name, mailbox.address, links, graph, fno, cycle_id, skip=set(seen))
    found._cursor = cursor
    if found.pairs:
        await ctx.queues.send(ctx.settings.item_queue, found.pairs)
    ctx.report.reconciliation["runs"] += 1
    ctx.report.reconciliation["out_of_step"] += found.out_of_step
    _record(found)
    return found


def compare(
    kind: str,
    mailbox: str,
    links: list[Link],
    graph: Inventory,
    fno: Inventory,
    cycle_id: str,
    *,
    skip: set[str] | None = None,
) -> Reconciliation:
    """The comparison itself (pure): what is out of step between the two listings and the links."""
    skip = skip or set()
    found = Reconciliation(kind=kind, mailbox=mailbox)
    # Ids held by a link or a claim: a claim is a creation in progress (or left by a crash), which the
    # pair job resolves when its item is next reported; queueing it here could race the creation.
    known_graph = {link.graph_id for link in links}
    known_fno = {link.fno_key for link in links}
    for graph_id, listed in sorted(graph.items.items()):
        if graph_id not in known_graph and listed.marked and listed.wanted and graph_id not in skip:
            found.unlinked += 1
            found.pairs.append(SyncPair(kind=kind, mailbox=mailbox, graph_id=graph_id, cycle_id=cycle_id))
    for key, listed in sorted(fno.items.items()):
        if key not in known_fno and listed.marked and listed.wanted:
            found.unlinked += 1
            found.pairs.append(SyncPair(kind=kind, mailbox=mailbox, fno_key=key, cycle_id=cycle_id))
    for link in sorted(links, key=lambda item: item.fno_key):
        if link.is_claim:
            continue
        queue = False
        on_graph, on_fno = graph.items.get(link.graph_id), fno.items.get(link.fno_key)
        if on_graph is None:
            if graph.covers(link):
                found.missing += 1
                found.gone.add(link.graph_id)  # the deletion check reads it before anything happens
        elif link.graph_id not in skip and (
            _differs(on_graph.version, link.graph_version) or on_graph.marked is False
        ):
            found.changed += 1
            queue = True
        if on_fno is None:
            if fno.covers(link):
                found.missing += 1
                queue = True
        elif _differs(on_fno.version, link.fno_version) or on_fno.marked is False:
            found.changed += 1
            queue = True
        if queue and link.graph_id not in found.gone:
            found.pairs.append(
                SyncPair(
                    kind=kind,
                    mailbox=mailbox,
                    fno_key=link.fno_key,
                    graph_id=link.graph_id,
                    cycle_id=cycle_id,
                )
            )
    return found


def _differs(listed: str | None, held: str) -> bool:
    if listed is None:
        return False
    if "|" in held and "|" not in listed:
        # An F&O version is "stamp|etag" (runtime/keys.row_version); should a listing come without the
        # row's etag, its stamp alone is compared rather than every item queued each time.
        return listed != held.split("|", 1)[0]
    return listed != held


def _record(found: Reconciliation) -> None:
    """Telemetry: counts on the scan's span (no ids, no content), and a log line when out of step."""
    try:
        get_current_span().set_attributes(
            {
                names.RECONCILED: True,
                names.RECONCILE_UNLINKED: found.unlinked,
                names.RECONCILE_CHANGED: found.changed,
                names.RECONCILE_MISSING: found.missing,
            }
        )
    except Exception as exc:  # telemetry never changes what the sync does
        log.debug("reconciliation telemetry failed: %s", type(exc).__name__)
    if found.out_of_step:
        log.info(
            "reconciliation found items out of step",
            extra={
                "kind": found.kind,
                "unlinked": found.unlinked,
                "changed": found.changed,
                "missing": found.missing,
            },
        )
