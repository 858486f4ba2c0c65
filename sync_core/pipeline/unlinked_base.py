"""The record a pair had when it was unlinked (one side unmarked), kept so that linking it again merges
three-way: an edit made on either side while the pair was not synced survives the re-link, and only a
field changed on both sides is a conflict (docs/sync-rules.md, "Unmarked and marked again").

Kept as a cursor record `unlinked:{kind}:{mailbox}:{fno_key}` beside the pair's other state, written before
the link is dropped (a crash in between leaves the link, which the next run unlinks again) and deleted once
the pair is linked again. Only the record the link already held is stored: field values, no more personal
data than the link itself kept."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sync_core.runtime.context import SyncContext
from sync_core.state.base import ConcurrencyError, Cursor, Link

log = logging.getLogger(__name__)
PREFIX = "unlinked"


def cursor_prefix(kind: str, mailbox: str) -> str:
    return f"{PREFIX}:{kind}:{mailbox.lower()}:"


def cursor_name(kind: str, mailbox: str, fno_key: str) -> str:
    return cursor_prefix(kind, mailbox) + fno_key


async def remember(ctx: SyncContext, link: Link) -> None:
    """Keep `link`'s record before it is dropped by an unlink."""
    if not link.snapshot or link.is_claim:
        return
    name = cursor_name(link.kind, link.mailbox, link.fno_key)
    value = json.dumps({"graph_id": link.graph_id, "snapshot": link.snapshot}, sort_keys=True)
    # The record may be there already: this unlink ran before and crashed before dropping the link (the
    # retry must not fail on it, or the link is never dropped), or an older unlink was never used up.
    # The link's record now is the one to keep, so it replaces whatever is there.
    # Usually there is none: the first write inserts, with no read before it.
    etag: str | None = None
    for _attempt in range(3):
        cursor = Cursor(name=name, value=value, updated_at=ctx.now(), etag=etag)
        try:
            await ctx.store.save_cursor(cursor)
            return
        except ConcurrencyError:
            stored = await ctx.store.get_cursor(name)  # there (or changed meanwhile): replace what it is now
            etag = stored.etag if stored else None
    raise ConcurrencyError("the unlink record keeps changing")


async def recall(
    ctx: SyncContext, kind: str, mailbox: str, fno_key: str, graph_id: str, *, any_item: bool = False
) -> Mapping[str, Any] | None:
    """The record kept at the unlink of exactly this pair, or None (never unlinked, or another partner).
    `any_item`: of this F&O record with whichever Exchange item now carries its stamp (a moved To Do task
    has a new id; KindRules.unlink_record_follows_stamp)."""
    cursor = await ctx.store.get_cursor(cursor_name(kind, mailbox, fno_key))
    if cursor is None:
        return None
    try:
        data = json.loads(cursor.value)
    except ValueError:
        log.warning("unreadable unlink record ignored", extra={"kind": kind})
        return None
    if not isinstance(data, dict) or (data.get("graph_id") != graph_id and not any_item):
        return None
    snapshot = data.get("snapshot")
    return snapshot if isinstance(snapshot, dict) and snapshot else None


async def drop(ctx: SyncContext, kind: str, mailbox: str, fno_key: str) -> None:
    await ctx.store.delete_cursor(cursor_name(kind, mailbox, fno_key))
