"""Hypothesis: the rules that come in as PairFacts hold for every combination of inputs, and deciding again
after the decision was applied still gives NOTHING."""

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_core.engine import ActionKind, DeletionContext, PairFacts, SideView, decide, is_deletion
from sync_core.engine.merge import records_equal
from sync_core.engine.rules import task_deletion_rule
from sync_core.engine.types import Side
from tests.engine.helpers import apply
from tests.engine.test_decide_properties import inputs, records

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CREATES = (ActionKind.CREATE_IN_GRAPH, ActionKind.CREATE_IN_FNO)


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], PairFacts]:
    args = draw(inputs)
    fno, graph = args["fno"], args["graph"]
    created: Side | None = None
    if args["snapshot"] is None and fno.present and graph.present:
        # Finishing a create of ours: the created item carries the mark as the create made it.
        created = draw(st.sampled_from([None, "fno", "graph"]))  # type: ignore[arg-type]
        if created == "fno":
            args["fno"] = replace(fno, marked=True)
        elif created == "graph":
            args["graph"] = replace(graph, marked=True)
    facts = PairFacts(
        deletion_held=draw(st.booleans()),
        create_in_scope=draw(st.booleans()),
        may_create_in_graph=draw(st.booleans()),
        graph_protected=draw(st.booleans()),
        fno_names_graph=draw(st.booleans()),
        has_link=created is not None or draw(st.booleans()),
        graph_stamped=draw(st.booleans()),
        created_side=created,
        sent_record=draw(st.one_of(st.just({}), records)) if created else {},
        finished_after_create=draw(st.sampled_from([frozenset(), frozenset({"categories"})])),
        graph_write_effects=draw(st.sampled_from([{}, {"reminder_minutes": 15}, {"is_all_day": True}])),
    )
    return args, facts


def _applied(
    decision: Any, facts: PairFacts, snapshot: Mapping[str, Any] | None, fno: SideView, graph: SideView
) -> tuple[Mapping[str, Any] | None, SideView, SideView]:
    """As the pair job would leave both sides: a write to Exchange also changes what it changes by itself."""
    new_snapshot, new_fno, new_graph = apply(decision, snapshot, fno, graph)
    if decision.write_graph and decision.action in (ActionKind.UPDATE, ActionKind.LINK):
        new_graph = replace(new_graph, record={**(new_graph.record or {}), **facts.graph_write_effects})
    return new_snapshot, new_fno, new_graph


@settings(max_examples=1000)
@given(cases())
def test_the_verdict_keeps_every_rule(case: tuple[dict[str, Any], PairFacts]) -> None:
    args, facts = case
    decision = decide(**args, facts=facts)
    fno, graph = args["fno"], args["graph"]
    if facts.deletion_held:
        assert not is_deletion(decision, fno, graph), "a held deletion is never applied"
    if not facts.create_in_scope:
        assert decision.action not in CREATES, "not in scope never creates"
    if not facts.may_create_in_graph:
        assert decision.action is not ActionKind.CREATE_IN_GRAPH
    if facts.graph_protected and graph.present and args["snapshot"] is None and not facts.sent_record:
        assert not decision.write_graph, "a protected Exchange item is never written when linking"
    assert not decision.unmark_fno or fno.marked, "only a marked side is unmarked"
    assert not decision.unmark_graph or graph.marked, "only a marked side is unmarked"
    if decision.untouched:
        assert decision.action is ActionKind.NOTHING and decision.snapshot is None
    if decision.write_graph and decision.action in (ActionKind.UPDATE, ActionKind.LINK):
        assert decision.snapshot is not None
        assert all(decision.snapshot.get(k) == v for k, v in facts.graph_write_effects.items())


@settings(max_examples=1000)
@given(cases())
def test_deciding_again_after_applying_gives_nothing(case: tuple[dict[str, Any], PairFacts]) -> None:
    args, facts = case
    decision = decide(**args, facts=facts)
    new_snapshot, new_fno, new_graph = _applied(decision, facts, args["snapshot"], args["fno"], args["graph"])
    if decision.snapshot is not None:
        assert new_fno.record is not None and new_graph.record is not None
        assert records_equal(new_fno.record, decision.snapshot)
        assert records_equal(new_graph.record, decision.snapshot)
    # The next run finds the link the decision saved (a finished create is a link now).
    later = replace(
        facts, created_side=None, sent_record={}, has_link=new_snapshot is not None or facts.has_link
    )
    again = decide(**{**args, "snapshot": new_snapshot, "fno": new_fno, "graph": new_graph}, facts=later)
    assert again.action is ActionKind.NOTHING, (decision, again)


@given(records, st.sampled_from(["notStarted", "inProgress", "completed"]), st.sampled_from(["fno", "graph"]))
def test_a_task_completed_since_the_last_sync_is_never_deleted(
    snapshot: dict[str, Any], survivor_status: str, deleted: Any
) -> None:
    context = DeletionContext(
        side_deleted=deleted,
        snapshot={**snapshot, "status": "notStarted"},
        now=NOW,
        mailbox_is_organizer=True,
        survivor={**snapshot, "status": survivor_status},
    )
    verdict = task_deletion_rule(context)
    assert verdict == ("unlink" if survivor_status == "completed" else "delete_partner")
