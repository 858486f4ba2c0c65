"""What to do with one pair: a pure function of the link snapshot and both sides' current state.

The shape follows the classic two-way sync (one status row per pair, decide from current state
only, never from the message that triggered the run), so replayed or reordered work is harmless:
deciding again after the decision was applied always gives NOTHING.

Invariant (tested with Hypothesis): when every present side has a record, applying `write_fno`
and `write_graph` to the two records makes both equal to `snapshot`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sync_core.engine.merge import DEFAULT_GROUPS, records_equal, three_way_merge
from sync_core.engine.types import (
    ActionKind,
    Decision,
    DeletionContext,
    DeletionRule,
    Policy,
    Side,
    SideView,
)


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
    relink_base: Mapping[str, Any] | None = None,
) -> Decision:
    """Decide the action for one pair. `snapshot` is the last synced record (None: no active link).
    `relink_base`: of a pair with no link, the record it had when it was last unlinked (an unmark), so
    linking it again merges three-way and an edit made on either side meanwhile is not lost."""
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
    base: Mapping[str, Any] | None,
) -> Decision:
    if fno.present and graph.present:
        if not (fno.marked or graph.marked):
            return Decision(ActionKind.NOTHING, reason="pair not marked")
        assert fno.record is not None and graph.record is not None
        # Found through the product's stamp: link, and re-mark a side the user had unmarked before. With
        # the record of the last unlink as base, only what changed since is carried across.
        result = three_way_merge(
            base,
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
            side_deleted=deleted, snapshot=snapshot, now=now, mailbox_is_organizer=mailbox_is_organizer
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
