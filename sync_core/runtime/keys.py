"""How the product names and stamps items: F&O key strings, the Exchange stamp, F&O time parsing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

# The single-value extended property every event/message/contact the product creates carries.
# The GUID is this product's own property set; the value is the F&O key ("usmf|ACT-000123").
STAMP_PROPERTY_ID = "String {5d365e5c-1f0a-4c3b-9a53-0e7c5a1d2b44} Name D365SyncKey"

_SEPARATOR = "|"
# F&O's "no date" value (a non-nullable DateTimeOffset that was never set).
_FNO_EMPTY_YEAR = 1900


def fno_key(company: str, number: str) -> str:
    if not company or _SEPARATOR in company:
        raise ValueError("invalid company id")
    return f"{company.lower()}{_SEPARATOR}{number}"


def split_fno_key(key: str) -> tuple[str, str]:
    company, sep, number = key.partition(_SEPARATOR)
    if not sep or not company or not number:
        raise ValueError("not an F&O key")
    return company, number


def parse_fno_time(value: Any) -> datetime | None:
    """An F&O or Graph DateTimeOffset as aware UTC; None when empty, unset (1900) or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Graph writes 7 fraction digits; Python reads at most 6.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    return None if parsed.year <= _FNO_EMPTY_YEAR else parsed


def row_version(row: Mapping[str, Any], stamp_field: str) -> str:
    """An F&O row's version: its edit stamp and its `@odata.etag`. The stamp alone has whole seconds, so
    an edit in the same second as the product's own write would look like that write's echo and be
    skipped; the etag (the row's version counter) changes with every write."""
    stamp = row.get(stamp_field)
    etag = row.get("@odata.etag")
    text = stamp if isinstance(stamp, str) else ""
    return f"{text}|{etag}" if text and isinstance(etag, str) and etag else text


def stamp_of(item: Mapping[str, Any]) -> str | None:
    """The F&O key stamped on a Graph item, read from its expanded extended properties."""
    for prop in item.get("singleValueExtendedProperties") or []:
        if not isinstance(prop, Mapping):
            continue
        if str(prop.get("id", "")).lower() == STAMP_PROPERTY_ID.lower():
            value = prop.get("value")
            return value if isinstance(value, str) and value else None
    return None


def feed_watermark(
    newest: datetime | None, started: datetime, overlap_seconds: int, *, held: datetime | None = None
) -> datetime:
    """The next watermark of an F&O edit-stamp feed. The next read starts `overlap_seconds` behind it
    (SYNC_FNO_OVERLAP_SECONDS), so a row whose stamp was up to that much older than the moment it became
    readable (a long transaction, F&O's clock behind ours) is still read:
    - the newest stamp read, but at least `started`, when this read began (our clock): an idle feed's
      re-read window moves on with time instead of staying at its last edit, and a row committed during
      the read, behind the page being read, is within the next read's window;
    - at most the overlap ahead of `started`: one stamp from the future (a clock set wrong once) must not
      blind the feed until then;
    - at most `held`: the oldest stamp a read may have paged past (a row moved while it was paging)."""
    ceiling = started + timedelta(seconds=overlap_seconds)
    mark = started if newest is None or newest < started else min(newest, ceiling)
    return mark if held is None or held >= mark else held


def exchange_cursor_name(kind: str, mailbox: str) -> str:
    """The state cursor of one mailbox's feed of one kind (its delta token and what the scan keeps)."""
    return f"graph:{kind}:{mailbox}"


def fno_cursor_name(kind: str) -> str:
    """The state cursor of one F&O feed (its watermark), shared by every mailbox."""
    return f"fno:{kind}"


def page_mark(
    newest: datetime | None, started: datetime, overlap_seconds: int, *, held: datetime | None = None
) -> datetime | None:
    """Where an edit-stamp feed that has read (and queued) every row up to now may resume: the newest stamp
    read (rows come in stamp order, so those not read yet are not older), at most the overlap ahead of
    `started` and at most `held` (as feed_watermark). Never `started` itself: the rest is still unread.
    The resumed read starts the overlap behind it, as every read does."""
    if newest is None:
        return None
    mark = min(newest, started + timedelta(seconds=overlap_seconds))
    return mark if held is None or held >= mark else held


def cursor_object(text: str | None) -> dict[str, Any]:
    """A cursor saved as a JSON object; empty when there is none or it cannot be read (read anew)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
