from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from sync_core.engine import (
    ActionKind,
    DeletionContext,
    Policy,
    SideView,
    appointment_deletion_rule,
    decide,
)
from sync_core.engine.types import ABSENT, Decision, PairFacts
from tests.engine.helpers import apply

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FUTURE = {
    "subject": "Review",
    "start": "2024-06-01T09:00:00Z",
    "end": "2024-06-01T10:00:00Z",
    "is_all_day": False,
    "location": "",
    "categories": [],
}
PAST = {**FUTURE, "start": "2024-04-01T09:00:00Z", "end": "2024-04-01T10:00:00Z"}


def _side(
    record: Mapping[str, Any] | None = FUTURE, marked: bool = True, at: datetime | None = NOW
) -> SideView:
    return SideView(present=True, marked=marked, record=record, modified_at=at)


def _decide(
    snapshot: Mapping[str, Any] | None,
    fno: SideView,
    graph: SideView,
    policy: Policy = Policy.NEWEST,
    organizer: bool = True,
) -> Decision:
    decision = decide(
        snapshot=snapshot,
        fno=fno,
        graph=graph,
        policy=policy,
        deletion_rule=appointment_deletion_rule,
        now=NOW,
        mailbox_is_organizer=organizer,
    )
    # Every decision is idempotent: once applied, deciding again does nothing.
    next_snapshot, next_fno, next_graph = apply(decision, snapshot, fno, graph)
    again = decide(
        snapshot=next_snapshot,
        fno=next_fno,
        graph=next_graph,
        policy=policy,
        deletion_rule=appointment_deletion_rule,
        now=NOW,
        mailbox_is_organizer=organizer,
    )
    assert again.action is ActionKind.NOTHING, (decision, again)
    return decision


def test_marked_in_fno_creates_in_graph() -> None:
    decision = _decide(None, _side(), ABSENT)
    assert decision.action is ActionKind.CREATE_IN_GRAPH
    assert decision.write_graph == FUTURE and decision.snapshot == FUTURE and decision.write_fno == {}


def test_marked_in_exchange_creates_in_fno() -> None:
    decision = _decide(None, ABSENT, _side())
    assert decision.action is ActionKind.CREATE_IN_FNO
    assert decision.write_fno == FUTURE and decision.snapshot == FUTURE


@pytest.mark.parametrize(
    ("fno", "graph"),
    [
        (_side(marked=False), ABSENT),
        (ABSENT, _side(marked=False)),
        (ABSENT, ABSENT),
        (_side(marked=False), _side(marked=False)),
    ],
)
def test_unmarked_and_unlinked_is_left_alone(fno: SideView, graph: SideView) -> None:
    decision = _decide(None, fno, graph)
    assert decision.action is ActionKind.NOTHING and decision.snapshot is None


def test_stamp_found_partner_is_linked_with_policy_merge() -> None:
    graph_record = {**FUTURE, "subject": "Review (moved)"}
    decision = _decide(None, _side(at=NOW), _side(graph_record, at=NOW + timedelta(minutes=1)))
    assert decision.action is ActionKind.LINK
    assert decision.write_fno == {"subject": "Review (moved)"} and decision.write_graph == {}
    assert [(c.field, c.winner) for c in decision.conflicts] == [("subject", "graph")]
    assert decision.snapshot == graph_record
    assert not (decision.mark_fno or decision.mark_graph)


def test_stamp_found_partner_with_one_side_remarked_links_and_marks_the_other() -> None:
    decision = _decide(None, _side(marked=True), _side(marked=False))
    assert decision.action is ActionKind.LINK
    assert (decision.mark_fno, decision.mark_graph) == (False, True)


def test_equal_content_with_moved_versions_writes_nothing() -> None:
    # Versions and times moved (our own write echoed back), content did not: no ping-pong.
    decision = _decide(FUTURE, _side(dict(FUTURE), at=NOW), _side(dict(FUTURE), at=NOW + timedelta(hours=1)))
    assert decision.action is ActionKind.NOTHING
    assert decision.snapshot == FUTURE and not decision.write_fno and not decision.write_graph


def test_change_in_fno_updates_graph_only_with_changed_fields() -> None:
    decision = _decide(FUTURE, _side({**FUTURE, "location": "Room 2"}), _side())
    assert decision.action is ActionKind.UPDATE
    assert decision.write_graph == {"location": "Room 2"} and decision.write_fno == {}
    assert decision.snapshot == {**FUTURE, "location": "Room 2"}


def test_changes_on_both_sides_merge_field_by_field() -> None:
    fno = _side({**FUTURE, "location": "Room 2"})
    graph = _side({**FUTURE, "subject": "Review v2"})
    decision = _decide(FUTURE, fno, graph)
    assert decision.action is ActionKind.UPDATE
    assert decision.write_fno == {"subject": "Review v2"}
    assert decision.write_graph == {"location": "Room 2"}
    assert decision.conflicts == ()


@pytest.mark.parametrize(
    ("policy", "winner"), [(Policy.NEWEST, "graph"), (Policy.D365, "fno"), (Policy.EXCHANGE, "graph")]
)
def test_conflicting_change_follows_policy(policy: Policy, winner: Literal["fno", "graph"]) -> None:
    fno = _side({**FUTURE, "subject": "F"}, at=NOW)
    graph = _side({**FUTURE, "subject": "G"}, at=NOW + timedelta(seconds=5))
    decision = _decide(FUTURE, fno, graph, policy)
    assert [c.winner for c in decision.conflicts] == [winner]
    assert decision.snapshot is not None and decision.snapshot["subject"] == ("F" if winner == "fno" else "G")


def test_same_change_on_both_sides_refreshes_the_snapshot_only() -> None:
    changed = {**FUTURE, "subject": "Both"}
    decision = _decide(FUTURE, _side(changed), _side(dict(changed)))
    assert decision.action is ActionKind.UPDATE
    assert (decision.write_fno, decision.write_graph, decision.snapshot) == ({}, {}, changed)


@pytest.mark.parametrize(
    ("fno_marked", "graph_marked", "unmark_fno", "unmark_graph"),
    [(False, True, False, True), (True, False, True, False), (False, False, False, False)],
)
def test_unmark_unlinks_and_mirrors(
    fno_marked: bool, graph_marked: bool, unmark_fno: bool, unmark_graph: bool
) -> None:
    decision = _decide(FUTURE, _side(marked=fno_marked), _side(marked=graph_marked))
    assert decision.action is ActionKind.UNLINK
    assert (decision.unmark_fno, decision.unmark_graph) == (unmark_fno, unmark_graph)
    assert decision.snapshot is None


@pytest.mark.parametrize(
    ("snapshot", "deleted", "organizer", "action"),
    [
        (FUTURE, "fno", True, ActionKind.DELETE_IN_GRAPH),
        (FUTURE, "graph", True, ActionKind.DELETE_IN_FNO),
        (FUTURE, "fno", False, ActionKind.UNLINK),
        (FUTURE, "graph", False, ActionKind.UNLINK),
        (PAST, "fno", True, ActionKind.UNLINK),
        (PAST, "graph", True, ActionKind.UNLINK),
    ],
)
def test_deletion(
    snapshot: dict[str, Any], deleted: Literal["fno", "graph"], organizer: bool, action: ActionKind
) -> None:
    fno = ABSENT if deleted == "fno" else _side(snapshot)
    graph = ABSENT if deleted == "graph" else _side(snapshot)
    decision = _decide(snapshot, fno, graph, organizer=organizer)
    assert decision.action is action and decision.snapshot is None
    if action is ActionKind.UNLINK:
        # The survivor is unmarked so it is not created again on the other side.
        assert (decision.unmark_fno, decision.unmark_graph) == (deleted == "graph", deleted == "fno")
    else:
        assert not (decision.unmark_fno or decision.unmark_graph)


def test_deletion_rule_gets_the_context() -> None:
    seen: list[DeletionContext] = []

    def rule(ctx: DeletionContext) -> Literal["delete_partner", "unlink"]:
        seen.append(ctx)
        return "unlink"

    decide(
        snapshot=FUTURE,
        fno=ABSENT,
        graph=_side(),
        policy=Policy.NEWEST,
        deletion_rule=rule,
        now=NOW,
        mailbox_is_organizer=False,
    )
    survivor = _side().record
    assert seen == [
        DeletionContext(
            side_deleted="fno", snapshot=FUTURE, now=NOW, mailbox_is_organizer=False, survivor=survivor
        )
    ]


def test_deleted_with_unmarked_survivor_unlinks_without_asking_the_rule() -> None:
    def rule(ctx: DeletionContext) -> Literal["delete_partner", "unlink"]:
        raise AssertionError("not consulted")

    decision = decide(
        snapshot=FUTURE,
        fno=ABSENT,
        graph=_side(marked=False),
        policy=Policy.NEWEST,
        deletion_rule=rule,
        now=NOW,
    )
    assert decision.action is ActionKind.UNLINK and not decision.unmark_graph


def test_both_gone_forgets_the_link() -> None:
    assert _decide(FUTURE, ABSENT, ABSENT).action is ActionKind.FORGET


def test_present_side_without_record_changes_nothing() -> None:
    decision = _decide(FUTURE, SideView(present=True, marked=True), _side())
    assert decision.action is ActionKind.NOTHING and decision.snapshot == FUTURE


def test_reasons_carry_no_content() -> None:
    secret = {**FUTURE, "subject": "Secret merger talk"}
    decisions = [
        _decide(None, _side(secret), ABSENT),
        _decide(FUTURE, _side(secret), _side()),
        _decide(None, _side(secret), _side()),
    ]
    assert all(
        "Secret" not in d.reason and "Secret" not in " ".join(c.reason for c in d.conflicts)
        for d in decisions
    )


@pytest.mark.parametrize("removes", [True, False])
def test_an_exchange_item_removed_by_its_unmark_gives_its_edits_to_f_and_o_first(removes: bool) -> None:
    """A contact leaves its list's folder when its person leaves the list (`graph_unmark_removes`): the
    edits made in it since the last sync go to F&O in the same decision. An event or task just loses its
    category and keeps its edits itself."""
    edited = {**FUTURE, "location": "Room 7"}
    fno_edit = {**FUTURE, "subject": "Review (F&O)"}
    decision = decide(
        snapshot=FUTURE,
        fno=_side(fno_edit, marked=False),
        graph=_side(edited),
        policy=Policy.NEWEST,
        deletion_rule=appointment_deletion_rule,
        now=NOW,
        facts=PairFacts(graph_unmark_removes=removes),
    )
    assert decision.action is ActionKind.UNLINK and decision.unmark_graph and decision.snapshot is None
    assert decision.write_fno == ({"location": "Room 7"} if removes else {})  # F&O's own edit stays
    assert not decision.write_graph
