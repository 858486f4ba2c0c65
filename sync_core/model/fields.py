"""Tolerant readers for scalar fields of F&O and Graph payloads.

Missing or null values quietly take the default. A value that is present but not understood
also takes the default, and is logged (field name and source only, never the value: it is
hostile and may be personal).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, TypeVar

_log = logging.getLogger("sync_core.model")

T = TypeVar("T")


class MappingError(ValueError):
    """A payload cannot become a canonical record (e.g. no usable start). The message holds no
    personal data, so it can be recorded as the item's failure reason."""


class MissingField(MappingError):
    """A required field is missing or unreadable. Never defaulted: a guess (an event without `end` read as
    zero-length) would be written to the other side. As a ValueError the pair job records it as the item's
    permanent failure, before anything is written; it is retried when the item changes."""

    def __init__(self, what: str, field: str) -> None:
        super().__init__(f"{what}: required field {field!r} is missing or unreadable")
        self.what = what
        self.field = field


def note_default(source: str, field: str) -> None:
    """Record that an unusable value was replaced by the default."""
    _log.warning("%s field %s has an unusable value; default used", source, field)


def read_enum(value: Any, table: Mapping[str | int, T], default: T, *, source: str, field: str) -> T:
    """Map an enum member (name, case-insensitive, or its number) through `table`."""
    if value is None or value == "":
        return default
    key: str | int
    if isinstance(value, str):
        key = value.strip().casefold()
    elif isinstance(value, int) and not isinstance(value, bool):
        key = value
    else:
        note_default(source, field)
        return default
    if key in table:
        return table[key]
    note_default(source, field)
    return default


_INTEGER = re.compile(r"^\s*[+-]?[0-9]{1,18}\s*$")
_TRUE = frozenset({"yes", "true", "1"})
_FALSE = frozenset({"no", "false", "0"})


def read_flag(value: Any, default: bool, *, source: str, field: str) -> bool:
    """A NoYes member ("Yes"/"No"), a JSON boolean, or 0/1."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value in (0, 1):
            return bool(value)
    elif isinstance(value, str):
        folded = value.strip().casefold()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
    note_default(source, field)
    return default


def read_int(value: Any, default: int, *, lo: int, hi: int, source: str, field: str) -> int:
    """An integer (or integral float / digit string), clamped to [lo, hi]."""
    if value is None or value == "":
        return default
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and _INTEGER.match(value)
    ):
        number = int(value)
    if number is None:
        note_default(source, field)
        return default
    return min(max(number, lo), hi)


def read_str(value: Any) -> str:
    """A string, or "" for anything else (null, numbers, objects)."""
    return value if isinstance(value, str) else ""


def read_mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object, or an empty one for anything else."""
    return value if isinstance(value, Mapping) else {}
