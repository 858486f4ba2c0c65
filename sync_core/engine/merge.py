"""Three-way, field-by-field merge of two canonical records against the last synced one.

A field changed on one side only takes that side's value. A field changed on both sides to
different values (or, without a base, simply different) is a conflict the policy decides.
Fields listed together in a group (start, end, all-day) merge as one unit, so a merge never
pairs one side's start with the other side's end.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync_core.engine.types import FieldConflict, Policy, Side

DEFAULT_GROUPS: tuple[tuple[str, ...], ...] = (("start", "end", "is_all_day"),)


@dataclass(frozen=True)
class MergeResult:
    merged: dict[str, Any]  # the record both sides should hold
    write_fno: dict[str, Any]  # fields whose F&O value differs from `merged`
    write_graph: dict[str, Any]  # fields whose Graph value differs from `merged`
    conflicts: tuple[FieldConflict, ...]


_PLAIN = (str, int, bool, type(None))


def same(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: tuples equal lists, True differs from 1, NaN equals NaN."""
    if a is b:
        return True
    kind = type(a)
    # Fast paths for what canonical records hold (the merge compares every field of every pair).
    if kind is type(b) and kind in _PLAIN:
        return bool(a == b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return _json(a) == _json(b)


def records_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Same fields with `same` values; a missing field counts as null."""
    return all(same(a.get(key), b.get(key)) for key in _keys(a, b))


def three_way_merge(
    base: Mapping[str, Any] | None,
    fno: Mapping[str, Any],
    graph: Mapping[str, Any],
    *,
    policy: Policy,
    fno_modified: datetime | None,
    graph_modified: datetime | None,
    groups: Sequence[Sequence[str]] = DEFAULT_GROUPS,
) -> MergeResult:
    """Merge `fno` and `graph` against `base` (None: first link, every difference is a conflict)."""
    keys = _keys(*([base] if base is not None else []), fno, graph)
    merged: dict[str, Any] = {}
    conflicts: list[FieldConflict] = []
    for unit in _units(keys, groups):
        fno_vals = [fno.get(key) for key in unit]
        graph_vals = [graph.get(key) for key in unit]
        take: Side
        if same(fno_vals, graph_vals):
            take = "fno"
        elif base is not None and same(fno_vals, [base.get(key) for key in unit]):
            take = "graph"
        elif base is not None and same(graph_vals, [base.get(key) for key in unit]):
            take = "fno"
        else:
            take, why = _winner(policy, fno_modified, graph_modified)
            why = ("first link, values differ; " if base is None else "changed on both sides; ") + why
            conflicts.extend(
                FieldConflict(field=key, fno_value=f, graph_value=g, winner=take, reason=why)
                for key, f, g in zip(unit, fno_vals, graph_vals, strict=True)
                if not same(f, g)
            )
        source = fno if take == "fno" else graph
        for key in unit:
            merged[key] = source.get(key)
    return MergeResult(
        merged=merged,
        write_fno={key: value for key, value in merged.items() if not same(fno.get(key), value)},
        write_graph={key: value for key, value in merged.items() if not same(graph.get(key), value)},
        conflicts=tuple(conflicts),
    )


def _winner(
    policy: Policy, fno_modified: datetime | None, graph_modified: datetime | None
) -> tuple[Side, str]:
    if policy is Policy.D365:
        return "fno", "policy d365"
    if policy is Policy.EXCHANGE:
        return "graph", "policy exchange"
    if fno_modified is None or graph_modified is None:
        if graph_modified is not None:
            return "graph", "policy newest: only Exchange time known"
        # F&O is the system of record: it wins whenever the times cannot tell.
        return (
            "fno",
            "policy newest: F&O time known only or neither" if fno_modified else "policy newest: no times",
        )
    try:
        graph_later = graph_modified > fno_modified
        tie = graph_modified == fno_modified
    except TypeError:  # naive vs aware: cannot compare, fall back to the system of record
        return "fno", "policy newest: times not comparable"
    if graph_later:
        return "graph", "policy newest: Exchange newer"
    return "fno", "policy newest: tie, F&O wins" if tie else "policy newest: F&O newer"


def _keys(*records: Mapping[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(key, None)
    return list(seen)


def _units(keys: list[str], groups: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    grouped: dict[str, tuple[str, ...]] = {}
    for group in groups:
        members = tuple(key for key in group if key in keys)
        for key in members:
            grouped.setdefault(key, members)
    units: list[tuple[str, ...]] = []
    for key in keys:
        unit = grouped.get(key, (key,))
        if unit not in units:
            units.append(unit)
    return units


def _json(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):  # unsortable keys or cycles: not a canonical record, compare by repr
        return repr(value)
