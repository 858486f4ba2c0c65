"""OData system query options for a collection read: parsing, validation, ordering and projection."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from simulators.fno.errors import bad_query
from simulators.fno.filter import Predicate, compile_filter, fold_string
from simulators.fno.schema import EntitySchema, Property, parse_datetime

SUPPORTED = frozenset({"$filter", "$select", "$top", "$skip", "$orderby", "$count", "$skiptoken", "$format"})


@dataclass
class QueryOptions:
    filter: Predicate | None = None
    select: list[str] | None = None
    orderby: list[tuple[str, bool]] = field(default_factory=list)  # (property, descending)
    top: int | None = None
    skip: int = 0
    count: bool = False
    skiptoken: int = 0


def _non_negative(name: str, text: str) -> int:
    if not text.isdigit():
        raise bad_query(
            f"Invalid value '{text}' for {name} query option found. It must be a non-negative integer."
        )
    return int(text)


def _property(entity: EntitySchema, name: str) -> Property:
    prop = entity.properties.get(name)
    if prop is None:
        raise bad_query(f"Could not find a property named '{name}' on type '{entity.type_name}'.")
    return prop


def parse_options(params: Iterable[tuple[str, str]], entity: EntitySchema) -> QueryOptions:
    options = QueryOptions()
    for name, value in params:
        if not name.startswith("$"):
            continue  # cross-company and other custom options
        if name not in SUPPORTED:
            raise bad_query(f"The query parameter '{name}' is not supported.")
        if name == "$filter":
            options.filter = compile_filter(value, entity)
        elif name == "$select":
            names = [part.strip() for part in value.split(",")]
            options.select = None if "*" in names else [_property(entity, part).name for part in names]
        elif name == "$orderby":
            options.orderby = _parse_orderby(value, entity)
        elif name == "$top":
            options.top = _non_negative(name, value)
        elif name == "$skip":
            options.skip = _non_negative(name, value)
        elif name == "$skiptoken":
            options.skiptoken = _non_negative(name, value)
        elif name == "$count":
            if value not in ("true", "false"):
                raise bad_query(f"'{value}' is not a valid count option.")
            options.count = value == "true"
    return options


def _parse_orderby(text: str, entity: EntitySchema) -> list[tuple[str, bool]]:
    clauses: list[tuple[str, bool]] = []
    for clause in text.split(","):
        parts = clause.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("asc", "desc")):
            raise bad_query(f"Syntax error in $orderby clause '{clause.strip()}'.")
        clauses.append((_property(entity, parts[0]).name, len(parts) == 2 and parts[1] == "desc"))
    return clauses


def sort_value(prop: Property, value: Any) -> tuple[bool, Any]:
    """SQL Server order: nulls first, strings by collation, enums by their integer value."""
    if value is None:
        return (False, 0)
    if prop.enum is not None:
        return (True, prop.enum.members.get(value, -1))
    if prop.edm_type == "Edm.String":
        return (True, fold_string(value))
    if prop.edm_type == "Edm.DateTimeOffset":
        return (True, parse_datetime(value))
    return (True, value)


def order(records: list[dict[str, Any]], clauses: list[tuple[str, bool]], entity: EntitySchema) -> None:
    """Stable multi-key sort in place: sort by the last clause first."""
    for name, descending in reversed(clauses):
        records.sort(key=_sort_key(entity.properties[name]), reverse=descending)


def _sort_key(prop: Property) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    return lambda record: sort_value(prop, record.get(prop.name))


def project(record: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    if select is None:
        return dict(record)
    return {name: record.get(name) for name in select}
