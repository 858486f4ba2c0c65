"""Shared contact lists: each list's query over ContactPersons (and optionally CustomersV3) fills a folder
in a shared mailbox (docs/spec.md §3.4). Contacts entering the query are added, contacts leaving it are removed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync_core.contacts.membership import (
    effective,
    matches_shared,
    row_key,
    shared_members,
)
from sync_core.contacts.registry import SHARED_KIND, shared_list_for
from sync_core.kinds import inventory
from sync_core.kinds.contact import ContactList, contact_kind
from sync_core.kinds.fno_contact_persons import (
    ON_LIST_KEY,
    FeedWindow,
    carried_rows,
    change,
    settle_entries,
)
from sync_core.kinds.graph_contacts import GraphContacts
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.kind import EmitFno, FnoChange, Kind
from sync_core.state.base import ContactListEntry, MailboxRecord


def _folder_name(ctx: SyncContext, mailbox: Mailbox) -> str:
    shared = shared_list_for(ctx.settings, mailbox.address)
    if shared is None:
        raise ValueError("this mailbox holds no shared contact list (SYNC_SHARED_LISTS)")
    return shared.folder


async def _on_list_by_rule(ctx: SyncContext, mailbox: Mailbox, row: Mapping[str, Any]) -> bool:
    shared = shared_list_for(ctx.settings, mailbox.address)
    return shared is not None and await matches_shared(ctx.fno, shared, row)


async def _feed_lists(ctx: SyncContext, window: FeedWindow) -> _SharedLists:
    """Per list, the F&O feed (kinds/fno_contact_persons.py) queues the linked members edited since the
    last scan; after it, the query's members are compared with the list's links (entering, leaving)
    and the entries changed from the command line are queued. Those do not depend on the cursor: a
    scan cut short resumes at its last page and the next one still compares the lists."""
    records = {r.mailbox: r for r in await ctx.mailbox_records() if r.status == "ok"}
    lists: list[_ListState] = []
    for shared in ctx.settings.shared_lists:
        record = records.get(shared.mailbox.lower())
        if record is None:
            continue  # not resolved this cycle (reported as skipped)
        members = await shared_members(ctx.fno, shared)
        links = {
            link.fno_key
            for link in await ctx.store.list_links(SHARED_KIND, record.mailbox)
            if not link.is_claim
        }
        entries = {e.contact_key: e for e in await ctx.store.list_contact_entries(record.mailbox)}
        wanted = {k for k in members if effective(True, entries.get(k))}
        wanted |= {k for k, e in entries.items() if e.member}
        lists.append(_ListState(record, members, links, entries, wanted))
    # Rows the comparison after the feed carries (leaving contacts, explicit entries): kept as read.
    kept_keys = set().union(*(s.links - s.wanted | s.pending_keys for s in lists))
    return _SharedLists(window, lists, kept_keys)


class SharedListings:
    """The shared list's folder; the members of its query."""

    def __init__(self, graph_side: GraphContacts) -> None:
        self._graph = graph_side

    async def graph_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        folder_id = await self._graph.existing_folder_id(ctx, mailbox)
        return await inventory.contact_graph(ctx, mailbox, folder_id, None)

    async def fno_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        shared = shared_list_for(ctx.settings, mailbox.address)
        if shared is None:
            return inventory.Inventory({}, lambda _link: False)
        return await inventory.shared_contact_fno(ctx, mailbox, await shared_members(ctx.fno, shared))


SHARED_LIST = ContactList(
    name=SHARED_KIND, folder_name=_folder_name, on_list_by_rule=_on_list_by_rule, feed_lists=_feed_lists
)


def shared_contact_kind() -> Kind:
    return contact_kind(SHARED_LIST, SharedListings)


@dataclass
class _ListState:
    """One shared list as this scan sees it."""

    record: MailboxRecord
    members: dict[str, dict[str, Any]]
    links: set[str]
    entries: dict[str, ContactListEntry]
    wanted: set[str]
    emitted: set[str] = field(default_factory=set)  # keys queued from the feed's pages

    @property
    def pending_keys(self) -> set[str]:
        return {k for k, e in self.entries.items() if e.pending}


@dataclass
class _SharedLists:
    """Every shared list as one feed scan sees them."""

    window: FeedWindow
    lists: list[_ListState]
    kept_keys: set[str]
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def page(
        self, ctx: SyncContext, rows: list[dict[str, Any]], checkpoint: str | None, emit: EmitFno
    ) -> None:
        page: dict[str, dict[str, Any]] = {}
        for row in rows:
            key = row_key(row)
            if key is None:
                continue
            page[key] = row
            if key in self.kept_keys:
                self.kept[key] = row
        batch: list[FnoChange] = []
        for state in self.lists:
            edited = state.links & state.wanted & set(page)
            # Only an edit is judged by the row's edit stamp; explicit entries are list changes.
            versioned = edited - state.pending_keys
            members = [state.members.get(k) or page[k] for k in edited]
            # Names only for rows a pair job will map as they are (edits new since the last scan).
            named = {k for k in versioned if self.window.edited_after(page[k])}
            carried = await carried_rows(ctx, members, named)
            for key in sorted(edited):
                state.emitted.add(key)
                carried_row = carried.get(key, page[key])
                carried_row[ON_LIST_KEY] = key in state.members
                made = change(carried_row, state.record.personnel_number, True, versioned=key in versioned)
                if made is not None:
                    batch.append(made)
        if batch or checkpoint is not None:
            await emit(batch, checkpoint=checkpoint)

    async def finish(self, ctx: SyncContext, emit: EmitFno) -> None:
        for state in self.lists:
            keys: dict[str, bool] = {}
            for key in state.wanted - state.links:
                keys[key] = True  # entering the list
            for key in state.links - state.wanted:
                keys[key] = False  # leaving it
            for key in state.pending_keys - state.emitted:
                keys.setdefault(key, effective(key in state.members, state.entries[key]))
            rows = [
                found for key in keys if (found := state.members.get(key) or self.kept.get(key)) is not None
            ]
            carried = await carried_rows(ctx, rows, set())
            batch: list[FnoChange] = []
            for key, marked in sorted(keys.items()):
                owner = state.record.personnel_number
                carried_row = carried.get(key)
                if carried_row is None:
                    batch.append(FnoChange(fno_key=key, owner=owner, marked=marked, edited_at=None))
                    continue
                carried_row[ON_LIST_KEY] = key in state.members
                made = change(carried_row, owner, marked, versioned=False)
                if made is not None:
                    batch.append(made)
            if batch:
                await emit(batch)
            await settle_entries(ctx, [e for e in state.entries.values() if e.pending])
