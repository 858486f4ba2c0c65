"""Private contact lists: one per employee mailbox, in the folder `SYNC_CONTACT_FOLDER` (docs/spec.md §3.4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync_core.contacts.graph import default_folder_id
from sync_core.contacts.membership import (
    contacts_by_key,
    effective,
    on_private_rule,
    row_key,
)
from sync_core.contacts.registry import PRIVATE_KIND, is_shared_only
from sync_core.kinds import inventory
from sync_core.kinds.contact import ContactList, contact_kind
from sync_core.kinds.fno_contact_persons import (
    FeedWindow,
    carried_rows,
    change,
    chunked,
    settle_entries,
)
from sync_core.kinds.graph_contacts import GraphContacts
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.kind import EmitFno, FnoChange, Kind
from sync_core.state.base import ContactListEntry, MailboxRecord


def _folder_name(ctx: SyncContext, mailbox: Mailbox) -> str:
    return ctx.settings.contact_folder


async def _on_list_by_rule(ctx: SyncContext, mailbox: Mailbox, row: Mapping[str, Any]) -> bool:
    return on_private_rule(row, mailbox.record.personnel_number, ctx.settings.contact_categories)


def _creation_fields(ctx: SyncContext, mailbox: Mailbox) -> dict[str, Any]:
    return {
        "ContactPersonResponsiblePersonnelNumber": mailbox.record.personnel_number,
        "MicrosoftOutlookCategories": ctx.settings.contact_categories[0],
    }


def _categories_on_create(ctx: SyncContext) -> list[str]:
    return [ctx.settings.category]


async def _feed_lists(ctx: SyncContext, window: FeedWindow) -> _PrivateLists:
    """The F&O feed (kinds/fno_contact_persons.py) offers each changed contact person to every employee
    mailbox whose list it is on (or may have left: the scan keeps those that are linked there); after
    it, the list entries changed from the command line since the last scan. Each change carries its row."""
    records = [
        r
        for r in await ctx.mailbox_records()
        if r.status == "ok" and r.personnel_number and not is_shared_only(r)
    ]
    entries = await ctx.store.list_contact_entries()
    entry_of = {(e.mailbox, e.contact_key): e for e in entries}
    by_mailbox = {r.mailbox: r for r in records}
    pending = [e for e in entries if e.pending and e.mailbox in by_mailbox]
    return _PrivateLists(window, records, entry_of, pending)


class PrivateListings:
    """The list's folder and the default Contacts folder; the contact persons on the employee's list."""

    def __init__(self, graph_side: GraphContacts) -> None:
        self._graph = graph_side

    async def graph_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        folder = await self._graph.existing_folder(ctx, mailbox)
        if folder is None:
            return await inventory.contact_graph(ctx, mailbox, None, None)
        return await inventory.contact_graph(ctx, mailbox, folder.id, default_folder_id(folder))

    async def fno_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        return await inventory.private_contact_fno(ctx, mailbox)


PRIVATE_LIST = ContactList(
    name=PRIVATE_KIND,
    folder_name=_folder_name,
    on_list_by_rule=_on_list_by_rule,
    feed_lists=_feed_lists,
    creation_fields=_creation_fields,
    categories_on_create=_categories_on_create,
    # "or marks it with the category elsewhere": the default Contacts folder is read too.
    accepts_category_elsewhere=True,
)


def private_contact_kind() -> Kind:
    return contact_kind(PRIVATE_LIST, PrivateListings)


@dataclass
class _PrivateLists:
    """Every employee's private list as one feed scan sees them."""

    window: FeedWindow
    records: list[MailboxRecord]
    entry_of: dict[tuple[str, str], ContactListEntry]
    pending: list[ContactListEntry]
    seen: set[str] = field(default_factory=set)  # keys the feed listed

    async def page(
        self, ctx: SyncContext, rows: list[dict[str, Any]], checkpoint: str | None, emit: EmitFno
    ) -> None:
        allowed = ctx.settings.contact_categories
        forced = {(e.mailbox, e.contact_key) for e in self.pending}
        # (contact key, mailbox record, on its list) for every list the row may concern.
        offers: list[tuple[str, MailboxRecord, bool]] = []
        for row in rows:
            key = row_key(row)
            if key is None:
                continue
            self.seen.add(key)
            for record in self.records:
                on_list = effective(
                    on_private_rule(row, record.personnel_number, allowed),
                    self.entry_of.get((record.mailbox, key)),
                )
                if on_list or self.window.since is not None:
                    # A first read skips the rest: nothing can be linked yet, most are on no list.
                    offers.append((key, record, on_list))
        fresh = {row_key(row) for row in rows if self.window.edited_after(row)}
        named = {key for key, _, on_list in offers if on_list and key in fresh}
        carried = await carried_rows(ctx, rows, named)
        batch: list[FnoChange] = []
        for key, record, on_list in offers:
            versioned = (record.mailbox, key) not in forced
            found = change(carried[key], record.personnel_number, on_list, versioned=versioned)
            if found is not None:
                batch.append(found)
        chunks = chunked(batch)
        if checkpoint is not None and not chunks:
            chunks = [[]]  # nothing to queue, but the cursor may still move
        for n, chunk in enumerate(chunks):
            # The checkpoint goes with the page's last chunk: saved only once all of it is queued.
            await emit(chunk, checkpoint=checkpoint if n == len(chunks) - 1 else None)

    async def finish(self, ctx: SyncContext, emit: EmitFno) -> None:
        by_mailbox = {r.mailbox: r for r in self.records}
        rest = [e for e in self.pending if e.contact_key not in self.seen]
        rows = await contacts_by_key(ctx.fno, [e.contact_key for e in rest]) if rest else {}
        carried = await carried_rows(ctx, list(rows.values()), set())
        batch: list[FnoChange] = []
        for entry in rest:
            found = carried.get(entry.contact_key)
            record = by_mailbox[entry.mailbox]
            if found is None:
                continue  # the contact person is gone: nothing to add, the deletion check handles links
            made = change(found, record.personnel_number, effective(False, entry), versioned=False)
            if made is not None:
                batch.append(made)
        if batch:
            await emit(batch)
        await settle_entries(ctx, self.pending)
