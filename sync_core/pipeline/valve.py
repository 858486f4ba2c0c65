"""The deletion check of one mailbox and kind: find the linked pairs whose one side vanished, put them through
the safety valve as a whole, and only then let the pair job apply them (docs/spec.md §4).

Where vanished sides come from:
- Exchange: the mailbox scan hands over the linked ids its delta reported removed (and, after a full round,
  the linked items in the window it did not list); each is confirmed with a read (it may only have moved
  out of the window).
- F&O shows no deletions over OData: the mailbox's links are compared with the keys F&O still returns, in
  batched queries (`SYNC_FNO_DELETE_CHECK_MINUTES`, and on every scan while a hold is open).

The pair job deletes or unlinks a pair with a vanished side only when its message carries `allow_delete`,
which only this check sets. While the valve holds, nothing of that mailbox and kind is deleted or unlinked;
the hold is recorded (state, failures, audit, the cycle report) until `approve-deletes` or until the
vanished items come back. The hold lives in the state store's cursor table as a small JSON record, so both
back ends keep it without a schema change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, ValidationError

from sync_core.engine.types import DeletionContext
from sync_core.engine.valve import DeletionCount, valve_reason
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.kind import Kind
from sync_core.runtime.messages import SyncPair
from sync_core.runtime.report import FailureNote, PlannedAction
from sync_core.state.base import AuditEntry, ConcurrencyError, Cursor, Link
from sync_core.telemetry.hooks import deletions_held

log = logging.getLogger(__name__)
VALVE_ITEM = "safety-valve"  # the failure record's item key


class DeletionState(BaseModel):
    """Per mailbox and kind: when F&O keys were last compared, and the open hold (if any)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    fno_checked_at: datetime | None = None
    held: bool = False
    reason: str = ""
    held_at: datetime | None = None
    count: int = 0
    approved: bool = False


def state_name(kind: str, mailbox: str) -> str:
    return f"deletions:{kind}:{mailbox}"


def approve_hint(kind: str, mailbox: str) -> str:
    return f"python -m sync_core approve-deletes --mailbox {mailbox} --kind {kind}"


async def load_state(ctx: SyncContext, kind: str, mailbox: str) -> tuple[DeletionState, Cursor | None]:
    cursor = await ctx.store.get_cursor(state_name(kind, mailbox))
    if cursor is None:
        return DeletionState(), None
    try:
        return DeletionState.model_validate_json(cursor.value), cursor
    except ValidationError:
        log.warning("unreadable deletion state replaced", extra={"kind": kind})
        return DeletionState(), cursor


async def save_state(
    ctx: SyncContext, kind: str, mailbox: str, state: DeletionState, previous: Cursor | None
) -> None:
    if ctx.dry_run:
        return
    if previous is not None and previous.value == state.model_dump_json():
        return
    cursor = Cursor(
        name=state_name(kind, mailbox),
        value=state.model_dump_json(),
        updated_at=ctx.now(),
        etag=previous.etag if previous else None,
    )
    await ctx.store.save_cursor(cursor)  # ConcurrencyError: another scan of this mailbox won; retried


def settled_links(links: Iterable[Link]) -> list[Link]:
    return [link for link in links if not link.is_claim]


async def missing_fno_keys(ctx: SyncContext, kind: Kind, keys: list[str]) -> set[str]:
    """Keys of `keys` F&O no longer returns (the kind's batched lookup: F&O shows no deletions over OData)."""
    existing = await kind.fno_side.existing(ctx, keys)
    return {key for key in keys if key not in existing}


async def check_deletions(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    graph_candidates: Iterable[str],
    cycle_id: str,
) -> bool:
    """Find, count and (valve permitting) queue this mailbox's deletions. Returns True while held."""
    store = ctx.store
    state, cursor = await load_state(ctx, kind.name, mailbox.address)
    was_held = state.held
    now = ctx.now()
    fno_gone: set[str] = set()
    checked_at = state.fno_checked_at
    every = timedelta(minutes=ctx.settings.fno_delete_check_minutes)
    graph_candidates = set(graph_candidates)
    if not graph_candidates and not state.held and checked_at is not None and now - checked_at < every:
        return False  # nothing can have gone: no list of the links (a Table query per idle scan)
    links = settled_links(await store.list_links(kind.name, mailbox.address))
    if state.held or checked_at is None or now - checked_at >= every:
        if links:
            fno_gone = await missing_fno_keys(ctx, kind, [link.fno_key for link in links])
        checked_at = now
    by_graph = {link.graph_id: link for link in links}
    graph_gone: set[str] = set()
    still_there: list[Link] = []
    for graph_id in sorted(set(graph_candidates)):
        link = by_graph.get(graph_id)
        if link is None:
            # A claim (a create from this item not finished): its pair job finds out what the create made
            # and brings the deletion back here (pipeline/pair.py).
            claim = await store.get_link_by_graph(kind.name, mailbox.address, graph_id)
            if claim is not None and claim.is_claim:
                still_there.append(claim)
            continue
        if await kind.graph_side.get(ctx, mailbox, graph_id) is None:
            graph_gone.add(graph_id)
        else:
            still_there.append(link)  # moved out of the window or changed outside it: an ordinary sync
    gone = [link for link in links if link.fno_key in fno_gone or link.graph_id in graph_gone]
    count = DeletionCount(
        links=len(links),
        gone=len(gone),
        fno_gone=sum(link.fno_key in fno_gone for link in links),
        graph_gone=sum(link.graph_id in graph_gone for link in links),
    )
    reason = valve_reason(
        count, max_share=ctx.settings.delete_max_share, min_items=ctx.settings.delete_min_items
    )
    await _send(ctx, kind.name, mailbox.address, still_there, cycle_id, allow_delete=False)
    held = False
    if not gone:
        if state.held:
            await _release(ctx, kind.name, mailbox.address, "the vanished items are back", count)
        state = DeletionState(fno_checked_at=checked_at)
    elif state.held and state.approved:
        await _release(ctx, kind.name, mailbox.address, "approved by an operator", count)
        await _send(ctx, kind.name, mailbox.address, gone, cycle_id, allow_delete=True)
        state = DeletionState(fno_checked_at=checked_at)
    elif reason is not None or state.held:
        held = True
        why = reason or state.reason
        state = DeletionState(
            fno_checked_at=checked_at,
            held=True,
            reason=why,
            held_at=state.held_at or now,
            count=count.gone,
            approved=False,
        )
        await _hold(ctx, kind, mailbox, why, count, gone, fno_gone, first=not was_held)
    else:
        await _send(ctx, kind.name, mailbox.address, gone, cycle_id, allow_delete=True)
        state = DeletionState(fno_checked_at=checked_at)
    try:
        await save_state(ctx, kind.name, mailbox.address, state, cursor)
    except ConcurrencyError:
        # Another scan of this mailbox saved first; it saw the same deletions and queued the same pairs.
        log.info("deletion state saved by a concurrent scan", extra={"kind": kind.name})
    return held


async def _send(
    ctx: SyncContext, kind: str, mailbox: str, links: list[Link], cycle_id: str, *, allow_delete: bool
) -> None:
    if not links:
        return
    pairs = [
        SyncPair(
            kind=kind,
            mailbox=mailbox,
            fno_key=link.fno_key,
            graph_id=link.graph_id,
            cycle_id=cycle_id,
            allow_delete=allow_delete,
        )
        for link in links
    ]
    await ctx.queues.send(ctx.settings.item_queue, pairs)


async def _hold(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    reason: str,
    count: DeletionCount,
    gone: list[Link],
    fno_gone: set[str],
    *,
    first: bool,
) -> None:
    text = f"safety valve: {reason}; nothing was deleted. Check, then approve with `{approve_hint(kind.name, mailbox.address)}`"
    log.warning("deletions held", extra={"kind": kind.name, "gone": count.gone, "links": count.links})
    ctx.report.fail(FailureNote(kind.name, mailbox.address, None, None, text))
    for link in gone:
        side = "F&O" if link.fno_key in fno_gone else "Exchange"
        ctx.report.planned.append(
            PlannedAction(
                kind.name,
                mailbox.address,
                "held:" + would_do(kind, link, deleted_in_fno=link.fno_key in fno_gone, now=ctx.now()),
                link.fno_key,
                link.graph_id,
                f"vanished in {side}; held by the safety valve",
            )
        )
    if ctx.dry_run:
        return
    deletions_held(ctx, kind.name, mailbox.address, count.gone)
    await ctx.store.record_failure(kind.name, mailbox.address, VALVE_ITEM, text, ctx.now())
    if first:
        await ctx.store.append_audit(
            AuditEntry(
                at=ctx.now(),
                kind=kind.name,
                mailbox=mailbox.address,
                action="deletions_held",
                detail={"reason": reason, "gone": count.gone, "links": count.links},
            )
        )


async def _release(ctx: SyncContext, kind: str, mailbox: str, why: str, count: DeletionCount) -> None:
    if ctx.dry_run:
        return
    deletions_held(ctx, kind, mailbox, 0)
    await ctx.store.clear_failure(kind, mailbox, VALVE_ITEM)
    await ctx.store.append_audit(
        AuditEntry(
            at=ctx.now(),
            kind=kind,
            mailbox=mailbox,
            action="deletions_released",
            detail={"reason": why, "gone": count.gone, "links": count.links},
        )
    )


def would_do(kind: Kind, link: Link, *, deleted_in_fno: bool, now: datetime) -> str:
    """What the pair job will do with a vanished side (for previews): delete the partner or unlink."""
    verdict = kind.rules.deletion_rule(
        DeletionContext(
            side_deleted="fno" if deleted_in_fno else "graph",
            snapshot=link.snapshot,
            now=now,
            mailbox_is_organizer=link.organizer,
        )
    )
    if verdict == "delete_partner":
        return "delete_in_graph" if deleted_in_fno else "delete_in_fno"
    return "unlink"
