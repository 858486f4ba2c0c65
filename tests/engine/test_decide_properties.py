"""Hypothesis: decide() is total, convergent and idempotent over every combination of inputs."""

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_core.engine import ActionKind, DeletionContext, Policy, SideView, decide
from sync_core.engine.merge import records_equal, same
from tests.engine.helpers import apply

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# Small value domains so sides often agree, disagree and collide with the snapshot.
# Strings carry a "PII" marker so the test can check that reasons never repeat content.
_values: dict[str, st.SearchStrategy[Any]] = {
    "subject": st.sampled_from(["PII-a", "PII-b", ""]),
    "start": st.sampled_from(["2024-05-01T11:00:00Z", "2024-05-01T13:00:00Z"]),
    "end": st.sampled_from(["2024-05-01T13:00:00Z", "2024-05-02T13:00:00Z"]),
    "is_all_day": st.booleans(),
    "reminder_minutes": st.sampled_from([0, 15]),
    "categories": st.sampled_from([[], ["PII-x"], ["PII-x", "PII-y"]]),
}
records = st.fixed_dictionaries(_values)
times = st.one_of(st.none(), st.integers(-3, 3).map(lambda s: NOW + timedelta(seconds=s)))


@st.composite
def side_views(draw: st.DrawFn, *, with_record: bool = True) -> SideView:
    present = draw(st.booleans())
    record = draw(records) if present and with_record else draw(st.one_of(st.none(), records))
    return SideView(present=present, marked=draw(st.booleans()), record=record, modified_at=draw(times))


def _rule(verdict: Literal["delete_partner", "unlink"]):  # type: ignore[no-untyped-def]
    def rule(ctx: DeletionContext) -> Literal["delete_partner", "unlink"]:
        return verdict

    return rule


inputs = st.fixed_dictionaries(
    {
        "snapshot": st.one_of(st.none(), records),
        "fno": side_views(),
        "graph": side_views(),
        "policy": st.sampled_from(list(Policy)),
        "deletion_rule": st.sampled_from([_rule("delete_partner"), _rule("unlink")]),
        "now": st.just(NOW),
        "mailbox_is_organizer": st.booleans(),
    }
)


@settings(max_examples=500)
@given(
    st.one_of(st.none(), records),
    side_views(with_record=False),
    side_views(with_record=False),
    st.sampled_from(list(Policy)),
    st.booleans(),
)
def test_total(
    snapshot: Mapping[str, Any] | None, fno: SideView, graph: SideView, policy: Policy, organizer: bool
) -> None:
    decision = decide(
        snapshot=snapshot,
        fno=fno,
        graph=graph,
        policy=policy,
        deletion_rule=_rule("delete_partner"),
        now=NOW,
        mailbox_is_organizer=organizer,
    )
    assert isinstance(decision.action, ActionKind)
    assert "PII" not in decision.reason and all("PII" not in c.reason for c in decision.conflicts)


@settings(max_examples=1000)
@given(inputs)
def test_convergent_and_idempotent(args: dict[str, Any]) -> None:
    snapshot, fno, graph = args["snapshot"], args["fno"], args["graph"]
    decision = decide(**args)

    # Writes touch only fields whose value changes on that side.
    for side, writes in ((fno, decision.write_fno), (graph, decision.write_graph)):
        if side.present and decision.action not in (ActionKind.CREATE_IN_FNO, ActionKind.CREATE_IN_GRAPH):
            assert side.record is not None
            assert all(not same(side.record.get(key), value) for key, value in writes.items())

    new_snapshot, new_fno, new_graph = apply(decision, snapshot, fno, graph)
    if decision.snapshot is not None:
        # Convergence: after applying the writes both sides hold exactly the new snapshot.
        assert new_fno.present and new_graph.present
        assert new_fno.record is not None and new_graph.record is not None
        assert records_equal(new_fno.record, decision.snapshot)
        assert records_equal(new_graph.record, decision.snapshot)
    else:
        assert not decision.write_fno and not decision.write_graph
        assert decision.action in (
            ActionKind.NOTHING,
            ActionKind.DELETE_IN_FNO,
            ActionKind.DELETE_IN_GRAPH,
            ActionKind.UNLINK,
            ActionKind.FORGET,
        )

    again = decide(**{**args, "snapshot": new_snapshot, "fno": new_fno, "graph": new_graph})
    assert again.action is ActionKind.NOTHING, (decision, again)


@given(inputs)
def test_nothing_keeps_the_snapshot(args: dict[str, Any]) -> None:
    decision = decide(**args)
    if decision.action is ActionKind.NOTHING:
        assert decision.snapshot == args["snapshot"]
        assert not (
            decision.write_fno or decision.write_graph or decision.unmark_fno or decision.unmark_graph
        )


@given(inputs)
def test_linked_content_never_lost_without_a_conflict(args: dict[str, Any]) -> None:
    # A field changed on exactly one side always survives the merge.
    snapshot, fno, graph = args["snapshot"], args["fno"], args["graph"]
    decision = decide(**args)
    if decision.action is not ActionKind.UPDATE or snapshot is None:
        return
    assert decision.snapshot is not None and fno.record is not None and graph.record is not None
    conflicted = {c.field for c in decision.conflicts}
    for key in snapshot:
        fno_changed = not same(fno.record[key], snapshot[key])
        graph_changed = not same(graph.record[key], snapshot[key])
        if fno_changed and not graph_changed and key not in conflicted:
            assert same(decision.snapshot[key], fno.record[key])
        if graph_changed and not fno_changed and key not in conflicted:
            assert same(decision.snapshot[key], graph.record[key])


def test_exhaustive_small_space_and_volume() -> None:
    # Every side combination over two records, all policies and both rules; repeated for a
    # performance sanity check (not timed: ~20,000 decisions must simply finish).
    first = {key: "PII-1" for key in _values}
    second = {**first, "subject": "PII-2", "end": "PII-3"}
    sides = [
        SideView(present=False, marked=False),
        SideView(present=True, marked=False, record=first),
        SideView(present=True, marked=True, record=first, modified_at=NOW),
        SideView(present=True, marked=True, record=second),
        SideView(present=True, marked=True),  # present without a record
    ]
    cases = [
        {
            "snapshot": snapshot,
            "fno": fno,
            "graph": graph,
            "policy": policy,
            "deletion_rule": rule,
            "now": NOW,
            "mailbox_is_organizer": organizer,
        }
        for snapshot, fno, graph, policy, rule, organizer in itertools.product(
            [None, first, second],
            sides,
            sides,
            list(Policy),
            [_rule("delete_partner"), _rule("unlink")],
            [True, False],
        )
    ]
    actions = set()
    for _ in range(20):
        for case in cases:
            actions.add(decide(**case).action)
    assert actions == set(ActionKind)
