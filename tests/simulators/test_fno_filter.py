"""The `$filter` parser of the F&O stand-in, directly (fast, property-based); HTTP behaviour is in test_fno_http."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.fno.errors import ODataError
from simulators.fno.filter import compile_filter, fold_string, parse_key
from simulators.fno.schema import load_entities

ENTITIES = load_entities()
ACTIVITIES = ENTITIES["Activities"]
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@given(stored=TEXT, wanted=TEXT)
def test_an_escaped_literal_matches_only_itself(stored: str, wanted: str) -> None:
    predicate = compile_filter(f"Purpose eq {literal(wanted)}", ACTIVITIES)
    matched = predicate({"Purpose": stored})
    if "*" not in wanted:
        assert matched == (fold_string(stored) == fold_string(wanted))
    elif matched:
        assert all(part in fold_string(stored) for part in fold_string(wanted).split("*"))


@given(value=TEXT)
def test_key_literals_round_trip(value: str) -> None:
    key = parse_key(f"dataAreaId='usmf',ContactPersonId={literal(value)}", ENTITIES["ContactPersons"])
    assert key == {"dataAreaId": "usmf", "ContactPersonId": value}


@pytest.mark.parametrize(
    ("expression", "record", "expected"),
    [
        ("Purpose eq 'a' or Purpose eq 'b' and Location eq 'x'", {"Purpose": "a", "Location": "y"}, True),
        ("(Purpose eq 'a' or Purpose eq 'b') and Location eq 'x'", {"Purpose": "a", "Location": "y"}, False),
        ("not (Purpose eq 'a')", {"Purpose": "A"}, False),
        ("Purpose eq Location", {"Purpose": "Same", "Location": "same "}, True),
        ("ActualWork ge 1.5 and ActualWork lt 2", {"ActualWork": 1.5}, True),
        ("ReminderMinutes eq -5", {"ReminderMinutes": -5}, True),
        ("Purpose eq null", {"Purpose": None}, True),
        ("Purpose ne null", {"Purpose": None}, False),
        ("Purpose gt null", {"Purpose": "a"}, False),
    ],
)
def test_precedence_and_values(expression: str, record: dict[str, Any], expected: bool) -> None:
    assert compile_filter(expression, ACTIVITIES)(record) is expected


def test_errors_carry_the_odata_shape() -> None:
    with pytest.raises(ODataError) as caught:
        compile_filter("Purpose in ('a')", ACTIVITIES)
    error = caught.value
    assert error.status == 400
    assert error.body()["error"]["innererror"]["message"] == "The operator 'in' is not supported."
