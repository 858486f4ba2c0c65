from datetime import UTC, datetime, timedelta

import pytest

from sync_core.engine.merge import MergeResult, records_equal, same, three_way_merge
from sync_core.engine.types import Policy

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BASE = {"subject": "a", "location": "x", "start": "S0", "end": "E0", "is_all_day": False, "categories": ["c"]}


def _merge(
    base: dict[str, object] | None,
    fno: dict[str, object],
    graph: dict[str, object],
    policy: Policy = Policy.NEWEST,
    fno_modified: datetime | None = T0,
    graph_modified: datetime | None = T0,
) -> MergeResult:
    return three_way_merge(
        base, fno, graph, policy=policy, fno_modified=fno_modified, graph_modified=graph_modified
    )


def test_one_side_changed_takes_that_side() -> None:
    result = _merge(BASE, {**BASE, "subject": "b"}, {**BASE, "location": "y"})
    assert result.merged == {**BASE, "subject": "b", "location": "y"}
    assert result.write_fno == {"location": "y"}
    assert result.write_graph == {"subject": "b"}
    assert result.conflicts == ()


def test_same_change_on_both_sides_is_no_conflict_and_no_write() -> None:
    result = _merge(BASE, {**BASE, "subject": "b"}, {**BASE, "subject": "b"})
    assert (result.write_fno, result.write_graph, result.conflicts) == ({}, {}, ())
    assert result.merged["subject"] == "b"


@pytest.mark.parametrize(
    ("policy", "fno_modified", "graph_modified", "winner"),
    [
        (Policy.NEWEST, T0, T0 + timedelta(seconds=1), "graph"),
        (Policy.NEWEST, T0 + timedelta(seconds=1), T0, "fno"),
        (Policy.NEWEST, T0, T0, "fno"),  # tie: F&O, the system of record
        (Policy.NEWEST, None, T0, "graph"),
        (Policy.NEWEST, T0, None, "fno"),
        (Policy.NEWEST, None, None, "fno"),
        (Policy.NEWEST, T0.replace(tzinfo=None), T0 + timedelta(hours=1), "fno"),  # not comparable
        (Policy.D365, T0, T0 + timedelta(days=1), "fno"),
        (Policy.EXCHANGE, T0 + timedelta(days=1), T0, "graph"),
    ],
)
def test_conflict_policy(
    policy: Policy, fno_modified: datetime | None, graph_modified: datetime | None, winner: str
) -> None:
    result = _merge(
        BASE, {**BASE, "subject": "F"}, {**BASE, "subject": "G"}, policy, fno_modified, graph_modified
    )
    assert [(c.field, c.fno_value, c.graph_value, c.winner) for c in result.conflicts] == [
        ("subject", "F", "G", winner)
    ]
    assert result.merged["subject"] == ("F" if winner == "fno" else "G")
    assert "changed on both sides" in result.conflicts[0].reason


def test_first_link_differences_are_conflicts() -> None:
    result = _merge(None, {**BASE, "subject": "F"}, {**BASE, "subject": "G"}, Policy.EXCHANGE)
    assert [c.field for c in result.conflicts] == ["subject"]
    assert result.write_fno == {"subject": "G"} and result.write_graph == {}
    assert result.conflicts[0].reason.startswith("first link")


def test_time_fields_merge_as_one_unit() -> None:
    fno = {**BASE, "start": "S1", "end": "E1"}  # moved
    graph = {**BASE, "end": "E2"}  # lengthened
    result = _merge(BASE, fno, graph, Policy.EXCHANGE)
    assert (result.merged["start"], result.merged["end"]) == ("S0", "E2")  # never S1 with E2
    assert {c.field for c in result.conflicts} == {"start", "end"}
    assert result.write_fno == {"start": "S0", "end": "E2"}


def test_time_unit_changed_on_one_side_only() -> None:
    result = _merge(BASE, {**BASE, "is_all_day": True}, {**BASE, "subject": "b"})
    assert result.merged["is_all_day"] is True and result.conflicts == ()
    assert result.write_graph == {"is_all_day": True}


def test_json_equality() -> None:
    assert same(("a",), ["a"])
    assert not same(True, 1)
    assert same(float("nan"), float("nan"))
    assert records_equal({"a": None}, {})
    assert not records_equal({"a": 0}, {})
