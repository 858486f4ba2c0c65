"""Where each side of a pair comes from: assumed from the link, carried by the scan, or read.

- **Assumed** (write without reading first): the side of a settled pair that did not change is taken as the
  link's snapshot left it, and the write to it is conditional (`If-Match` with the version the link holds).
  A change made in F&O then costs one Graph request (the PATCH) instead of two (GET + PATCH), and a change
  made in Outlook one F&O request. If the assumed side did change meanwhile, the write is refused and nothing
  is written; the pair job then reads the side and decides again, as it would have without the assumption.
  Which status a refused condition gets is not documented per service (docs/microsoft.md, "Conditional
  writes"), so any 4xx but 401, 403 and 429 counts as refused: reading again is always safe, and the writes
  after the read carry no `If-Match`, so a service that takes no `If-Match` at all cannot loop. Whether a
  kind's Exchange side may be assumed is its hook `graph_if_match(settings, link)` (off for To Do unless
  SYNC_TODO_WRITE_WITHOUT_READ). Only plain updates of fields the kind can write without the current item
  are done this way (the kind's rules `fields_needing_graph_item` and `fields_needing_fno_row`,
  runtime/rules.py), so the conditional write is the pair job's only write.
- **Carried**: the item the feed read (the message's `graph_item` / `fno_row`), used for a settled link last
  synced before the scan began; a carried item exactly as the link left it ends the job (`echo`).
- **Read**: otherwise, the kind's `mapping.load_fno` / the Exchange side's `get`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sync_core.d365.errors import FnoError
from sync_core.engine.types import ActionKind, Decision, SideView
from sync_core.exchange.errors import GraphError
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.kind import FnoItem, GraphItem, Kind
from sync_core.runtime.messages import CarriedGraphItem, SyncPair
from sync_core.runtime.rules import KindRules
from sync_core.state.base import ConcurrencyError, Link, is_claimed_key

CLOCK_MARGIN = timedelta(seconds=30)
# A conditional write answering these did not fail for its condition: signed out, not allowed, throttled.
_NOT_REFUSED_CONDITION = (401, 403, 429)


@dataclass(frozen=True)
class Sides:
    fno: FnoItem | None
    graph: GraphItem | None


async def read_sides(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    message: SyncPair,
    link: Link | None,
    *,
    assume: bool,
) -> Sides | None:
    """Both sides of the pair, or None when the side the feed carried is exactly as the link left it
    (typically the echo of our own write): nothing to carry over, and the other side's feed reports its own
    changes."""
    if await _stale_echo(ctx, kind, mailbox, message, link):
        return None
    fno = await fno_side(ctx, kind, message, link, assume=assume)
    if message.fno_row is not None and await echo(ctx, kind, mailbox, link, fno=fno):
        return None
    graph = await graph_side(ctx, kind, mailbox, message, link, assume=assume)
    if message.graph_item is not None and await echo(ctx, kind, mailbox, link, graph=graph):
        return None
    return Sides(fno, graph)


async def fno_side(
    ctx: SyncContext,
    kind: Kind,
    message: SyncPair,
    link: Link | None,
    *,
    assume: bool,
) -> FnoItem | None:
    """The F&O side: assumed from the link, carried by the scan, or read (None: not there, or only claimed)."""
    if assume:
        assumed = _assumed_fno(message, link)
        if assumed is not None:
            return assumed
    key = link.fno_key if link else message.fno_key
    if not key or is_claimed_key(key):
        return None
    if message.fno_row is not None and _carried_is_current(message, link, key):
        return await kind.mapping.fno_item_from_row(ctx, key, message.fno_row)
    return await kind.mapping.load_fno(ctx, key)


async def graph_side(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    message: SyncPair,
    link: Link | None,
    *,
    assume: bool,
) -> GraphItem | None:
    """The Exchange side: assumed from the link, carried by the scan, or read (None: not there, or claimed)."""
    if assume:
        assumed = _assumed_graph(kind, ctx, message, link)
        if assumed is not None:
            return assumed
    graph_id = link.graph_id if link else message.graph_id
    if not graph_id or is_claimed_key(graph_id):
        return None
    carried = message.graph_item
    if carried is not None and carried.id == graph_id and _carried_is_current(message, link, None):
        return _graph_item(carried)
    return await kind.graph_side.get(ctx, mailbox, graph_id)


async def views(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    link: Link | None,
    fno: FnoItem | None,
    graph: GraphItem | None,
) -> tuple[SideView, SideView]:
    """Both sides as the engine sees them; an assumed side is the link's snapshot."""
    if link is not None and is_assumed(fno):
        fno_view = _assumed_view(link)
    else:
        fno_view = await kind.mapping.fno_view(ctx, mailbox, fno)
    if link is not None and is_assumed(graph):
        graph_view = _assumed_view(link)
    else:
        graph_view = await kind.mapping.graph_view(ctx, mailbox, graph)
    return await kind.mapping.align(ctx, mailbox, fno_view, graph_view)


async def echo(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    link: Link | None,
    *,
    fno: FnoItem | None = None,
    graph: GraphItem | None = None,
) -> bool:
    """The side a feed reported is exactly as the link left it (typically the echo of our own write, whose
    new version the write did not return): there is nothing to carry to the other side, and what changed
    there its own feed reports. Remembers the version, so the feed skips the item from now on."""
    if link is None or link.snapshot is None or not link.snapshot_hash or (fno is None) == (graph is None):
        return False
    if link.is_claim:
        return False
    view = (
        await kind.mapping.fno_view(ctx, mailbox, fno)
        if fno is not None
        else await kind.mapping.graph_view(ctx, mailbox, graph)
    )
    if not (view.present and view.marked and view.record is not None):
        return False
    if kind.mapping.content_hash(view.record) != link.snapshot_hash:
        return False
    ctx.report.count_unchanged(kind.name, mailbox.address, link.fno_key)
    version = (
        {"fno_version": fno.version, "fno_etag": fno_etag(fno) or link.fno_etag}
        if fno is not None
        else {"graph_version": graph.version if graph else ""}
    )
    primary = fno.version if fno is not None else (graph.version if graph else "")
    if not ctx.dry_run and primary and version != {k: getattr(link, k) for k in version}:
        with contextlib.suppress(ConcurrencyError):  # another job saved the pair meanwhile: as good
            await ctx.store.save_link(link.model_copy(update={**version, "synced_at": ctx.now()}))
    return True


async def _stale_echo(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    message: SyncPair,
    link: Link | None,
) -> bool:
    """A carried item the link may be newer than (synced after the scan began, typically our own write's
    echo read by a feed that ran after the write) is still enough when it equals the link's snapshot:
    nothing is left to carry over, and a later change of that side its own feed reports."""
    if link is None or _carried_is_current(message, link, link.fno_key):
        return False  # no link, or the carried item is used as usual
    carried = message.graph_item
    if carried is not None and carried.id == link.graph_id and message.fno_row is None:
        return await echo(ctx, kind, mailbox, link, graph=_graph_item(carried))
    if message.fno_row is not None and message.fno_key == link.fno_key:
        fno = await kind.mapping.fno_item_from_row(ctx, link.fno_key, message.fno_row)
        return await echo(ctx, kind, mailbox, link, fno=fno)
    return False


def _carried_is_current(message: SyncPair, link: Link | None, fno_key: str | None) -> bool:
    """An item the scan carried stands in for reading it only for a settled link last synced before the
    scan began (less a margin for the clocks of different hosts): then it is at least as new as what the
    link knows. Otherwise another job may have synced a newer state meanwhile, and the item is read."""
    if link is None or message.observed_at is None or link.synced_at is None or link.is_claim:
        return False
    if fno_key is not None and link.fno_key != fno_key:
        return False
    return utc(link.synced_at) < utc(message.observed_at) - CLOCK_MARGIN


def _graph_item(carried: CarriedGraphItem) -> GraphItem:
    return GraphItem(id=carried.id, item=carried.item, version=carried.version, stamp=carried.stamp)


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# ---- assumed from the link ------------------------------------------------------------------------------
def _assumable(link: Link | None) -> bool:
    return (
        link is not None
        and link.active
        and bool(link.snapshot)
        and bool(link.snapshot_hash)
        and not link.is_claim
    )


def is_assumed(item: FnoItem | GraphItem | None) -> bool:
    """Taken from the link, not read: writes to it are conditional."""
    return item is not None and item.if_match is not None


def _assumed_graph(kind: Kind, ctx: SyncContext, message: SyncPair, link: Link | None) -> GraphItem | None:
    """The Exchange side of a pair whose F&O side the feed reported changed, taken from the link."""
    if message.fno_row is None or message.graph_item is not None or message.allow_delete:
        return None
    if link is None or not _assumable(link) or not link.graph_version:
        return None
    token = kind.mapping.graph_if_match(ctx.settings, link)
    if not token:
        return None
    return GraphItem(
        id=link.graph_id,
        item={"isOrganizer": link.organizer},
        version=link.graph_version,
        stamp=link.fno_key,
        if_match=token,
    )


def _assumed_fno(message: SyncPair, link: Link | None) -> FnoItem | None:
    """The F&O side of a pair whose Exchange side the feed reported changed, taken from the link."""
    if message.graph_item is None or message.fno_row is not None or message.allow_delete:
        return None
    if link is None or not _assumable(link) or not link.fno_etag:
        return None
    return FnoItem(key=link.fno_key, row={}, version=link.fno_version, extra={}, if_match=link.fno_etag)


def _assumed_view(link: Link) -> SideView:
    """The side as the last sync left it: present, marked, with the snapshot as its record."""
    return SideView(present=True, marked=True, record=dict(link.snapshot), modified_at=link.synced_at)


def assumption_holds(
    rules: KindRules, decision: Decision, fno: FnoItem | None, graph: GraphItem | None
) -> bool:
    """The decision is a plain update of the assumed side only, with fields writable without it."""
    graph_assumed, fno_assumed = is_assumed(graph), is_assumed(fno)
    if not (graph_assumed or fno_assumed):
        return True
    if decision.action is ActionKind.NOTHING:
        return True  # nothing is written: what the assumed side holds does not matter
    if decision.action is not ActionKind.UPDATE or decision.conflicts:
        return False
    if decision.mark_graph or decision.mark_fno or decision.unmark_graph or decision.unmark_fno:
        return False
    if graph_assumed:
        needing: Collection[str] = rules.fields_needing_graph_item
        return not decision.write_fno and not set(decision.write_graph) & set(needing)
    needing = rules.fields_needing_fno_row
    return not decision.write_graph and not set(decision.write_fno) & set(needing)


def is_stale_write(exc: Exception) -> bool:
    """A conditional write refused: the item changed (412, or 400/409 from a service that says it so) or
    is gone (404). Whatever it was, nothing was written and the side is read before deciding again."""
    if not isinstance(exc, GraphError | FnoError):
        return False
    return 400 <= exc.status < 500 and exc.status not in _NOT_REFUSED_CONDITION


def fno_etag(fno: FnoItem) -> str:
    """The etag of the row as this job knows it (read or assumed)."""
    value: Any = fno.if_match or fno.row.get("@odata.etag")
    return value if isinstance(value, str) else ""
