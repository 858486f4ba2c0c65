"""Record <-> Azure Table entity properties, within the service's limits.

A Table string property holds at most 64 KiB (32K UTF-16 characters) and an entity at most 1 MiB with
255 properties. Plain short strings, numbers and booleans are stored as they are (readable in the portal);
dicts, long strings and strings with characters a Table value should not carry (control characters, lone
surrogates) are stored as zlib-compressed, base64 JSON cut into chunks `<field>__z0..n` with the chunk
count in `<field>__zn`.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sync_core.state.base import StateError

_INLINE_MAX = 8_000  # characters kept inline; longer text goes to the compressed form
_CHUNK = 32_000  # base64 characters per property: 64,000 bytes as UTF-16, under the 64 KiB limit
# Budget for all compressed chunks of one entity: as UTF-16 this is 800 KB, leaving room for the other
# properties under the 1 MiB entity limit (and keeping a 3-entity transaction under 4 MB).
MAX_PACKED_CHARS = 400_000
_COUNT_SUFFIX = "__zn"
_CHUNK_SUFFIX = "__z"


def epoch_micros(at: datetime) -> int:
    """Sort key of a timestamp in microseconds since 1970; naive datetimes are taken as UTC."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _is_plain(text: str) -> bool:
    if len(text) > _INLINE_MAX:
        return False
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF:
            return False
    return True


def _pack(value: Any) -> list[str]:
    # ensure_ascii keeps lone surrogates representable instead of failing to encode.
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    text = base64.b64encode(zlib.compress(raw, 6)).decode("ascii")
    return [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]


def to_properties(data: Mapping[str, Any]) -> dict[str, Any]:
    """Entity properties for a JSON-mode dump of a record (None values are left out)."""
    props: dict[str, Any] = {}
    packed_chars = 0
    for name, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool | int | float) or (isinstance(value, str) and _is_plain(value)):
            props[name] = value
            continue
        chunks = _pack(value)
        packed_chars += sum(len(c) for c in chunks)
        props[f"{name}{_COUNT_SUFFIX}"] = len(chunks)
        for i, chunk in enumerate(chunks):
            props[f"{name}{_CHUNK_SUFFIX}{i}"] = chunk
    if packed_chars > MAX_PACKED_CHARS:
        raise StateError(
            f"record too large for one table entity ({packed_chars} compressed characters,"
            f" limit {MAX_PACKED_CHARS})"
        )
    return props


def from_properties(entity: Mapping[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """The record fields (from `fields`) found in an entity, unpacking compressed ones."""
    data: dict[str, Any] = {}
    for name in fields:
        count = entity.get(f"{name}{_COUNT_SUFFIX}")
        if count is not None:
            text = "".join(str(entity[f"{name}{_CHUNK_SUFFIX}{i}"]) for i in range(int(count)))
            data[name] = json.loads(zlib.decompress(base64.b64decode(text)))
        elif name in entity:
            data[name] = entity[name]
    return data
