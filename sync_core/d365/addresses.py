"""E-mail address hygiene before an address becomes a filter value or a cache key."""

from __future__ import annotations

from collections.abc import Iterable

from sync_core.d365.odata import is_safe_text


def normalise_emails(addresses: Iterable[str]) -> list[str]:
    """Distinct lower-cased addresses in first-seen order. Empty or unsendable ones (control characters)
    are dropped: they cannot match anything. Lower case is enough in a filter because F&O compares strings
    case-insensitively (SQL collation); the exact check on the rows is case-insensitive too."""
    result: dict[str, None] = {}
    for raw in addresses:
        address = raw.strip().lower()
        if address and is_safe_text(address):
            result[address] = None
    return list(result)
