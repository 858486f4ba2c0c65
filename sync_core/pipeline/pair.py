"""Sync one item pair: load the link and both sides (pipeline/reads.py), gather the facts (pipeline/facts.py),
let the engine decide (engine/decide.py: its decision is final), apply it, save the link.

Idempotent: the outcome depends on the current state, not on the message. Two workers on one pair
cannot both create: a creation is first claimed with a pending link (insert-only, ETag-guarded)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sync_core.d365.errors import FnoError
from sync_core.engine.decide import decide, would_create
from sync_core.engine.latency import pair_latency
from sync_core.engine.types import ActionKind, Decision, Policy, SideView
from sync_core.exchange.errors import GraphError
from sync_core.pipeline import reads, unlinked_base
from sync_core.pipeline.facts import facts_of
from sync_core.pipeline.poll_schedule import note_todo_side_read
from sync_core.pipeline.valve import check_deletions
from sync_core.runtime import owner
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.kind import FnoItem, GraphItem, Kind
from sync_core.runtime.messages import SyncPair
from sync_core.runtime.report import PlannedAction
from sync_core.state.base import PENDING, AuditEntry, ConcurrencyError, Link
from sync_core.telemetry import pair_applied

log = logging.getLogger(__name__)


async def sync_pair(ctx: SyncContext, message: SyncPair) -> ActionKind:
    """Sync one pair. The side the feed did not report may be assumed from the link's snapshot
    (pipeline/reads.py); when that turns out wrong (the decision needs more, or the conditional write is
    refused) the pair is synced once more with both sides read."""
    kind = ctx.kinds[message.kind]
    mailbox = await ctx.mailbox(message.mailbox)
    if mailbox is None:
        return ActionKind.NOTHING
    for assume in (True, False) if ctx.settings.write_without_read else (False,):
        action = await _sync_once(ctx, kind, mailbox, message, assume=assume)
        if action is not None:
            return action
    raise AssertionError("a pair read on both sides is never read again")


async def _sync_once(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    message: SyncPair,
    *,
    assume: bool,
) -> ActionKind | None:
    """Read, decide, apply, save. None: an assumed side turned out wrong, read both sides and start again."""
    store = ctx.store
    link: Link | None = None
    if message.fno_key:
        link = await store.get_link_by_fno(kind.name, mailbox.address, message.fno_key)
    if link is None and message.graph_id:
        link = await store.get_link_by_graph(kind.name, mailbox.address, message.graph_id)
    sides = await reads.read_sides(ctx, kind, mailbox, message, link, assume=assume)
    if sides is None:
        return ActionKind.NOTHING
    fno, graph = sides.fno, sides.graph
    if not message.graph_id and not reads.is_assumed(graph):
        # An F&O change's job read the To Do side: changed there meanwhile, To Do is polled often again.
        await note_todo_side_read(ctx, kind.name, mailbox.address, link, graph)

    settled = link is not None and not link.is_claim
    if not settled:
        # No link yet (or a claim left by a crash or a lost answer): the partner may exist already, found
        # by our stamp or by what points at it (the activity's OutlookEntryId, a linkedResource).
        if fno is not None and graph is None:
            graph = await kind.partners.find_graph_partner(ctx, mailbox, fno)
        elif graph is not None and fno is None:
            fno = await kind.partners.find_fno_partner(ctx, mailbox, graph)
        claim = await _claim_of_this_pair(ctx, kind, mailbox, link, fno, graph)
        if claim is not None:
            link = claim  # a create whose outcome was not known: resolved by what both sides hold
        elif await _linked_elsewhere(ctx, kind, mailbox, link, fno, graph):
            return ActionKind.NOTHING

    fno_view, graph_view = await reads.views(ctx, kind, mailbox, link, fno, graph)
    if not settled and would_create(fno_view, graph_view) is not None:
        # Before creating anything: the partner may exist unlinked (first run on existing data).
        matched = await _match_partner(ctx, kind, mailbox, fno, graph)
        if matched is not None:
            fno, graph = matched
            fno_view, graph_view = await reads.views(ctx, kind, mailbox, link, fno, graph)
    decision = decide(
        snapshot=link.snapshot if settled and link is not None else None,
        fno=fno_view,
        graph=graph_view,
        policy=Policy(ctx.settings.conflict_policy.value),
        deletion_rule=kind.rules.deletion_rule,
        now=ctx.now(),
        mailbox_is_organizer=(
            kind.mapping.is_organizer(graph) if graph else (link.organizer if link else True)
        ),
        groups=kind.rules.merge_groups,
        facts=replace(
            facts_of(ctx, kind.rules, message, link, fno, graph, fno_view, graph_view),
            relink_base=await _relink_base(
                ctx, kind, mailbox, link, fno, graph, marked=fno_view.marked or graph_view.marked
            ),
        ),
    )
    if not reads.assumption_holds(kind.rules, decision, fno, graph):
        return None
    if decision.untouched:
        log.info("pair left as it is", extra={"kind": kind.name, "reason": decision.reason})
        return decision.action
    if decision.action is ActionKind.NOTHING:
        if settled and link is not None:
            ctx.report.count_unchanged(kind.name, mailbox.address, link.fno_key)
            await _remember_versions(ctx, link, fno, graph)
        elif link is not None and not ctx.dry_run:
            await _settle_orphaned_claim(ctx, kind, mailbox, link, message.cycle_id, fno, graph)
        return decision.action

    if ctx.dry_run:
        ctx.report.planned.append(
            PlannedAction(
                kind.name,
                mailbox.address,
                decision.action.value,
                fno.key if fno else (link.fno_key if link else message.fno_key),
                graph.id if graph else (link.graph_id if link else message.graph_id),
                decision.reason,
            )
        )
        return decision.action
    if decision.action in (ActionKind.CREATE_IN_GRAPH, ActionKind.CREATE_IN_FNO) and link is not None:
        _wait_for_earlier_create(ctx, link)  # our own earlier claim: its create may still show up
    try:
        await _apply(ctx, kind, mailbox, link, fno, graph, fno_view, graph_view, decision, message.cycle_id)
    except Exception as exc:
        if not (reads.is_assumed(fno) or reads.is_assumed(graph)) or not reads.is_stale_write(exc):
            raise
        # The conditional write was refused (nothing written): the side changed since the last sync, or
        # the service does not take the condition. Either way: read it, decide again, write unconditioned.
        log.info(
            "conditional write refused; reading the side",
            extra={"kind": kind.name, "status": getattr(exc, "status", 0)},
        )
        return None
    pair_applied(ctx, kind.name, mailbox.address, decision, fno_view, graph_view)
    return decision.action


async def _match_partner(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    fno: FnoItem | None,
    graph: GraphItem | None,
) -> tuple[FnoItem | None, GraphItem | None] | None:
    """First-run matching by the kind's strict key (`match_graph_partners` and `match_fno_partners`, candidates
    best first; none for a kind without matching); a candidate already linked to something else is skipped."""
    store = ctx.store
    if fno is not None and graph is None:
        for candidate in await kind.matching.match_graph_partners(ctx, mailbox, fno):
            if await store.get_link_by_graph(kind.name, mailbox.address, candidate.id) is None:
                return fno, candidate
    elif graph is not None and fno is None:
        for item in await kind.matching.match_fno_partners(ctx, mailbox, graph):
            if await store.get_link_by_fno(kind.name, mailbox.address, item.key) is None:
                return item, graph
    return None


async def _linked_elsewhere(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    link: Link | None,
    fno: FnoItem | None,
    graph: GraphItem | None,
) -> bool:
    """A partner found by stamp that already belongs to another link: this message is stale."""
    store = ctx.store
    if fno is not None:
        other = await store.get_link_by_fno(kind.name, mailbox.address, fno.key)
        if other is not None and (link is None or other.etag != link.etag):
            return True
    if graph is not None:
        other = await store.get_link_by_graph(kind.name, mailbox.address, graph.id)
        if other is not None and (link is None or other.etag != link.etag):
            return True
    return False


def _relinking(link: Link | None, fno: FnoItem | None, graph: GraphItem | None) -> bool:
    """A pair with no link whose Exchange item carries our stamp of this F&O record: linked before, then
    unlinked (an unmark), now found again (pipeline/unlinked_base.py)."""
    return link is None and fno is not None and graph is not None and graph.stamp == fno.key


async def _relink_base(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    link: Link | None,
    fno: FnoItem | None,
    graph: GraphItem | None,
    *,
    marked: bool,
) -> dict[str, Any]:
    """The record of this pair's last unlink, read only when it is being linked again (rare): marked again
    on either side."""
    if not marked or not _relinking(link, fno, graph):
        return {}
    assert fno is not None and graph is not None
    follows = kind.rules.unlink_record_follows_stamp
    found = await unlinked_base.recall(ctx, kind.name, mailbox.address, fno.key, graph.id, any_item=follows)
    return dict(found or {})


async def _apply(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    link: Link | None,
    fno: FnoItem | None,
    graph: GraphItem | None,
    fno_view: SideView,
    graph_view: SideView,
    decision: Decision,
    cycle_id: str,
) -> None:
    action = decision.action
    report = ctx.report
    if action is ActionKind.CREATE_IN_GRAPH:
        assert fno is not None and decision.snapshot is not None
        link = await _claim(
            ctx,
            kind.name,
            mailbox.address,
            link,
            fno_key=fno.key,
            graph_id=PENDING + fno.key,
            record=decision.snapshot,
        )
        with owner.creating(_claim_key(link)):
            async with _unclaimed_if_refused(ctx, link, GraphError):
                graph = await kind.writes.create_in_graph(ctx, mailbox, fno, decision.snapshot)
        await _save(ctx, kind, mailbox.address, link, fno, graph, decision.snapshot)
        report.count(kind.name, "to_exchange", "created")
    elif action is ActionKind.CREATE_IN_FNO:
        assert graph is not None and decision.snapshot is not None
        link = await _claim(
            ctx,
            kind.name,
            mailbox.address,
            link,
            fno_key=PENDING + graph.id,
            graph_id=graph.id,
            record=decision.snapshot,
        )
        with owner.creating(_claim_key(link)):
            async with _unclaimed_if_refused(ctx, link, FnoError):
                fno = await kind.writes.create_in_fno(ctx, mailbox, graph, decision.snapshot)
        await _save(ctx, kind, mailbox.address, link, fno, graph, decision.snapshot)
        report.count(kind.name, "to_fno", "created")
    elif action in (ActionKind.UPDATE, ActionKind.LINK):
        assert fno is not None and graph is not None and decision.snapshot is not None
        fno_version, graph_version = fno.version, graph.version
        if link is not None and link.is_claim and graph.stamp != fno.key:
            # The last step of a create from Exchange whose answer was lost: stamp the item now.
            await kind.writes.stamp_graph(ctx, mailbox, graph, fno.key)
        snapshot = dict(decision.snapshot)
        write_fno = dict(decision.write_fno)  # with what the write to Exchange changes by itself (engine)
        if decision.write_graph:
            graph_version = await kind.writes.update_graph(
                ctx, mailbox, graph, decision.write_graph, snapshot
            )
            report.count(kind.name, "to_exchange", "updated")
        if write_fno:
            fno_version = await kind.writes.update_fno(ctx, mailbox, fno, write_fno, snapshot) or fno.version
            report.count(kind.name, "to_fno", "updated")
        # Linking a pair the user re-marked on one side marks the other side again.
        if decision.mark_graph and "categories" not in decision.write_graph:
            await kind.graph_side.set_mark(ctx, mailbox, graph, True)
        if decision.mark_fno:
            await kind.fno_side.set_mark(ctx, fno.key, True, mailbox=mailbox)
        if decision.mark_graph or decision.mark_fno:
            report.count(kind.name, "to_exchange" if decision.mark_graph else "to_fno", "updated")
        elif not decision.write_graph and not write_fno:
            report.count_unchanged(kind.name, mailbox.address, fno.key)
        # After a write to F&O the row's new etag is unknown (F&O answers 204) until the feed reads it.
        written_fno = bool(write_fno) or decision.mark_fno
        await _save(
            ctx,
            kind,
            mailbox.address,
            link,
            fno,
            graph,
            snapshot,
            versions=(fno_version, graph_version),
            fno_etag="" if written_fno else None,
        )
        if action is ActionKind.LINK and _relinking(link, fno, graph):
            await unlinked_base.drop(ctx, kind.name, mailbox.address, fno.key)  # linked again: used up
    elif action is ActionKind.DELETE_IN_GRAPH:
        if graph is not None:
            await kind.graph_side.delete(ctx, mailbox, graph.id)
        await _drop(ctx, link)
        report.count(kind.name, "to_exchange", "deleted")
    elif action is ActionKind.DELETE_IN_FNO:
        if fno is not None:
            await kind.fno_side.delete(ctx, fno.key, mailbox=mailbox)
        await _drop(ctx, link)
        report.count(kind.name, "to_fno", "deleted")
    elif action is ActionKind.UNLINK:
        if decision.write_fno and fno is not None:
            # The Exchange item goes with its unmark: its edits first (engine, `graph_unmark_removes`).
            record = {**(fno_view.record or {}), **decision.write_fno}
            await kind.writes.update_fno(ctx, mailbox, fno, decision.write_fno, record)
            report.count(kind.name, "to_fno", "updated")
        # The engine unmarks only a side it saw marked (tests/engine/test_facts_properties.py).
        if decision.unmark_graph and graph is not None:
            await kind.graph_side.set_mark(ctx, mailbox, graph, False)
        if decision.unmark_fno and fno is not None:
            await kind.fno_side.set_mark(ctx, fno.key, False, mailbox=mailbox)
        if link is not None and fno is not None and graph is not None:
            # Both sides stay: marking one again links them again. Kept under the partner as read (a To Do
            # task moved to another list has a new id the link may not have followed yet).
            await unlinked_base.remember(ctx, link.model_copy(update={"graph_id": graph.id}))
        await _drop(ctx, link)
        report.count(kind.name, "to_exchange" if decision.unmark_graph else "to_fno", "unlinked")
    elif action is ActionKind.FORGET:
        await _drop(ctx, link)
    report.conflicts += len(decision.conflicts)
    latency = pair_latency(decision, fno_view, graph_view, ctx.now())
    await _audit(ctx, kind.name, mailbox.address, fno, graph, link, decision, latency, cycle_id)


async def _claim(
    ctx: SyncContext,
    kind: str,
    mailbox: str,
    link: Link | None,
    *,
    fno_key: str,
    graph_id: str,
    record: Mapping[str, Any],
) -> Link:
    """Insert-only pending link: of two workers about to create the same item, one gets ConcurrencyError."""
    if link is not None:
        return link  # our own earlier claim (a crash left it): the partner search above found nothing
    # synced_at of a claim: when the create was first attempted (see _wait_for_earlier_create).
    # Its snapshot is the record sent: finishing the create later tells edits made since from it.
    claim = Link(
        kind=kind,
        mailbox=mailbox,
        fno_key=fno_key,
        graph_id=graph_id,
        synced_at=ctx.now(),
        snapshot=dict(record),
        owner=owner.this_process(),
    )
    return await ctx.store.save_link(claim)


def _claim_key(claim: Link) -> str:
    return "|".join((claim.kind, claim.mailbox, claim.fno_key, claim.graph_id))


class CreateOutcomeUnknown(Exception):
    """An earlier create of this pair got no answer and what it made is not visible (yet): creating again
    could make a second item. Transient: the pair is tried again later (pipeline/retry.py)."""


def _wait_for_earlier_create(ctx: SyncContext, claim: Link) -> None:
    """A claim left by an earlier attempt whose partner was not found: that create failed for sure, was
    never sent (a crash just after claiming), or was applied and is not visible yet (an answer that came
    too late, a long transaction). Create again only once the last case has had time to show itself."""
    started = claim.synced_at
    configured = timedelta(seconds=ctx.settings.create_outcome_wait_seconds)
    # A create its owner is still running is not "unknown" yet: it is in progress.
    wait = owner.wait_for(claim.owner, _claim_key(claim), configured)
    if started is not None and ctx.now() - reads.utc(started) < wait:
        raise CreateOutcomeUnknown(
            "an earlier create of this item got no answer and its result is not visible yet;"
            " it is looked for again before anything is created"
        )


@contextlib.asynccontextmanager
async def _unclaimed_if_refused(
    ctx: SyncContext, claim: Link, service_error: type[GraphError] | type[FnoError]
) -> AsyncIterator[None]:
    """A create the service it goes to refused for certain (a 4xx answer, 429 and 503 included: nothing was
    made) gives up its claim, so the next attempt does not wait for an outcome that is already known. Any
    other failure (no answer, a timeout, 502/504 from a gateway, a crash, or a later step of the create
    failing) keeps the claim: the item may exist, and the next attempt looks for it first."""
    try:
        yield
    except (GraphError, FnoError) as exc:
        refused = (400 <= exc.status < 500 and exc.status not in (408, 409, 412)) or exc.status == 503
        if refused and isinstance(exc, service_error):
            await _give_up_claim(ctx, claim)
        raise
    except (ValueError, KeyError, TypeError):
        # The item cannot be made as it is (a company F&O does not know, a field it cannot take): the
        # kind found that out before sending anything.
        await _give_up_claim(ctx, claim)
        raise


async def _give_up_claim(ctx: SyncContext, claim: Link) -> None:
    with contextlib.suppress(ConcurrencyError):
        await ctx.store.delete_link(claim)


async def _claim_of_this_pair(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    link: Link | None,
    fno: FnoItem | None,
    graph: GraphItem | None,
) -> Link | None:
    """The claim an earlier create of exactly this pair left (the partner found is the item that create
    made): the pair job takes it over instead of counting the partner as linked elsewhere."""
    if link is not None or fno is None or graph is None:
        return None
    store = ctx.store
    by_graph = await store.get_link_by_graph(kind.name, mailbox.address, graph.id)
    if by_graph is not None and by_graph.claimed_side == "fno":
        return by_graph  # created in F&O from this Outlook item
    by_fno = await store.get_link_by_fno(kind.name, mailbox.address, fno.key)
    if by_fno is not None and by_fno.claimed_side == "graph":
        return by_fno  # created in Outlook from this F&O record
    return None


async def _settle_orphaned_claim(
    ctx: SyncContext,
    kind: Kind,
    mailbox: Mailbox,
    claim: Link,
    cycle_id: str,
    fno: FnoItem | None,
    graph: GraphItem | None,
) -> None:
    """A claim whose item no longer wants syncing, typically because the item the create was made from
    was deleted before the create was finished (a crash, a lost answer). If the create did make the item
    on the other side, the pair becomes a link and the deletion goes through the deletion check and its
    safety valve like any other; if it made nothing, the claim just goes."""
    made: FnoItem | GraphItem | None = None
    if claim.claimed_side == "fno" and graph is None:
        made = await kind.partners.find_fno_partner(
            ctx, mailbox, GraphItem(id=claim.graph_id, item={}, version="", stamp=None)
        )
    elif claim.claimed_side == "graph" and fno is None:
        made = await kind.partners.find_graph_partner(
            ctx, mailbox, FnoItem(key=claim.fno_key, row={}, version="", extra={})
        )
    view = None
    if isinstance(made, FnoItem):
        view = await kind.mapping.fno_view(ctx, mailbox, made)
    elif isinstance(made, GraphItem):
        view = await kind.mapping.graph_view(ctx, mailbox, made)
    if made is None or view is None or view.record is None:
        await ctx.store.delete_link(claim)  # nothing was made: the claim has nothing left to guard
        return
    fno_key = made.key if isinstance(made, FnoItem) else claim.fno_key
    graph_id = made.id if isinstance(made, GraphItem) else claim.graph_id
    link = Link(
        kind=kind.name,
        mailbox=mailbox.address,
        fno_key=fno_key,
        graph_id=graph_id,
        fno_version=made.version if isinstance(made, FnoItem) else "",
        graph_version=made.version if isinstance(made, GraphItem) else "",
        snapshot=dict(view.record),
        snapshot_hash=kind.mapping.content_hash(view.record),
        synced_at=ctx.now(),
        organizer=kind.mapping.is_organizer(made) if isinstance(made, GraphItem) else True,
        etag=claim.etag,
    )
    await ctx.store.save_link(link)
    log.info(
        "unfinished create whose source is gone: linked for the deletion check", extra={"kind": kind.name}
    )
    if isinstance(made, FnoItem):
        # The Outlook item is gone: the mailbox's deletion check counts it and, valve permitting, queues
        # the deletion. (An F&O record that is gone is found by the check's own comparison of F&O keys.)
        await check_deletions(ctx, kind, mailbox, {graph_id}, cycle_id)


async def _save(
    ctx: SyncContext,
    kind: Kind,
    mailbox: str,
    link: Link | None,
    fno: FnoItem,
    graph: GraphItem,
    snapshot: Mapping[str, Any],
    *,
    versions: tuple[str, str] | None = None,
    fno_etag: str | None = None,
) -> None:
    fno_version, graph_version = versions or (fno.version, graph.version)
    record = Link(
        kind=kind.name,
        mailbox=mailbox,
        fno_key=fno.key,
        graph_id=graph.id,
        fno_version=fno_version,
        graph_version=graph_version,
        fno_etag=reads.fno_etag(fno) if fno_etag is None else fno_etag,
        snapshot=dict(snapshot),
        snapshot_hash=kind.mapping.content_hash(snapshot),
        synced_at=ctx.now(),
        organizer=kind.mapping.is_organizer(graph),
        etag=link.etag if link else None,
    )
    if link is not None and record.model_dump(exclude={"etag", "synced_at"}) == link.model_dump(
        exclude={"etag", "synced_at"}
    ):
        return  # nothing new to remember: no state write
    await ctx.store.save_link(record)


async def _remember_versions(
    ctx: SyncContext, link: Link, fno: FnoItem | None, graph: GraphItem | None
) -> None:
    """Both sides equal the snapshot at their current versions (typically after our own writes moved
    them): remember the versions, so the feeds can skip this pair until one side really changes."""
    if ctx.dry_run or fno is None or graph is None or not fno.version or not graph.version:
        return
    etag = reads.fno_etag(fno) or link.fno_etag
    if (fno.version, graph.version, etag) == (link.fno_version, link.graph_version, link.fno_etag):
        return
    # Another worker may have saved this pair meanwhile; its versions are as good.
    with contextlib.suppress(ConcurrencyError):
        await ctx.store.save_link(
            link.model_copy(
                update={
                    "fno_version": fno.version,
                    "graph_version": graph.version,
                    "fno_etag": etag,
                    "synced_at": ctx.now(),
                }
            )
        )


async def _drop(ctx: SyncContext, link: Link | None) -> None:
    if link is not None:
        await ctx.store.delete_link(link)


async def _audit(
    ctx: SyncContext,
    kind: str,
    mailbox: str,
    fno: FnoItem | None,
    graph: GraphItem | None,
    link: Link | None,
    decision: Decision,
    latency: float | None,
    cycle_id: str,
) -> None:
    detail: dict[str, Any] = {"reason": decision.reason}
    if decision.write_fno:
        detail["fieldsToFno"] = sorted(decision.write_fno)
    if decision.write_graph:
        detail["fieldsToExchange"] = sorted(decision.write_graph)
    if decision.conflicts:
        # Both values are kept: the audit log is where an administrator sees what a conflict decided.
        detail["conflicts"] = [
            {
                "field": c.field,
                "fno": c.fno_value,
                "exchange": c.graph_value,
                "winner": c.winner,
                "why": c.reason,
            }
            for c in decision.conflicts
        ]
    await ctx.store.append_audit(
        AuditEntry(
            at=ctx.now(),
            kind=kind,
            mailbox=mailbox,
            fno_key=fno.key if fno else (link.fno_key if link else ""),
            graph_id=graph.id if graph else (link.graph_id if link else ""),
            action=decision.action.value,
            detail=detail,
            latency_s=latency,
            cycle_id=cycle_id,
        )
    )
