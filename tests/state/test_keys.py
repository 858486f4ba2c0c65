"""Table key encoding: safe characters only, bounded length, never two values on one key."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_core.state import keys

FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f']")
# Any code point, lone surrogates included (json.loads can produce them from hostile input).
ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=300)


@given(ANY_TEXT)
def test_escape_round_trips_and_is_key_safe(value: str) -> None:
    escaped = keys.escape(value)
    assert escaped.isascii() and not FORBIDDEN.search(escaped)
    assert keys.SEPARATOR not in escaped and not escaped.startswith("~")
    assert keys.unescape(escaped) == value


@given(ANY_TEXT, ANY_TEXT)
def test_components_are_injective_and_bounded(a: str, b: str) -> None:
    ka, kb = keys.encode_component(a), keys.encode_component(b)
    assert len(ka) <= keys.MAX_COMPONENT and not FORBIDDEN.search(ka)
    assert (ka == kb) == (a == b)
    if keys.is_reversible(ka):
        assert keys.decode_component(ka) == a


@given(ANY_TEXT, ANY_TEXT, ANY_TEXT, ANY_TEXT)
def test_joined_keys_do_not_run_into_each_other(a: str, b: str, c: str, d: str) -> None:
    assert (keys.join_key(a, b) == keys.join_key(c, d)) == ((a, b) == (c, d))
    assert len(keys.join_key(a, b)) <= 2 * keys.MAX_COMPONENT + 1


def test_known_encodings() -> None:
    assert keys.escape("AAMk/+x=") == "AAMk%2F%2Bx%3D"
    assert keys.escape("o'brien@contoso.com") == "o%27brien@contoso.com"
    assert keys.escape("%2F") == "%252F"
    long_value = "é" * 500
    digest = keys.encode_component(long_value)
    assert digest.startswith("~") and len(digest) == 65
    with pytest.raises(ValueError):
        keys.decode_component(digest)


@pytest.mark.parametrize("bad", ["%", "%G1", "a/b", "%2", "~x"])
def test_unescape_rejects_text_escape_cannot_produce(bad: str) -> None:
    with pytest.raises(ValueError):
        keys.unescape(bad)
