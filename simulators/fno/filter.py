"""`$filter` for the F&O stand-in: a recursive-descent parser that type-checks against the entity schema.

Follows what F&O (ODataLib + SQL Server) does, including its awkward parts:
- string comparison is case-insensitive and ignores trailing blanks (SQL collation);
- `*` inside a string literal compared with `eq`/`ne` is a wildcard;
- enums take only `Namespace.EnumType'Member'` literals and only `eq`/`ne`; a plain string literal is an
  incompatible-types error;
- `in`, `has`, arithmetic and functions (contains, startswith, ...) are rejected with 400.
Precedence as in ODataLib: `not` binds tighter than comparisons, so `not X eq 'a'` is a type error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulators.fno.errors import bad_query
from simulators.fno.lexer import Token, tokenize
from simulators.fno.schema import NAMESPACE, NUMERIC_TYPES, EntitySchema, EnumType, enum_types, parse_datetime

Record = dict[str, Any]
Getter = Callable[[Record], Any]
Predicate = Callable[[Record], bool]

_COMPARISONS = {"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual"}
_COMPARISONS |= {"lt": "LessThan", "le": "LessThanOrEqual"}
_UNSUPPORTED_INFIX = {"in", "has", "add", "sub", "mul", "div", "divby", "mod"}


@dataclass(frozen=True)
class Operand:
    kind: str  # string, number, datetime, guid, bool, enum, date, null
    edm: str  # EDM type name, for error messages
    get: Getter
    literal: Any = None
    is_literal: bool = False
    enum: EnumType | None = None


def fold_string(value: str) -> str:
    """SQL Server's default collation: case-insensitive, trailing blanks ignored."""
    return value.casefold().rstrip(" ")


def _kind_of(edm: str) -> str:
    if edm == "Edm.String":
        return "string"
    if edm in NUMERIC_TYPES:
        return "number"
    return {"Edm.DateTimeOffset": "datetime", "Edm.Guid": "guid", "Edm.Boolean": "bool"}.get(edm, "enum")


def _normaliser(kind: str) -> Callable[[Any], Any]:
    if kind == "string":
        return lambda value: None if value is None else fold_string(str(value))
    if kind == "datetime":
        return lambda value: value if value is None or isinstance(value, datetime) else parse_datetime(value)
    if kind == "guid":
        return lambda value: None if value is None else str(value).lower()
    return lambda value: value


def _wildcard(pattern: str) -> re.Pattern[str]:
    parts = (re.escape(part) for part in fold_string(pattern).split("*"))
    return re.compile(".*".join(parts), re.DOTALL)


class _Parser:
    def __init__(self, text: str, entity: EntitySchema) -> None:
        self.text = text
        self.entity = entity
        self.tokens = tokenize(text)
        self.index = 0

    # -- token helpers -------------------------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def peek_word(self) -> str | None:
        token = self.peek()
        return token.text if token.kind == "name" else None

    def expect(self, kind: str) -> Token:
        token = self.take()
        if token.kind != kind:
            found = token.text or "end of input"
            raise bad_query(f"Syntax error at position {token.position} in '{self.text}': found '{found}'.")
        return token

    # -- grammar ---------------------------------------------------------------------------------------
    def parse(self) -> Predicate:
        operand = self.logical_or()
        self.expect("eof")
        if operand.kind != "bool":
            raise bad_query(f"The $filter expression must evaluate to a single boolean value: '{self.text}'.")
        getter = operand.get
        return lambda record: getter(record) is True

    def logical_or(self) -> Operand:
        left = self.logical_and()
        while self.peek_word() == "or":
            self.take()
            right = self.logical_and()
            left = self._logical("Or", left, right)
        return left

    def logical_and(self) -> Operand:
        left = self.comparison()
        while self.peek_word() == "and":
            self.take()
            right = self.comparison()
            left = self._logical("And", left, right)
        return left

    def comparison(self) -> Operand:
        left = self.unary()
        while True:
            word = self.peek_word()
            if word in _UNSUPPORTED_INFIX:
                raise bad_query(f"The operator '{word}' is not supported.")
            if word not in _COMPARISONS:
                return left
            self.take()
            right = self.unary()
            left = _compare(word, left, right)

    def unary(self) -> Operand:
        if self.peek_word() == "not":
            self.take()
            operand = self.unary()
            if operand.kind != "bool":
                raise bad_query(
                    "A unary operator with an incompatible type was detected. "
                    f"Found operand type '{operand.edm}' for operator kind 'Not'."
                )
            getter = operand.get
            return Operand("bool", "Edm.Boolean", lambda record: getter(record) is not True)
        return self.primary()

    def primary(self) -> Operand:
        token = self.take()
        if token.kind == "(":
            inner = self.logical_or()
            self.expect(")")
            return inner
        if token.kind == "string":
            return _literal("string", "Edm.String", token.value)
        if token.kind == "datetime":
            return _literal("datetime", "Edm.DateTimeOffset", parse_datetime(token.text))
        if token.kind == "guid":
            return _literal("guid", "Edm.Guid", token.text.lower())
        if token.kind == "date":
            return _literal("date", "Edm.Date", token.text)
        if token.kind == "number":
            return _literal("number", token.type_name, token.value)
        if token.kind == "typed":
            return self._enum_literal(token)
        if token.kind == "name":
            return self._name(token)
        found = token.text or "end of input"
        raise bad_query(f"Syntax error at position {token.position} in '{self.text}': found '{found}'.")

    # -- pieces ----------------------------------------------------------------------------------------
    def _name(self, token: Token) -> Operand:
        word = token.text
        if self.peek().kind == "(":
            raise bad_query(
                f"An unknown function with name '{word}' was found. The function is not supported."
            )
        if word == "true" or word == "false":
            return _literal("bool", "Edm.Boolean", word == "true")
        if word == "null":
            return _literal("null", "null", None)
        prop = self.entity.properties.get(word)
        if prop is None:
            raise bad_query(f"Could not find a property named '{word}' on type '{self.entity.type_name}'.")
        kind = _kind_of(prop.edm_type)
        normalise = _normaliser(kind)
        name = prop.name
        return Operand(kind, prop.edm_type, lambda record: normalise(record.get(name)), enum=prop.enum)

    def _enum_literal(self, token: Token) -> Operand:
        prefix = NAMESPACE + "."
        enum = (
            enum_types().get(token.type_name[len(prefix) :]) if token.type_name.startswith(prefix) else None
        )
        if enum is None:
            raise bad_query(f"The type '{token.type_name}' of literal '{token.text}' is not supported.")
        member = str(token.value)
        if member not in enum.members:
            by_value = {str(value): name for name, value in enum.members.items()}
            if member not in by_value:
                raise bad_query(f"The string '{token.text}' is not a valid enumeration type constant.")
            member = by_value[member]
        return Operand("enum", enum.full_name, lambda _record: member, member, True, enum)

    @staticmethod
    def _logical(kind: str, left: Operand, right: Operand) -> Operand:
        for side in (left, right):
            if side.kind != "bool":
                raise bad_query(
                    "A binary operator with incompatible types was detected. Found operand types "
                    f"'{left.edm}' and '{right.edm}' for operator kind '{kind}'."
                )
        get_left, get_right = left.get, right.get
        if kind == "And":
            return Operand("bool", "Edm.Boolean", lambda r: get_left(r) is True and get_right(r) is True)
        return Operand("bool", "Edm.Boolean", lambda r: get_left(r) is True or get_right(r) is True)


def _literal(kind: str, edm: str, value: Any) -> Operand:
    folded = _normaliser(kind)(value)
    return Operand(kind, edm, lambda _record: folded, value, True)


def _check_types(op: str, left: Operand, right: Operand) -> None:
    if "null" in (left.kind, right.kind):
        return
    compatible = left.kind == right.kind and left.kind != "date"
    if left.kind == "enum" and right.kind == "enum":
        compatible = left.enum is not None and right.enum is not None and left.enum.name == right.enum.name
    if not compatible:
        raise bad_query(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{left.edm}' and '{right.edm}' for operator kind '{_COMPARISONS[op]}'."
        )
    if left.kind == "enum" and op not in ("eq", "ne"):
        raise bad_query(f"The operator '{op}' is not supported on enumeration values; use eq or ne.")


def _compare(op: str, left: Operand, right: Operand) -> Operand:
    _check_types(op, left, right)
    get_left, get_right = left.get, right.get
    test: Callable[[Any, Any], bool]
    pattern_side = next(
        (side for side in (right, left) if side.is_literal and side.kind == "string" and "*" in side.literal),
        None,
    )
    if op in ("eq", "ne") and pattern_side is not None:
        # F&O turns `*` in an eq literal into a LIKE pattern.
        pattern = _wildcard(pattern_side.literal)
        value_side = left if pattern_side is right else right
        get_value = value_side.get
        wanted = op == "eq"

        def wildcard(record: Record) -> bool:
            value = get_value(record)
            return value is not None and (pattern.fullmatch(value) is not None) == wanted

        return Operand("bool", "Edm.Boolean", wildcard)
    if op == "eq":
        test = lambda a, b: a == b  # noqa: E731
    elif op == "ne":
        test = lambda a, b: a != b  # noqa: E731
    else:
        test = _ORDERINGS[op]

    def evaluate(record: Record) -> bool:
        a, b = get_left(record), get_right(record)
        if a is None or b is None:
            # SQL semantics: only `eq null` / `ne null` say anything about a missing value.
            return (a is None and b is None) == (op == "eq") if op in ("eq", "ne") else False
        return test(a, b)

    return Operand("bool", "Edm.Boolean", evaluate)


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: bool(a > b),
    "ge": lambda a, b: bool(a >= b),
    "lt": lambda a, b: bool(a < b),
    "le": lambda a, b: bool(a <= b),
}


def compile_filter(text: str, entity: EntitySchema) -> Predicate:
    """Parse and type-check `$filter` text; raises ODataError(400) the way F&O rejects a query."""
    return _Parser(text, entity).parse()


def parse_key(text: str, entity: EntitySchema) -> dict[str, Any]:
    """Key predicate inside `Set(...)`: `Name='v',...` or a single bare literal for one-key sets."""
    tokens = tokenize(text)
    values: dict[str, Any] = {}
    index = 0

    def literal_value(token: Token, prop_name: str) -> Any:
        prop = entity.properties[prop_name]
        if token.kind == "string" and (prop.edm_type == "Edm.String" or prop.enum is not None):
            return token.value
        if token.kind == "typed" and prop.enum is not None and token.type_name == prop.enum.full_name:
            return token.value
        if token.kind == "number" and prop.edm_type in NUMERIC_TYPES:
            return token.value
        raise bad_query(
            f"The key value '{token.text}' does not match the type of key property '{prop_name}'."
        )

    if len(tokens) == 2 and len(entity.keys) == 1:
        return {entity.keys[0]: literal_value(tokens[0], entity.keys[0])}
    while True:
        name, equals, value = tokens[index : index + 3] if index + 3 <= len(tokens) else (tokens[-1],) * 3
        if name.kind != "name" or equals.kind != "=" or name.text not in entity.keys or name.text in values:
            raise bad_query(f"The key in the request URI is not valid for resource '{entity.type_name}'.")
        values[name.text] = literal_value(value, name.text)
        index += 3
        if tokens[index].kind == "eof":
            break
        if tokens[index].kind != ",":
            raise bad_query(f"The key in the request URI is not valid for resource '{entity.type_name}'.")
        index += 1
    if set(values) != set(entity.keys):
        raise bad_query(
            f"The number of keys specified in the URI does not match number of key properties for "
            f"the resource '{entity.type_name}'."
        )
    return values
