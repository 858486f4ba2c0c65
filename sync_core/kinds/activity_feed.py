"""The F&O change feed of one activity category, shared by the kinds that live in `Activities`.

One query for all mailboxes (cross-company), ordered by `LastDateTimeEdited`, read a little behind the
saved watermark because clocks differ and edits inside one second happen. Rows are read whole and carried
to the pair jobs, which then need not read them again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sync_core.d365 import entities
from sync_core.kinds.base import EmitFno, FnoChange
from sync_core.kinds.keys import feed_watermark, fno_key, parse_fno_time
from sync_core.pipeline.context import SyncContext

FEED_PAGE = 100
# Keys the product adds to a carried row (what the pair job would otherwise read beside it). A row from
# F&O never carries them: any such key F&O sent is dropped before ours are added.
CARRIED_PREFIX = "@sync."
EnrichRows = Callable[[SyncContext, list[dict[str, Any]]], Awaitable[None]]


def without_carried_keys(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith(CARRIED_PREFIX)}


async def scan_activity_feed(
    ctx: SyncContext, category: str, cursor: str | None, emit: EmitFno, *, enrich: EnrichRows | None = None
) -> str | None:
    """Emit the activities of `category` edited since the watermark `cursor`; return the new watermark.
    `enrich` adds, for a batch of rows at once, what the kind's pair job needs beside each row."""
    watermark = parse_fno_time(cursor) if cursor else None
    since = watermark - timedelta(seconds=ctx.settings.fno_overlap_seconds) if watermark else None
    newest: datetime | None = watermark
    batch: list[FnoChange] = []

    marked_rows: list[dict[str, Any]] = []

    async def flush() -> None:
        if enrich is not None and marked_rows:
            await enrich(ctx, marked_rows)  # adds to the rows the changes below carry
        await emit(batch)

    async for raw in entities.activities_changed_since(ctx.fno, category, since):
        row = without_carried_keys(raw)
        edited = parse_fno_time(row.get("LastDateTimeEdited"))
        if edited is not None and (newest is None or edited > newest):
            newest = edited
        company, number = row.get("dataAreaId"), row.get("ActivityNumber")
        owner = str(row.get("ResponsibleWorkerPersonnelNumber") or "")
        if not isinstance(company, str) or not isinstance(number, str) or not number or not owner:
            continue  # no key, or nobody's activity: no mailbox to sync it with
        if row.get("KeepSynchronized") == "Yes":
            marked_rows.append(row)
        batch.append(
            FnoChange(
                fno_key=fno_key(company, number),
                owner=owner,
                marked=row.get("KeepSynchronized") == "Yes",
                edited_at=edited,
                version=str(row.get("LastDateTimeEdited") or "") or None,
                row=row,  # whole rows: the pair job maps this one without reading it again
            )
        )
        if len(batch) >= FEED_PAGE:
            await flush()
            batch, marked_rows = [], []
    if batch:
        await flush()
    return feed_watermark(newest, ctx.now(), ctx.settings.fno_overlap_seconds).isoformat()
