"""The F&O side of appointments and tasks: `Activities` of one category (runtime/side.py FnoSide).

One implementation for both kinds: the feed (kinds/activity_feed.py), reads, the lookup by the Exchange
item an activity names in `OutlookEntryId`, creates, conditional updates, the mark (`KeepSynchronized`)
and deletions. What differs per kind (the fields, attendees as parent links, a completed task never
deleted) stays in the kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync_core.d365 import entities
from sync_core.kinds.activity_feed import EnrichRows, existing_activity_keys, scan_activity_feed
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import fno_key, split_fno_key
from sync_core.runtime.kind import EmitFno

ENTITY = "Activities"


@dataclass(frozen=True)
class FnoActivities:
    category: str  # F&O's activity category: "Appointment", "Task"
    # Adds to each page of feed rows what the kind's mapping needs beside the row (an appointment's
    # attendees), read for the page at once.
    enrich: EnrichRows | None = None
    # Tasks read the activity before deleting it and leave one already gone alone, as they always have
    # (one read more than appointments; F&O's client already takes a 404 on DELETE as deleted).
    read_before_delete: bool = False

    async def read_changes(self, ctx: SyncContext, cursor: str | None, emit: EmitFno) -> str | None:
        return await scan_activity_feed(ctx, self.category, cursor, emit, enrich=self.enrich)

    async def get(self, ctx: SyncContext, key: str) -> dict[str, Any] | None:
        company, number = split_fno_key(key)
        return await entities.get_activity(ctx.fno, company, number)

    async def pointing_at(
        self, ctx: SyncContext, reference: str, *, mailbox: Mailbox | None = None
    ) -> list[dict[str, Any]]:
        rows = await entities.find_activities_by_outlook_entry_id(ctx.fno, reference)
        return [row for row in rows if row.get("Category") == self.category]

    async def create(
        self, ctx: SyncContext, mailbox: Mailbox, body: Mapping[str, Any], *, reference: str
    ) -> tuple[str, dict[str, Any]]:
        company = mailbox.record.company
        fields = dict(body)
        fields.update(
            {
                "dataAreaId": company,
                "Category": self.category,
                "KeepSynchronized": "Yes",
                "ResponsibleWorkerPersonnelNumber": mailbox.record.personnel_number,
                # Finds the activity again if we crash before the link is saved.
                "OutlookEntryId": reference,
            }
        )
        row = await ctx.fno.create(ENTITY, fields)
        return fno_key(company, str(row["ActivityNumber"])), row

    async def update(
        self, ctx: SyncContext, key: str, fields: Mapping[str, Any], *, if_match: str | None = None
    ) -> None:
        company, number = split_fno_key(key)
        await ctx.fno.update(ENTITY, entities.activity_key(company, number), dict(fields), if_match=if_match)

    async def set_mark(
        self, ctx: SyncContext, key: str, marked: bool, *, mailbox: Mailbox | None = None
    ) -> None:  # the mark is the record's own (`mailbox`: runtime/side.py)
        await self.update(ctx, key, {"KeepSynchronized": "Yes" if marked else "No"})

    async def delete(self, ctx: SyncContext, key: str, *, mailbox: Mailbox | None = None) -> None:
        if self.read_before_delete and await self.get(ctx, key) is None:
            return
        company, number = split_fno_key(key)
        await ctx.fno.delete(ENTITY, entities.activity_key(company, number))

    async def existing(self, ctx: SyncContext, keys: list[str]) -> set[str]:
        return await existing_activity_keys(ctx, keys)
