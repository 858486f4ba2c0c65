"""What to do with one pair: a pure function of the link snapshot, both sides' current state and the facts.

The shape follows the classic two-way sync (one status row per pair, decide from current state
only, never from the message that triggered the run), so replayed or reordered work is harmless:
deciding again after the decision was applied always gives NOTHING.

The verdict is final: scope, whether a create is allowed, whether a deletion may go ahead now, the
occurrence rule and what a write to Exchange changes by itself all come in as `PairFacts`, and the pair
job carries out what `decide` returns without changing it (docs/sync-rules.md, "How it decides").

Invariant (tested with Hypothesis): when every present side has a record, applying `write_fno`
and `write_graph` to the two records makes both equal to `snapshot`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sync_core.engine.merge import DEFAULT_GROUPS, records_equal, three_way_merge
from sync_core.engine.types import (
    ActionKind,
    Decision,
    DeletionContext,
    DeletionRule,
    PairFacts,
    Policy,
    Side,
    SideView,
)

NO_FACTS = PairFacts()


def decide(
    *,
    snapshot: Mapping[str, Any] | None,
    fno: SideView,
    graph: SideView,
    policy: Policy,
    deletion_rule: DeletionRule,
    now: datetime,
    mailbox_is_organizer: bool = True,
    groups: Sequence[Sequence[str]] = DEFAULT_GROUPS,
    facts: PairFacts = NO_FACTS,
) -> Decision:
    """Decide the action for one pair. `snapshot` is the last synced record (None: no settled link)."""
    if facts.created_side is not None:
        fno, graph, snapshot, policy = _finishing_create(facts, fno, graph, policy)
    if snapshot is None and _outlook_wins(facts):
        # Linking must not write to this Exchange item (a series occurrence would become an exception), or
        # the activity names it from an earlier sync (a predecessor's id, adopted): the item as its attendees
        # got it stays, F&O follows (a write of subject, time or attendees would send a meeting update).
        policy = Policy.EXCHANGE
    decision = _decide(
        snapshot, fno, graph, policy, deletion_rule, now, mailbox_is_organizer, groups, facts.relink_base
    )
    if decision.unmark_graph and facts.graph_unmark_removes and snapshot is not None:
        decision = _keep_edits_of_removed(decision, snapshot, fno, graph, policy, groups)
    return _verdict(decision, facts, fno, graph)


def _keep_edits_of_removed(
    decision: Decision,
    snapshot: Mapping[str, Any],
    fno: SideView,
    graph: SideView,
    policy: Policy,
    groups: Sequence[Sequence[str]],
) -> Decision:
    """The Exchange item goes with its unmark: what was edited in it since the last sync goes to F&O
    first, merged as a linked pair would be (a field F&O changed too is decided by the policy)."""
    if fno.record is None or graph.record is None:
        return decision
    result = _both_linked(snapshot, fno, graph, policy, groups)
    if not result.write_fno:
        return decision
    return replace(
        decision,
        write_fno=result.write_fno,
        conflicts=result.conflicts,
        reason=decision.reason + "; its Exchange edits written to F&O before it is removed",
    )


def would_create(fno: SideView, graph: SideView) -> Side | None:
    """The side an unlinked pair would be created from (exactly one side there, marked), before scope."""
    if fno.present == graph.present:
        return None
    source: Side = "fno" if fno.present else "graph"
    view = fno if fno.present else graph
    return source if view.marked and view.record is not None else None


def is_deletion(decision: Decision, fno: SideView, graph: SideView) -> bool:
    """A decision caused by one side of a linked pair vanishing (delete the partner, or unlink it)."""
    if decision.action in (ActionKind.DELETE_IN_GRAPH, ActionKind.DELETE_IN_FNO):
        return True
    return decision.action is ActionKind.UNLINK and (fno.present != graph.present)


def _finishing_create(
    facts: PairFacts, fno: SideView, graph: SideView, policy: Policy
) -> tuple[SideView, SideView, Mapping[str, Any] | None, Policy]:
    """A create of ours made the other side, the pair is not linked yet: finish it."""
    # The created item carries the mark as the create made it (a contact's list entry, say, is written
    # after the POST): finishing the create must not read a missing mark as an unmark.
    if facts.created_side == "fno":
        fno = replace(fno, marked=True)
    else:
        graph = replace(graph, marked=True)
    if not facts.sent_record:
        # A claim from before the record was kept: the side the create was made from wins.
        return fno, graph, None, Policy.EXCHANGE if facts.created_side == "fno" else Policy.D365
    # Three-way against the record the create sent: an edit made on either side since wins over the other
    # side's unchanged value, and what the create still had to write counts as unedited.
    sent = dict(facts.sent_record)
    created = (fno if facts.created_side == "fno" else graph).record
    if created is not None:
        for name in facts.finished_after_create:
            if name in created:
                sent[name] = created[name]
    return fno, graph, sent, policy


def _outlook_wins(facts: PairFacts) -> bool:
    """First link of an Exchange item that must not be written, or that the activity already names (only
    with no link or claim at all and no stamp of ours: finishing our own create keeps its three-way merge,
    so an F&O edit made meanwhile is not lost)."""
    return facts.graph_protected or (facts.fno_names_graph and not facts.has_link and not facts.graph_stamped)


def _verdict(decision: Decision, facts: PairFacts, fno: SideView, graph: SideView) -> Decision:
    """The rules that turn the two-way decision into the final one."""
    action = decision.action
    if facts.created_side is not None and action is ActionKind.NOTHING and decision.snapshot:
        # Nothing changed since the create was sent: what is left is to link (and stamp) the pair.
        return Decision(ActionKind.UPDATE, snapshot=decision.snapshot, reason="earlier create finished")
    if action in (ActionKind.CREATE_IN_GRAPH, ActionKind.CREATE_IN_FNO) and not facts.create_in_scope:
        return Decision(ActionKind.NOTHING, reason="not in scope", untouched=True)
    if action is ActionKind.CREATE_IN_GRAPH and not facts.may_create_in_graph:
        return Decision(ActionKind.NOTHING, reason="not created in Exchange by this kind", untouched=True)
    if facts.deletion_held and is_deletion(decision, fno, graph):
        # Deletions of a mailbox are counted together first (safety valve): the mailbox's deletion check
        # queues the pair again once the valve lets them through.
        return Decision(ActionKind.NOTHING, reason="deletion left to the deletion check", untouched=True)
    if action in (ActionKind.UPDATE, ActionKind.LINK) and decision.write_graph and facts.graph_write_effects:
        # Writing changes the Exchange item itself (an occurrence becomes an exception): F&O follows now
        # rather than one cycle later.
        effects = dict(facts.graph_write_effects)
        write_fno = {k: v for k, v in decision.write_fno.items() if k not in effects}
        write_fno.update({k: v for k, v in effects.items() if fno.record and fno.record.get(k) != v})
        return replace(decision, write_fno=write_fno, snapshot={**(decision.snapshot or {}), **effects})
    return decision


def _decide(
    snapshot: Mapping[str, Any] | None,
    fno: SideView,
    graph: SideView,
    policy: Policy,
    deletion_rule: DeletionRule,
    now: datetime,
    mailbox_is_organizer: bool,
    groups: Sequence[Sequence[str]],
    relink_base: Mapping[str, Any],
) -> Decision:
    """The two-way decision from both sides and the snapshot (or the record of the last unlink) alone."""
    if (fno.present and fno.record is None) or (graph.present and graph.record is None):
        # The pipeline reads before deciding; a present side without a record is its failure.
        return Decision(ActionKind.NOTHING, snapshot=snapshot, reason="present side has no record")
    if snapshot is None:
        return _unlinked(fno, graph, policy, groups, relink_base)
    if not fno.present and not graph.present:
        return Decision(ActionKind.FORGET, reason="both sides gone")
    if not fno.present or not graph.present:
        deleted: Side = "graph" if fno.present else "fno"
        return _one_side_gone(
            snapshot, deleted, fno if fno.present else graph, deletion_rule, now, mailbox_is_organizer
        )
    if not (fno.marked and graph.marked):
        return Decision(
            ActionKind.UNLINK,
            unmark_fno=fno.marked,
            unmark_graph=graph.marked,
            reason=_unmarked_reason(fno, graph),
        )
    return _both_linked(snapshot, fno, graph, policy, groups)


def _unlinked(
    fno: SideView,
    graph: SideView,
    policy: Policy,
    groups: Sequence[Sequence[str]],
    base: Mapping[str, Any],
) -> Decision:
    if fno.present and graph.present:
        if not (fno.marked or graph.marked):
            return Decision(ActionKind.NOTHING, reason="pair not marked")
        assert fno.record is not None and graph.record is not None
        # Found through the product's stamp: link, and re-mark a side the user had unmarked before. With
        # the record of the last unlink as base, only what changed since is carried across.
        result = three_way_merge(
            base or None,
            fno.record,
            graph.record,
            policy=policy,
            fno_modified=fno.modified_at,
            graph_modified=graph.modified_at,
            groups=groups,
        )
        return Decision(
            ActionKind.LINK,
            write_fno=result.write_fno,
            write_graph=result.write_graph,
            mark_fno=not fno.marked,
            mark_graph=not graph.marked,
            snapshot=result.merged,
            conflicts=result.conflicts,
            reason="partner found by stamp",
        )
    if fno.present and fno.marked:
        assert fno.record is not None
        record = dict(fno.record)
        return Decision(
            ActionKind.CREATE_IN_GRAPH, write_graph=record, snapshot=record, reason="marked in F&O"
        )
    if graph.present and graph.marked:
        assert graph.record is not None
        record = dict(graph.record)
        return Decision(
            ActionKind.CREATE_IN_FNO, write_fno=record, snapshot=record, reason="marked in Exchange"
        )
    if fno.present or graph.present:
        return Decision(ActionKind.NOTHING, reason="not marked")
    return Decision(ActionKind.NOTHING, reason="nothing on either side")


def _one_side_gone(
    snapshot: Mapping[str, Any],
    deleted: Side,
    survivor: SideView,
    deletion_rule: DeletionRule,
    now: datetime,
    mailbox_is_organizer: bool,
) -> Decision:
    survivor_side: Side = "fno" if deleted == "graph" else "graph"
    if not survivor.marked:
        return Decision(ActionKind.UNLINK, reason=f"deleted in {_name(deleted)}, partner already unmarked")
    verdict = deletion_rule(
        DeletionContext(
            side_deleted=deleted,
            snapshot=snapshot,
            now=now,
            mailbox_is_organizer=mailbox_is_organizer,
            survivor=survivor.record,
        )
    )
    if verdict == "delete_partner":
        action = ActionKind.DELETE_IN_GRAPH if deleted == "fno" else ActionKind.DELETE_IN_FNO
        return Decision(action, reason=f"deleted in {_name(deleted)}")
    return Decision(
        ActionKind.UNLINK,
        unmark_fno=survivor_side == "fno",
        unmark_graph=survivor_side == "graph",
        reason=f"deleted in {_name(deleted)}, deletion rule keeps partner",
    )


def _both_linked(
    snapshot: Mapping[str, Any],
    fno: SideView,
    graph: SideView,
    policy: Policy,
    groups: Sequence[Sequence[str]],
) -> Decision:
    assert fno.record is not None and graph.record is not None
    result = three_way_merge(
        snapshot,
        fno.record,
        graph.record,
        policy=policy,
        fno_modified=fno.modified_at,
        graph_modified=graph.modified_at,
        groups=groups,
    )
    if not result.write_fno and not result.write_graph:
        if records_equal(result.merged, snapshot):
            return Decision(ActionKind.NOTHING, snapshot=snapshot, reason="no content change")
        return Decision(ActionKind.UPDATE, snapshot=result.merged, reason="both sides already equal")
    targets = [
        name for name, writes in (("F&O", result.write_fno), ("Exchange", result.write_graph)) if writes
    ]
    return Decision(
        ActionKind.UPDATE,
        write_fno=result.write_fno,
        write_graph=result.write_graph,
        snapshot=result.merged,
        conflicts=result.conflicts,
        reason="update " + " and ".join(targets),
    )


def _unmarked_reason(fno: SideView, graph: SideView) -> str:
    if not fno.marked and not graph.marked:
        return "unmarked on both sides"
    return f"unmarked in {_name('graph' if fno.marked else 'fno')}"


def _name(side: Side) -> str:
    return "F&O" if side == "fno" else "Exchange"
