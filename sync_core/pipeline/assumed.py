"""Write without reading first: the side of a settled pair that did not change is assumed to be as the
link's snapshot left it, and the write to it is conditional (`If-Match` with the version the link holds).

A change made in F&O then costs one Graph request (the PATCH) instead of two (GET + PATCH), and a change
made in Outlook one F&O request. If the assumed side did change meanwhile, the write is refused and nothing
is written; the pair job then reads the side and decides again, as it would have without the assumption.
Which status a refused condition gets is not documented per service (docs/microsoft.md, "Conditional
writes"), so any 4xx but 401, 403 and 429 counts as refused: reading again is always safe, and the
writes after the read carry no `If-Match`, so a service that takes no `If-Match` at all cannot loop.
Whether a kind's Exchange side may be assumed is its hook `graph_if_match(settings, link)` (off for To Do
unless SYNC_TODO_WRITE_WITHOUT_READ). Only plain updates of fields the kind can write without the current
item are done this way (kind attributes `fields_needing_graph_item` and `fields_needing_fno_row`; a kind
without them is never assumed), so the conditional write is the pair job's only write."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sync_core.d365.errors import FnoError
from sync_core.engine.types import ActionKind, Decision, SideView
from sync_core.exchange.errors import GraphError
from sync_core.runtime.kind import FnoItem, GraphItem, KindAdapter
from sync_core.runtime.messages import SyncPair
from sync_core.settings import Settings
from sync_core.state.base import Link

# A conditional write answering these did not fail for its condition: signed out, not allowed, throttled.
_NOT_REFUSED_CONDITION = (401, 403, 429)


def _settled(link: Link | None) -> bool:
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


def assumed_graph(
    kind: KindAdapter, message: SyncPair, link: Link | None, settings: Settings
) -> GraphItem | None:
    """The Exchange side of a pair whose F&O side the feed reported changed, taken from the link."""
    hook = getattr(kind, "graph_if_match", None)
    if hook is None or not hasattr(kind, "fields_needing_graph_item"):
        return None
    if message.fno_row is None or message.graph_item is not None or message.allow_delete:
        return None
    if link is None or not _settled(link) or not link.graph_version:
        return None
    token: str | None = hook(settings, link)
    if not token:
        return None
    return GraphItem(
        id=link.graph_id,
        item={"isOrganizer": link.organizer},
        version=link.graph_version,
        stamp=link.fno_key,
        if_match=token,
    )


def assumed_fno(kind: KindAdapter, message: SyncPair, link: Link | None) -> FnoItem | None:
    """The F&O side of a pair whose Exchange side the feed reported changed, taken from the link."""
    if not hasattr(kind, "fields_needing_fno_row"):
        return None
    if message.graph_item is None or message.fno_row is not None or message.allow_delete:
        return None
    if link is None or not _settled(link) or not link.fno_etag:
        return None
    return FnoItem(key=link.fno_key, row={}, version=link.fno_version, extra={}, if_match=link.fno_etag)


def assumed_view(link: Link) -> SideView:
    """The side as the last sync left it: present, marked, with the snapshot as its record."""
    return SideView(present=True, marked=True, record=dict(link.snapshot), modified_at=link.synced_at)


def assumption_holds(
    kind: KindAdapter, decision: Decision, graph: GraphItem | None, fno: FnoItem | None
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
        needing: Collection[str] = getattr(kind, "fields_needing_graph_item", ())
        return not decision.write_fno and not set(decision.write_graph) & set(needing)
    needing = getattr(kind, "fields_needing_fno_row", ())
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
