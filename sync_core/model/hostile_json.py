"""Decoding JSON that comes from outside (Graph, F&O, anonymous callers): hostile until proven otherwise.

- Text that cannot be encoded again is repaired at decode time: a lone UTF-16 surrogate (`"\\ud800"`, legal
  JSON, yet no UTF-8 can hold it) and invalid UTF-8 bytes both become U+FFFD. Otherwise one Outlook subject
  would fail every later step that serialises the item (queue messages, the state store, logs).
- The repair walks the decoded value only when the raw text holds a surrogate escape, so ordinary answers
  cost one regular-expression search.
- `nesting_depth` bounds how deep a body nests before it is parsed (the C decoder recurses per level).
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON string, unrolled so that it runs in linear time: its brackets do not count as nesting.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class UnreadableJson(ValueError):
    """The body is not JSON (or nests deeper than allowed). The message holds no content."""


def repair_text(value: str) -> str:
    """`value` with every lone surrogate replaced by U+FFFD (a correct pair was joined by the decoder)."""
    return _LONE_SURROGATE.sub("\ufffd", value)


def repair(value: Any) -> Any:
    """A decoded JSON value with every string (keys included) repaired."""
    if isinstance(value, str):
        return repair_text(value)
    if isinstance(value, list):
        return [repair(item) for item in value]
    if isinstance(value, dict):
        return {repair_text(k): repair(v) for k, v in value.items()}
    return value


def nesting_depth(text: str, limit: int) -> int:
    """How deep `text` nests arrays and objects, counted up to `limit + 1` (enough to refuse it)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = deepest = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def decode_text(content: bytes) -> str:
    """UTF-8 text of a body; bytes that are not UTF-8 (encoded surrogates included) become U+FFFD."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("utf-8-sig", "replace")


def loads(content: bytes | str, *, max_depth: int | None = None) -> Any:
    """Decode a JSON body, repaired (see the module note). Raises UnreadableJson."""
    raw = isinstance(content, bytes)
    text = decode_text(content) if isinstance(content, bytes) else content
    if max_depth is not None and nesting_depth(text, max_depth) > max_depth:
        raise UnreadableJson("body nests too deeply")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise UnreadableJson("body is not JSON") from None
    suspect = _SURROGATE_ESCAPE.search(text) or (not raw and _LONE_SURROGATE.search(text))
    return repair(value) if suspect else value
