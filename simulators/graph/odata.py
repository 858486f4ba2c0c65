"""The OData query subset the stand-in understands: $filter (with any()), $select, $expand, Prefer."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulators.graph.errors import GraphError, bad_request

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?(?![\w:-]))|(?P<punct>[():,])"
    r"|(?P<word>[A-Za-z_$][\w./$-]*))"
)
_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}
Predicate = Callable[[dict[str, Any]], bool]


def _invalid(detail: str = "Invalid filter clause") -> GraphError:
    return bad_request(detail, "BadRequest")


@dataclass
class _Tok:
    kind: str
    text: str


def _tokenise(text: str) -> list[_Tok]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise _invalid()
        kind = match.lastgroup or ""
        tokens.append(_Tok(kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over: or/and, not, (..), path/any(v: expr), operand op operand."""

    def __init__(self, text: str, id_paths: frozenset[str]) -> None:
        if len(text) > 4000:
            raise _invalid("The filter is too long.")
        self.tokens = _tokenise(text)
        self.pos = 0
        self.id_paths = id_paths

    def parse(self) -> Predicate:
        pred = self._or(frozenset())
        if self.pos != len(self.tokens):
            raise _invalid()
        return pred

    def _peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, text: str | None = None) -> _Tok:
        tok = self._peek()
        if tok is None or (text is not None and tok.text.lower() != text):
            raise _invalid()
        self.pos += 1
        return tok

    def _or(self, scope: frozenset[str]) -> Predicate:
        left = self._and(scope)
        while (tok := self._peek()) and tok.text.lower() == "or":
            self._take()
            right = self._and(scope)
            left = _either(left, right)
        return left

    def _and(self, scope: frozenset[str]) -> Predicate:
        left = self._unary(scope)
        while (tok := self._peek()) and tok.text.lower() == "and":
            self._take()
            right = self._unary(scope)
            left = _both(left, right)
        return left

    def _unary(self, scope: frozenset[str]) -> Predicate:
        tok = self._peek()
        if tok and tok.text.lower() == "not":
            self._take()
            inner = self._unary(scope)
            return lambda row: not inner(row)
        if tok and tok.text == "(":
            self._take()
            inner = self._or(scope)
            self._take(")")
            return inner
        return self._comparison(scope)

    def _comparison(self, scope: frozenset[str]) -> Predicate:
        tok = self._take()
        if tok.kind == "word" and tok.text.lower().endswith("/any"):
            return self._any(tok.text[: -len("/any")], scope)
        left = self._operand(tok, scope)
        op = self._take().text.lower()
        if op not in _OPS:
            raise _invalid()
        right = self._operand(self._take(), scope)
        compare_ids = any(
            isinstance(side, _Path) and side.path_key in self.id_paths for side in (left, right)
        )
        return _compare(left, op, right, compare_ids)

    def _any(self, path: str, scope: frozenset[str]) -> Predicate:
        self._take("(")
        var = self._take().text
        if not re.fullmatch(r"[A-Za-z_]\w*", var):
            raise _invalid()
        self._take(":")
        body = self._or(scope | {var})
        self._take(")")
        source = _Path(path, scope)

        def check(row: dict[str, Any]) -> bool:
            items = source.value(row)
            if not isinstance(items, list):
                return False
            return any(body({**row, var: item}) for item in items)

        return check

    def _operand(self, tok: _Tok, scope: frozenset[str]) -> _Path | _Const:
        if tok.kind == "str":
            return _Const(tok.text[1:-1].replace("''", "'"))
        if tok.kind == "num":
            return _Const(float(tok.text))
        if tok.kind == "word":
            lowered = tok.text.lower()
            if lowered in ("true", "false"):
                return _Const(lowered == "true")
            if lowered == "null":
                return _Const(None)
            return _Path(tok.text, scope)
        raise _invalid()


@dataclass
class _Const:
    constant: object

    def value(self, _row: dict[str, Any]) -> object:
        return self.constant


class _Path:
    def __init__(self, text: str, scope: frozenset[str]) -> None:
        self.parts = text.split("/")
        # Paths that start at a lambda variable are keyed "$var/..." so callers can name them generically.
        self.path_key = "/".join(["$var", *self.parts[1:]]) if self.parts[0] in scope else text

    def value(self, row: dict[str, Any]) -> object:
        current: object = row
        for part in self.parts:
            if not isinstance(current, dict) or part not in current:
                return None
            current = current[part]
        return current


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) or b(row)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) and b(row)


def _compare(left: _Path | _Const, op: str, right: _Path | _Const, ids: bool) -> Predicate:
    from simulators.graph.events import ext_key

    def norm(value: object) -> object:
        if isinstance(value, str):
            # Exchange compares strings case-insensitively; extended-property ids semantically.
            return ext_key(value) if ids else value.lower()
        return value

    def check(row: dict[str, Any]) -> bool:
        a, b = norm(left.value(row)), norm(right.value(row))
        if op == "eq":
            return a == b
        if op == "ne":
            return a != b
        if a is None or b is None or type(a) is not type(b):
            return False
        result: bool = {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]  # type: ignore[operator]
        return result

    return check


def parse_filter(text: str, *, id_paths: frozenset[str] = frozenset({"$var/id"})) -> Predicate:
    """Compile a $filter; paths ending in an extended-property id compare ids as Exchange does."""
    return _Parser(text, id_paths).parse()


def parse_expand(text: str) -> Predicate:
    """$expand=singleValueExtendedProperties($filter=...) -> which properties to include."""
    match = re.fullmatch(r"\s*singleValueExtendedProperties\s*(?:\(\s*\$filter\s*=\s*(.*)\)\s*)?", text, re.S)
    if not match:
        raise bad_request(f"Parsing OData Select and Expand failed: could not expand '{text[:100]}'.")
    if match.group(1) is None:
        return lambda _prop: True
    return parse_filter(match.group(1), id_paths=frozenset({"id"}))


def parse_select(text: str, allowed: set[str], type_name: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        if name not in allowed:
            raise bad_request(
                f"Could not find a property named '{name[:100]}' on type 'microsoft.graph.{type_name}'.",
                "RequestBroker--ParseUri",
            )
    return names


@dataclass(frozen=True)
class Prefer:
    timezone: str | None = None
    text_body: bool = False
    immutable_ids: bool = False
    max_page_size: int | None = None


def parse_prefer(values: list[str]) -> Prefer:
    timezone, text_body, immutable, page = None, False, False, None
    for header in values:
        for part in header.split(","):
            name, _, raw = part.strip().partition("=")
            value = raw.strip().strip('"')
            key = name.strip().lower()
            if key == "outlook.timezone":
                timezone = value
            elif key == "outlook.body-content-type":
                text_body = value.lower() == "text"
            elif key == "idtype":
                immutable = value.lower() == "immutableid"
            elif key == "odata.maxpagesize" and value.isdigit():
                page = max(1, min(int(value), 1000))
    return Prefer(timezone, text_body, immutable, page)
