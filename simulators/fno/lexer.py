"""Tokenizer for OData URI expressions: `$filter` text and key predicates like `(dataAreaId='usmf',Id='O''Brien')`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from simulators.fno.errors import bad_query

# Order matters: a DateTimeOffset or GUID starts like a number, an enum literal starts like a name.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "datetime",
        re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})", re.IGNORECASE),
    ),
    ("guid", re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")),
    ("date", re.compile(r"\d{4}-\d{2}-\d{2}")),
    ("number", re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?")),
    ("name", re.compile(r"[A-Za-z_$][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")),
]
_PUNCTUATION = {"(": "(", ")": ")", ",": ",", "=": "="}


@dataclass(frozen=True)
class Token:
    kind: str  # string, datetime, guid, date, number, name, typed (Type'value'), ( ) , = eof
    text: str
    position: int
    value: Any = None
    type_name: str = ""


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Read a quoted literal starting at the opening quote; `''` is one quote. Returns (value, end)."""
    pieces: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "'":
            if index + 1 < len(text) and text[index + 1] == "'":
                pieces.append("'")
                index += 2
                continue
            return "".join(pieces), index + 1
        pieces.append(char)
        index += 1
    raise bad_query(f"There is an unterminated string literal at position {start} in '{text}'.")


def _number_value(text: str) -> tuple[str, Any]:
    suffix = text[-1].lower() if text[-1].isalpha() and text[-1].lower() in "mdfl" else ""
    body = text[:-1] if suffix else text
    if suffix == "l" or (not suffix and re.fullmatch(r"-?\d+", body)):
        value = int(body)
        return ("Edm.Int32" if -(2**31) <= value < 2**31 and not suffix else "Edm.Int64"), value
    try:
        decimal = Decimal(body)
    except InvalidOperation as exc:  # pragma: no cover - the pattern only admits valid numbers
        raise bad_query(f"'{text}' is not a valid number.") from exc
    return ("Edm.Double" if suffix in ("d", "f") or "e" in body.lower() else "Edm.Decimal"), decimal


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in " \t\r\n":
            index += 1
            continue
        if char in _PUNCTUATION:
            tokens.append(Token(_PUNCTUATION[char], char, index))
            index += 1
            continue
        if char == "'":
            value, end = _read_string(text, index)
            tokens.append(Token("string", text[index:end], index, value))
            index = end
            continue
        for kind, pattern in _PATTERNS:
            match = pattern.match(text, index)
            if match is None:
                continue
            word = match.group(0)
            end = match.end()
            if kind == "name" and end < len(text) and text[end] == "'":
                # A typed literal such as Microsoft.Dynamics.DataEntities.NoYes'Yes'.
                value, end = _read_string(text, end)
                tokens.append(Token("typed", text[index:end], index, value, type_name=word))
            elif kind == "number":
                type_name, value = _number_value(word)
                tokens.append(Token(kind, word, index, value, type_name=type_name))
            else:
                tokens.append(Token(kind, word, index, word))
            index = end
            break
        else:
            raise bad_query(f"Syntax error: character '{char}' is not valid at position {index} in '{text}'.")
    tokens.append(Token("eof", "", len(text)))
    return tokens
