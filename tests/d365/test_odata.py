"""Pure OData text builders: escaping, enums, datetimes, key segments, chunking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_core.d365.odata import (
    EnumValue,
    UnsafeLiteral,
    and_all,
    any_of,
    chunks,
    datetime_literal,
    enum_literal,
    exact_string_eq,
    filter_chunks,
    has_wildcard,
    is_safe_text,
    key_segment,
    matches_exactly,
    string_literal,
)

safe_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")))


def unescape(literal: str) -> str:
    """Reference OData string-literal reader: quotes around, `''` inside is one quote, a lone `'` is an error."""
    assert literal.startswith("'") and literal.endswith("'") and len(literal) >= 2
    body = literal[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] == "'":
            assert body[i + 1 : i + 2] == "'", "unescaped quote inside literal"
            out.append("'")
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


@given(safe_text)
def test_string_literal_round_trips(value: str) -> None:
    assert unescape(string_literal(value)) == value


@given(safe_text, safe_text)
def test_distinct_values_give_distinct_literals(a: str, b: str) -> None:
    assert (string_literal(a) == string_literal(b)) == (a == b)


def test_string_literal_escapes_quotes() -> None:
    assert string_literal("o'brien@example.com") == "'o''brien@example.com'"
    assert string_literal("") == "''"
    assert string_literal("'") == "''''"


@pytest.mark.parametrize("bad", ["a\x00b", "line\nbreak", "tab\t", "\r", "\x7f", "\ud800"])
def test_string_literal_rejects_control_characters(bad: str) -> None:
    assert not is_safe_text(bad)
    with pytest.raises(UnsafeLiteral):
        string_literal(bad)


def test_unicode_is_allowed() -> None:
    assert string_literal("jürgen.müller@exämple.de") == "'jürgen.müller@exämple.de'"
    assert is_safe_text("名前@例え.jp")


def test_exact_string_eq_and_wildcard_detection() -> None:
    assert exact_string_eq("PrimaryContactEmail", "a*b@x.com") == "PrimaryContactEmail eq 'a*b@x.com'"
    assert has_wildcard("a*b@x.com")
    assert not has_wildcard("ab@x.com")


@pytest.mark.parametrize("field", ["", "a b", "x eq 'y' or 1", "Name)", "1abc", "a/b"])
def test_field_names_must_be_identifiers(field: str) -> None:
    with pytest.raises(ValueError):
        exact_string_eq(field, "v")
    with pytest.raises(ValueError):
        any_of(field, ["v"])


def test_matches_exactly_undoes_wildcard_and_optional_case() -> None:
    assert matches_exactly("a*b@x.com", "a*b@x.com")
    assert not matches_exactly("aXXb@x.com", "a*b@x.com")
    assert not matches_exactly("A*B@x.com", "a*b@x.com")
    assert matches_exactly("A*B@X.com ", "a*b@x.com", ignore_case=True)
    assert not matches_exactly("aXb@x.com", "a*b@x.com", ignore_case=True)
    assert not matches_exactly(None, "x")
    assert not matches_exactly(5, "5")


def test_enum_literal() -> None:
    assert (
        enum_literal("smmActivityCategory", "Appointment")
        == "Microsoft.Dynamics.DataEntities.smmActivityCategory'Appointment'"
    )
    assert enum_literal("Other.Ns.Type", "X") == "Other.Ns.Type'X'"


@pytest.mark.parametrize(
    ("enum_type", "member"),
    [("smmActivityCategory", "App'ointment"), ("smmActivityCategory", ""), ("bad type", "A"), ("a..b", "A")],
)
def test_enum_literal_validates(enum_type: str, member: str) -> None:
    with pytest.raises(ValueError):
        enum_literal(enum_type, member)


def test_datetime_literal_is_utc_unquoted() -> None:
    assert datetime_literal(datetime(2024, 1, 1, 10, 0, tzinfo=UTC)) == "2024-01-01T10:00:00Z"
    cet = timezone(timedelta(hours=1))
    assert datetime_literal(datetime(2024, 1, 1, 11, 0, tzinfo=cet)) == "2024-01-01T10:00:00Z"
    assert datetime_literal(datetime(2024, 1, 1, 10, 0, 0, 250000, tzinfo=UTC)) == "2024-01-01T10:00:00.25Z"


def test_datetime_literal_rejects_naive() -> None:
    with pytest.raises(ValueError):
        datetime_literal(datetime(2024, 1, 1, 10, 0))


def test_key_segment_simple() -> None:
    assert (
        key_segment({"dataAreaId": "usmf", "ActivityNumber": "ACT-1"})
        == "(dataAreaId='usmf',ActivityNumber='ACT-1')"
    )


def test_key_segment_encodes_path_breakers() -> None:
    segment = key_segment({"dataAreaId": "usmf", "Id": "a'b/c?d#e%f(g),h é"})
    inner = segment[len("(dataAreaId='usmf',Id=") : -1]
    for ch in "/?#(), ":
        assert ch not in inner
    assert unescape(unquote(inner)) == "a'b/c?d#e%f(g),h é"


@given(st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True), safe_text, min_size=1))
def test_key_segment_round_trips(key: dict[str, str]) -> None:
    segment = key_segment(key)
    assert segment.startswith("(") and segment.endswith(")")
    assert "/" not in segment and "?" not in segment and "#" not in segment
    parts = segment[1:-1].split(",")  # commas inside values are encoded
    assert len(parts) == len(key)
    for (name, value), part in zip(key.items(), parts, strict=True):
        got_name, _, encoded = part.partition("=")
        assert got_name == name
        assert unescape(unquote(encoded)) == value


def test_key_segment_writes_enum_values_as_typed_literals() -> None:
    segment = key_segment(
        {"ActivityNumber": "A1", "ParentType": EnumValue("smmActivityParentType", "BusRel")}
    )
    assert (
        segment
        == "(ActivityNumber='A1',ParentType=Microsoft.Dynamics.DataEntities.smmActivityParentType'BusRel')"
    )
    with pytest.raises(ValueError):
        key_segment({"ParentType": EnumValue("smmActivityParentType", "Bus' or 1")})


def test_key_segment_rejects_empty_and_bad_names() -> None:
    with pytest.raises(ValueError):
        key_segment({})
    with pytest.raises(ValueError):
        key_segment({"a)": "x"})


def test_any_of() -> None:
    assert any_of("f", ["a", "b'c", "a"]) == "(f eq 'a' or f eq 'b''c')"
    with pytest.raises(ValueError):
        any_of("f", [])


def test_and_all() -> None:
    assert and_all(None, "") is None
    assert and_all("a eq 1") == "a eq 1"
    assert and_all("a eq 1", None, "b eq 2 or c eq 3") == "(a eq 1) and (b eq 2 or c eq 3)"


def test_filter_chunks_respects_count_and_length() -> None:
    values = [f"user{i}@example.com" for i in range(50)]
    groups = filter_chunks("PrimaryEmailAddress", values)
    assert [v for g in groups for v in g] == values
    assert all(len(g) <= 20 for g in groups)
    for group in groups:
        assert len(quote(any_of("PrimaryEmailAddress", group), safe="")) <= 1500
    long_values = ["x" * 400 + f"{i}@example.com" for i in range(5)]
    long_groups = filter_chunks("PrimaryEmailAddress", long_values)
    assert len(long_groups) > 1
    assert filter_chunks("F", ["y" * 5000]) == [["y" * 5000]]


def test_chunks() -> None:
    assert chunks(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert chunks([], 3) == []
    with pytest.raises(ValueError):
        chunks(["a"], 0)
