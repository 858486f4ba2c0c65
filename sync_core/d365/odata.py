"""Pure helpers that build F&O OData query text safely.

Every value that reaches a `$filter` or a key segment goes through here, so escaping lives in one place.

Decisions:
- String literals escape `'` as `''` (OData ABNF). Control characters (Unicode category Cc, e.g. NUL, CR, LF,
  TAB) and unpaired surrogates are rejected with `UnsafeLiteral`: no legitimate key, e-mail address or id
  contains them, and F&O's SQL back end may truncate or mangle them. Callers treat such a value as
  "cannot match" rather than sending it.
- F&O turns a `*` inside an `eq` string literal into a wildcard (a LIKE), and OData has no escape for it.
  So an `eq` filter can only ever *widen*: it still finds every exact match. The strategy is "query wide,
  keep exact": callers send `exact_string_eq`/`any_of` and keep only rows for which `matches_exactly` holds.
  F&O string comparison is also case-insensitive (SQL collation), which the same post-filter handles.
- Field names and enum members must be plain identifiers, so no caller input can inject filter syntax.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import quote

ENUM_NAMESPACE = "Microsoft.Dynamics.DataEntities"
WILDCARD = "*"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_QUALIFIED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
# Characters left readable in a key segment; everything else is percent-encoded (UTF-8).
_KEY_SAFE = "'=-._~"


class EnumValue(NamedTuple):
    """An enum key value, e.g. `EnumValue("smmActivityParentType", "ContactPerson")`: written as the typed
    literal OData requires for enum properties, not as a plain string."""

    enum_type: str
    member: str


KeyValue = str | EnumValue


class UnsafeLiteral(ValueError):
    """A value that cannot be sent as an OData string literal (control character or bad surrogate)."""


def _check_identifier(name: str, what: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{what} must be a plain identifier")
    return name


def is_safe_text(value: str) -> bool:
    """True when `value` may be sent as a string literal."""
    return all(unicodedata.category(ch) not in ("Cc", "Cs") for ch in value)


def string_literal(value: str) -> str:
    """`o'brien@example.com` -> `'o''brien@example.com'`. Raises UnsafeLiteral for control characters."""
    if not is_safe_text(value):
        raise UnsafeLiteral("string literal contains a control character or an unpaired surrogate")
    return "'" + value.replace("'", "''") + "'"


def has_wildcard(value: str) -> bool:
    """True when F&O would read `value` in an `eq` literal as a pattern, not as itself."""
    return WILDCARD in value


def exact_string_eq(field: str, value: str) -> str:
    """`field eq 'value'`. Never misses an exact match; may return more rows when `value` holds `*`
    (F&O wildcard) or differs only in case, so callers keep rows where `matches_exactly` holds."""
    return f"{_check_identifier(field, 'field')} eq {string_literal(value)}"


def matches_exactly(actual: object, expected: str, *, ignore_case: bool = False) -> bool:
    """Client-side check that undoes F&O's wildcard widening of an `eq` filter. `ignore_case` keeps SQL's
    own notion of equal (case and trailing blanks ignored); without it the match is character-exact."""
    if not isinstance(actual, str):
        return False
    if ignore_case:
        return actual.rstrip(" ").lower() == expected.rstrip(" ").lower()
    return actual == expected


def enum_literal(enum_type: str, member: str) -> str:
    """`enum_literal("smmActivityCategory", "Appointment")` ->
    `Microsoft.Dynamics.DataEntities.smmActivityCategory'Appointment'`. A dotted `enum_type` is taken as
    already qualified."""
    if not _QUALIFIED.match(enum_type):
        raise ValueError("enum type must be a (dotted) identifier")
    qualified = enum_type if "." in enum_type else f"{ENUM_NAMESPACE}.{enum_type}"
    return f"{qualified}'{_check_identifier(member, 'enum member')}'"


def datetime_literal(value: datetime) -> str:
    """UTC, unquoted: `2024-01-01T10:00:00Z` (fractional seconds only when present). Naive datetimes are
    rejected: their zone is unknown and guessing would shift a watermark by hours."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def key_segment(key: Mapping[str, KeyValue]) -> str:
    """`{"dataAreaId": "usmf", "ActivityNumber": "ACT-1"}` -> `(dataAreaId='usmf',ActivityNumber='ACT-1')`,
    with each literal percent-encoded so `/`, `?`, `#`, `%` and non-ASCII cannot escape the path segment.
    `EnumValue` values become typed enum literals."""
    if not key:
        raise ValueError("key must have at least one field")
    parts = []
    for name, value in key.items():
        literal = enum_literal(*value) if isinstance(value, EnumValue) else string_literal(value)
        parts.append(f"{_check_identifier(name, 'key field')}={quote(literal, safe=_KEY_SAFE)}")
    return "(" + ",".join(parts) + ")"


def any_of(field: str, values: Iterable[str]) -> str:
    """`(f eq 'a' or f eq 'b')`: F&O supports neither `in` nor `has`. Callers chunk (URL length) and
    post-filter with `matches_exactly`. Duplicates are dropped, order kept."""
    unique = list(dict.fromkeys(values))
    if not unique:
        raise ValueError("any_of needs at least one value")
    return "(" + " or ".join(exact_string_eq(field, v) for v in unique) + ")"


def and_all(*clauses: str | None) -> str | None:
    """Join the non-empty clauses with `and`, each parenthesised so precedence cannot surprise."""
    present = [c for c in clauses if c]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return " and ".join(f"({c})" for c in present)


def filter_chunks(
    field: str, values: Iterable[str], *, max_values: int = 20, max_encoded: int = 1500
) -> list[list[str]]:
    """Group values for `any_of(field, group)` so each group has at most `max_values` values and its filter,
    percent-encoded, stays within `max_encoded` characters: IIS rejects query strings over 2048 bytes by
    default. A single value longer than the budget still gets a group of its own."""
    groups: list[list[str]] = []
    current: list[str] = []
    size = 2  # the parentheses
    for value in dict.fromkeys(values):
        clause = len(quote(exact_string_eq(field, value), safe="")) + len(quote(" or ", safe=""))
        if current and (len(current) >= max_values or size + clause > max_encoded):
            groups.append(current)
            current, size = [], 2
        current.append(value)
        size += clause
    if current:
        groups.append(current)
    return groups


def chunks(values: Iterable[str], size: int) -> list[list[str]]:
    """Split into lists of at most `size`, keeping order."""
    if size < 1:
        raise ValueError("chunk size must be positive")
    items = list(values)
    return [items[i : i + size] for i in range(0, len(items), size)]
