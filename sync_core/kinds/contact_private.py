"""Private contact lists: one per employee mailbox, in the folder `SYNC_CONTACT_FOLDER` (docs/spec.md §3.4)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from sync_core.contacts.graph import default_folder_id
from sync_core.contacts.membership import (
    contacts_by_key,
    contacts_changed_since,
    effective,
    on_private_rule,
    row_key,
)
from sync_core.contacts.registry import PRIVATE_KIND, is_shared_only
from sync_core.kinds import activity_feed, inventory
from sync_core.kinds.activity_feed import MovedRows
from sync_core.kinds.contact import FEED_PAGE, ContactKindBase, feed_cursor, page_checkpoint
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import feed_watermark, parse_fno_time
from sync_core.runtime.kind import EmitFno, FnoChange
from sync_core.state.base import MailboxRecord

log = logging.getLogger(__name__)


class PrivateContactKind(ContactKindBase):
    name = PRIVATE_KIND
    # "or marks it with the category elsewhere": the default Contacts folder is read too.
    accepts_category_elsewhere = True

    def folder_name(self, ctx: SyncContext, mailbox: Mailbox) -> str:
        return ctx.settings.contact_folder

    async def on_list_by_rule(self, ctx: SyncContext, mailbox: Mailbox, row: Mapping[str, Any]) -> bool:
        return on_private_rule(row, mailbox.record.personnel_number, ctx.settings.contact_categories)

    # ---- reconciliation (pipeline/reconcile.py) ---------------------------------------------------------
    async def graph_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        folder = await self.existing_folder(ctx, mailbox)
        if folder is None:
            return await inventory.contact_graph(ctx, mailbox, None, None)
        return await inventory.contact_graph(ctx, mailbox, folder.id, default_folder_id(folder))

    async def fno_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        return await inventory.private_contact_fno(ctx, mailbox)

    def creation_fields(self, ctx: SyncContext, mailbox: Mailbox) -> dict[str, Any]:
        return {
            "ContactPersonResponsiblePersonnelNumber": mailbox.record.personnel_number,
            "MicrosoftOutlookCategories": ctx.settings.contact_categories[0],
        }

    def categories_on_create(self, ctx: SyncContext) -> list[str]:
        return [ctx.settings.category]

    async def scan_fno(self, ctx: SyncContext, cursor: str | None, emit: EmitFno) -> str | None:
        """Changed contact persons (one query for all mailboxes), each offered to every employee mailbox
        whose list it is on (or may have left: the scan keeps those that are linked there), plus the list
        entries changed from the command line since the last scan. Each change carries its row. The cursor
        is saved per page once its work is queued, and the read stops at the feed's time budget (as the
        activity feed's): a scan cut short resumes at its last page."""
        started = ctx.now()  # before reading (see feed_watermark)
        deadline = time.monotonic() + activity_feed.FEED_BUDGET_SECONDS
        stopped_at: str | None = None
        since, newest = self.feed_since(ctx, cursor)
        moved = MovedRows()
        watermark = newest
        allowed = ctx.settings.contact_categories
        records = [
            r
            for r in await ctx.mailbox_records()
            if r.status == "ok" and r.personnel_number and not is_shared_only(r)
        ]
        by_mailbox = {r.mailbox: r for r in records}
        entries = await ctx.store.list_contact_entries()
        entry_of = {(e.mailbox, e.contact_key): e for e in entries}
        pending = [e for e in entries if e.pending and e.mailbox in by_mailbox]
        forced = {(e.mailbox, e.contact_key) for e in pending}
        page: list[dict[str, Any]] = []
        seen: set[str] = set()

        async def flush(checkpoint: str | None = None) -> None:
            # (contact key, mailbox record, on its list) for every list the row may concern.
            offers: list[tuple[str, MailboxRecord, bool]] = []
            for row in page:
                key = row_key(row)
                if key is None:
                    continue
                for record in records:
                    on_list = effective(
                        on_private_rule(row, record.personnel_number, allowed),
                        entry_of.get((record.mailbox, key)),
                    )
                    if on_list or since is not None:
                        # A first read skips the rest: nothing can be linked yet, most are on no list.
                        offers.append((key, record, on_list))
            fresh = {row_key(row) for row in page if self.edited_after(row, watermark)}
            named = {key for key, _, on_list in offers if on_list and key in fresh}
            carried = await self.carried_rows(ctx, page, named)
            page.clear()
            batch: list[FnoChange] = []
            for key, record, on_list in offers:
                versioned = (record.mailbox, key) not in forced
                change = self.change(carried[key], record.personnel_number, on_list, versioned=versioned)
                if change is not None:
                    batch.append(change)
            chunks = [batch[start : start + FEED_PAGE] for start in range(0, len(batch), FEED_PAGE)]
            if checkpoint is not None and not chunks:
                chunks = [[]]  # nothing to queue, but the cursor may still move
            for n, chunk in enumerate(chunks):
                # The checkpoint goes with the page's last chunk: saved only once all of it is queued.
                await emit(chunk, checkpoint=checkpoint if n == len(chunks) - 1 else None)

        async for row in contacts_changed_since(ctx.fno, since):
            edited = parse_fno_time(row.get("LastEditDateTime"))
            if edited is not None and (newest is None or edited > newest):
                newest = edited
            key = row_key(row)
            if key is None:
                continue
            moved.see(key, edited)
            seen.add(key)
            page.append(row)
            if len(page) >= FEED_PAGE:
                checkpoint = page_checkpoint(ctx, newest, started, watermark, moved.held)
                await flush(checkpoint)
                if checkpoint is not None and time.monotonic() > deadline:
                    # Far behind (a first sync of a large tenant): stop at this page; the next cycle's
                    # scan goes on from here. The pending entries below are still handled.
                    log.info("F&O contact feed stopped at its time budget", extra={"kind": self.name})
                    stopped_at = checkpoint
                    break
        await flush()
        rest = [e for e in pending if e.contact_key not in seen]
        rows = await contacts_by_key(ctx.fno, [e.contact_key for e in rest]) if rest else {}
        carried = await self.carried_rows(ctx, list(rows.values()), set())
        batch: list[FnoChange] = []
        for entry in rest:
            found = carried.get(entry.contact_key)
            record = by_mailbox[entry.mailbox]
            if found is None:
                continue  # the contact person is gone: nothing to add, the deletion check handles links
            change = self.change(found, record.personnel_number, effective(False, entry), versioned=False)
            if change is not None:
                batch.append(change)
        if batch:
            await emit(batch)
        await self.settle_entries(ctx, pending)
        if stopped_at is not None:
            return stopped_at
        return feed_cursor(
            feed_watermark(newest, started, ctx.settings.fno_overlap_seconds, held=moved.held), cursor
        )
