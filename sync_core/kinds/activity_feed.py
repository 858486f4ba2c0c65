"""The F&O change feed of one activity category, shared by the kinds that live in `Activities`.

One query for all mailboxes (cross-company), ordered by `LastDateTimeEdited`, read a little behind the
saved watermark because clocks differ and edits inside one second happen. Rows are read whole and carried
to the pair jobs, which then need not read them again."""

from __future__ import annotations

from datetime import datetime, timedelta

from sync_core.d365 import entities
from sync_core.kinds.base import EmitFno, FnoChange
from sync_core.kinds.keys import feed_watermark, fno_key, parse_fno_time
from sync_core.pipeline.context import SyncContext

FEED_PAGE = 100


async def scan_activity_feed(
    ctx: SyncContext, category: str, cursor: str | None, emit: EmitFno
) -> str | None:
    """Emit the activities of `category` edited since the watermark `cursor`; return the new watermark."""
    watermark = parse_fno_time(cursor) if cursor else None
    since = watermark - timedelta(seconds=ctx.settings.fno_overlap_seconds) if watermark else None
    newest: datetime | None = watermark
    batch: list[FnoChange] = []
    async for row in entities.activities_changed_since(ctx.fno, category, since):
        edited = parse_fno_time(row.get("LastDateTimeEdited"))
        if edited is not None and (newest is None or edited > newest):
            newest = edited
        company, number = row.get("dataAreaId"), row.get("ActivityNumber")
        owner = str(row.get("ResponsibleWorkerPersonnelNumber") or "")
        if not isinstance(company, str) or not isinstance(number, str) or not number or not owner:
            continue  # no key, or nobody's activity: no mailbox to sync it with
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
            await emit(batch)
            batch = []
    if batch:
        await emit(batch)
    return feed_watermark(newest, ctx.now(), ctx.settings.fno_overlap_seconds).isoformat()
