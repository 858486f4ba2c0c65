"""The normalised content hash every kind keeps beside its link snapshot."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sync_core.model.datetimes import format_z


def hash_fields(record: Mapping[str, Any], fields: Iterable[str]) -> str:
    """sha256 hex of the canonical JSON of `fields` of `record` (a missing field hashes as null)."""
    canonical = {key: _jsonable(record.get(key)) for key in fields}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):  # before date: a datetime is a date too
        return format_z(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
