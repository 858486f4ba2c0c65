"""The F&O change feed of one activity category, shared by the kinds that live in `Activities`.

One query for all mailboxes (cross-company), ordered by `LastDateTimeEdited` (key columns break ties),
read `SYNC_FNO_OVERLAP_SECONDS` behind the saved watermark: a row becomes readable only when its
transaction commits, with the stamp of when it was edited (a long transaction), and F&O's clock is not
ours. Rows read again inside that overlap are as their link holds them, and the scan drops them by version
(`pipeline/scan.py`); what the overlap still misses, the reconciliation finds. Rows are read whole and
carried to the pair jobs, which then need not read them again."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sync_core.d365 import entities
from sync_core.d365.odata import and_all, any_of, exact_string_eq, filter_chunks, is_safe_text
from sync_core.runtime.context import SyncContext
from sync_core.runtime.keys import (
    feed_watermark,
    fno_key,
    page_mark,
    parse_fno_time,
    row_version,
    split_fno_key,
)
from sync_core.runtime.kind import EmitFno, FnoChange

log = logging.getLogger(__name__)
FEED_PAGE = 100
# A feed scan reads at most about this long (then stops at a page boundary, its cursor saved): one
# execution stays well inside the Functions timeout whatever the backlog.
FEED_BUDGET_SECONDS = 240.0
# Keys the product adds to a carried row (what the pair job would otherwise read beside it). A row from
# F&O never carries them: any such key F&O sent is dropped before ours are added.
CARRIED_PREFIX = "@sync."
EnrichRows = Callable[[SyncContext, list[dict[str, Any]]], Awaitable[None]]


class MovedRows:
    """F&O pages by position (`$skiptoken`). A row edited while a feed pages moves to the end, where it is
    read again, and every row behind its old place moves up one: one of them may slip past a page boundary
    unread. That row's stamp is not older than the moved row's first one, so the feed's watermark holds
    there (`held`, see feed_watermark) and the next read, an overlap behind it, reads the row."""

    def __init__(self) -> None:
        self._first: dict[str, datetime | None] = {}
        self.held: datetime | None = None

    def see(self, key: str, edited: datetime | None) -> None:
        if key not in self._first:
            self._first[key] = edited
            return
        first = self._first[key]
        if first is not None and (self.held is None or first < self.held):
            self.held = first


def without_carried_keys(row: Mapping[str, Any]) -> dict[str, Any]:
    """The F&O row without what a feed added to it (and without any such key F&O might have sent)."""
    return {k: v for k, v in row.items() if not str(k).startswith(CARRIED_PREFIX)}


def activity_change(row: dict[str, Any]) -> FnoChange | None:
    """The change of one Activities row as the feed reports it (None: no key or no responsible worker).
    The whole row goes with it: the pair job maps it without reading it again."""
    company, number = row.get("dataAreaId"), row.get("ActivityNumber")
    owner = str(row.get("ResponsibleWorkerPersonnelNumber") or "")
    if not isinstance(company, str) or not isinstance(number, str) or not number or not owner:
        return None
    return FnoChange(
        fno_key=fno_key(company, number),
        owner=owner,
        marked=row.get("KeepSynchronized") == "Yes",
        edited_at=parse_fno_time(row.get("LastDateTimeEdited")),
        version=row_version(row, "LastDateTimeEdited") or None,
        row=row,
    )


async def scan_activity_feed(
    ctx: SyncContext, category: str, cursor: str | None, emit: EmitFno, *, enrich: EnrichRows | None = None
) -> str | None:
    """Emit the activities of `category` edited since the watermark `cursor`; return the new watermark.
    `enrich` adds, for a batch of rows at once, what the kind's pair job needs beside each row."""
    started = ctx.now()  # before reading: a row committed during the read is behind this
    deadline = time.monotonic() + FEED_BUDGET_SECONDS
    watermark = parse_fno_time(cursor) if cursor else None
    since = watermark - timedelta(seconds=ctx.settings.fno_overlap_seconds) if watermark else None
    newest: datetime | None = watermark
    batch: list[FnoChange] = []

    marked_rows: list[dict[str, Any]] = []
    moved = MovedRows()

    async def flush(checkpoint: str | None = None) -> None:
        if enrich is not None and marked_rows:
            await enrich(ctx, marked_rows)  # adds to the rows the changes below carry
        await emit(batch, checkpoint=checkpoint)

    async for raw in entities.activities_changed_since(ctx.fno, category, since):
        row = without_carried_keys(raw)
        edited = parse_fno_time(row.get("LastDateTimeEdited"))
        if edited is not None and (newest is None or edited > newest):
            newest = edited
        moved.see(f"{row.get('dataAreaId')}|{row.get('ActivityNumber')}", edited)
        change = activity_change(row)
        if change is None:
            continue  # no key, or nobody's activity: no mailbox to sync it with
        if change.marked and (watermark is None or edited is None or edited >= watermark):
            # Only rows the last read cannot have seen (a stamp equal to the watermark may be new): the
            # others, read again inside the overlap, are mostly as their links hold them and dropped by the
            # scan. One that is not (visible late) is carried without its parent links, and its pair job
            # reads them.
            marked_rows.append(row)
        batch.append(change)
        if len(batch) >= FEED_PAGE:
            # A full page, so likely more: where to resume once it is queued. Only when ahead of
            # the cursor read: an idle feed's one short page saves its cursor once, at the end.
            mark = page_mark(newest, started, ctx.settings.fno_overlap_seconds, held=moved.held)
            ahead = mark is not None and (watermark is None or mark > watermark)
            await flush(mark.isoformat() if mark is not None and ahead else None)
            batch, marked_rows = [], []
            if ahead and mark is not None and time.monotonic() > deadline:
                # Far behind (a first sync of a large tenant): stop at this page, inside the function
                # timeout; the next cycle's scan goes on from here.
                log.info("F&O feed stopped at its time budget", extra={"category": category})
                return mark.isoformat()
    if batch:
        await flush()
    return feed_watermark(newest, started, ctx.settings.fno_overlap_seconds, held=moved.held).isoformat()


async def existing_activity_keys(ctx: SyncContext, keys: list[str]) -> set[str]:
    """The keys of `keys` whose Activities row still exists: one query per company and chunk of numbers
    (not one call per link). Keys that cannot be asked about safely count as existing: never delete
    what could not be checked."""
    by_company: dict[str, dict[str, str]] = {}
    existing: set[str] = set()
    for key in keys:
        try:
            company, number = split_fno_key(key)
        except ValueError:
            existing.add(key)
            continue
        if not is_safe_text(company) or not is_safe_text(number):
            existing.add(key)
            continue
        by_company.setdefault(company, {})[number.lower()] = key
    for company, numbers in by_company.items():
        for chunk in filter_chunks("ActivityNumber", [split_fno_key(k)[1] for k in numbers.values()]):
            flt = and_all(exact_string_eq("dataAreaId", company), any_of("ActivityNumber", chunk))
            async for row in ctx.fno.query("Activities", filter=flt, select=["dataAreaId", "ActivityNumber"]):
                got, area = row.get("ActivityNumber"), row.get("dataAreaId")
                if not isinstance(got, str) or not isinstance(area, str) or area.lower() != company.lower():
                    continue
                found = numbers.get(got.rstrip(" ").lower())
                if found is not None:
                    existing.add(found)
    return existing
