"""Shared contact lists: each list's query over ContactPersons (and optionally CustomersV3) fills a folder
in a shared mailbox (docs/spec.md §3.4). Contacts entering the query are added, contacts leaving it are removed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync_core.contacts.membership import (
    contacts_changed_since,
    effective,
    matches_shared,
    row_key,
    shared_members,
)
from sync_core.contacts.registry import SHARED_KIND, shared_list_for
from sync_core.kinds import inventory
from sync_core.kinds.activity_feed import MovedRows
from sync_core.kinds.contact import ON_LIST_KEY, ContactKindBase, feed_cursor
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import feed_watermark, parse_fno_time
from sync_core.runtime.kind import EmitFno, FnoChange


class SharedContactKind(ContactKindBase):
    name = SHARED_KIND

    def folder_name(self, ctx: SyncContext, mailbox: Mailbox) -> str:
        shared = shared_list_for(ctx.settings, mailbox.address)
        if shared is None:
            raise ValueError("this mailbox holds no shared contact list (SYNC_SHARED_LISTS)")
        return shared.folder

    async def on_list_by_rule(self, ctx: SyncContext, mailbox: Mailbox, row: Mapping[str, Any]) -> bool:
        shared = shared_list_for(ctx.settings, mailbox.address)
        return shared is not None and await matches_shared(ctx.fno, shared, row)

    # ---- reconciliation (pipeline/reconcile.py) ---------------------------------------------------------
    async def graph_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        folder_id = await self.existing_folder_id(ctx, mailbox)
        return await inventory.contact_graph(ctx, mailbox, folder_id, None)

    async def fno_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        shared = shared_list_for(ctx.settings, mailbox.address)
        if shared is None:
            return inventory.Inventory({}, lambda _link: False)
        return await inventory.shared_contact_fno(ctx, mailbox, await shared_members(ctx.fno, shared))

    async def scan_fno(self, ctx: SyncContext, cursor: str | None, emit: EmitFno) -> str | None:
        """Per list: the query's members compared with the list's links (entering, leaving), plus the
        linked members edited since the last scan, plus entries changed from the command line."""
        started = ctx.now()  # before reading (see feed_watermark)
        since, newest = self.feed_since(ctx, cursor)
        moved = MovedRows()
        watermark = newest
        changed: dict[str, dict[str, Any]] = {}
        async for row in contacts_changed_since(ctx.fno, since):
            edited = parse_fno_time(row.get("LastEditDateTime"))
            if edited is not None and (newest is None or edited > newest):
                newest = edited
            key = row_key(row)
            if key is not None:
                moved.see(key, edited)
                changed[key] = row
        records = {r.mailbox: r for r in await ctx.mailbox_records() if r.status == "ok"}
        for shared in ctx.settings.shared_lists:
            record = records.get(shared.mailbox.lower())
            if record is None:
                continue  # not resolved this cycle (reported as skipped)
            members = await shared_members(ctx.fno, shared)
            links = {
                link.fno_key
                for link in await ctx.store.list_links(self.name, record.mailbox)
                if not link.is_claim
            }
            entries = {e.contact_key: e for e in await ctx.store.list_contact_entries(record.mailbox)}
            wanted = {k for k in members if effective(True, entries.get(k))}
            wanted |= {k for k, e in entries.items() if e.member}
            keys: dict[str, bool] = {}
            for key in wanted - links:
                keys[key] = True  # entering the list
            for key in links - wanted:
                keys[key] = False  # leaving it
            edited_keys = links & wanted & set(changed)
            for key in edited_keys:
                keys[key] = True  # edited in F&O
            pending = [e for e in entries.values() if e.pending]
            for entry in pending:
                keys.setdefault(entry.contact_key, effective(entry.contact_key in members, entry))
            # Only an edit is judged by the row's edit stamp; entering, leaving and explicit entries are
            # changes of the list, not of the row.
            versioned = edited_keys - {e.contact_key for e in pending}
            rows = [found for key in keys if (found := members.get(key) or changed.get(key)) is not None]
            # Names only for rows a pair job will map as they are: edits of linked members, new since the
            # last scan (entering contacts are created, and the creation reads the contact person).
            named = {k for k in versioned if self.edited_after(changed[k], watermark)}
            carried = await self.carried_rows(ctx, rows, named)
            batch: list[FnoChange] = []
            for key, marked in sorted(keys.items()):
                carried_row = carried.get(key)
                if carried_row is None:
                    batch.append(
                        FnoChange(fno_key=key, owner=record.personnel_number, marked=marked, edited_at=None)
                    )
                    continue
                carried_row[ON_LIST_KEY] = key in members
                change = self.change(carried_row, record.personnel_number, marked, versioned=key in versioned)
                if change is not None:
                    batch.append(change)
            if batch:
                await emit(batch)
            await self.settle_entries(ctx, pending)
        return feed_cursor(
            feed_watermark(newest, started, ctx.settings.fno_overlap_seconds, held=moved.held), cursor
        )
