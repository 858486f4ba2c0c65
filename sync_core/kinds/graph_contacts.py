"""The Exchange side of contacts: the contacts of one list's folder in a mailbox (runtime/side.py GraphSide).

The folder is per mailbox and per list (`SYNC_CONTACT_FOLDER` in an employee's mailbox, a shared list's
folder in its mailbox). The protocol's signatures name a mailbox, not a folder, and they fit as they are:
the side finds the folder from the mailbox (`folder_name`), remembered by the mailbox scan in its cursor
and here per mailbox, else looked up (or created). So `GraphEvents` and the pair job are unchanged.

A contact is marked when it is in the folder (private lists also accept one carrying the sync category
elsewhere, `category_elsewhere`): clearing the mark of one in the folder removes it from the folder. Its
stamp (the F&O key, or a creation token while a create from Outlook is unfinished, contacts/creation.py) is
a single-value extended property. The delta of the folder (and, for private lists, of the default Contacts
folder) is read here as well, since its cursor is where the folder is remembered."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sync_core.contacts import graph as contact_graph
from sync_core.exchange.errors import DeltaTokenExpired
from sync_core.kinds.exchange_feed import graph_item, read_delta, toggled
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import STAMP_PROPERTY_ID, cursor_object, exchange_cursor_name, parse_fno_time
from sync_core.runtime.kind import EmitExchange, ExchangeChange, GraphItem

FolderName = Callable[[SyncContext, Mailbox], str]


def _stamp_property(value: str) -> list[dict[str, str]]:
    return [{"id": STAMP_PROPERTY_ID, "value": value}]


@dataclass(frozen=True)
class GraphContacts:
    kind: str  # whose scan cursor remembers the folder (runtime/keys.py exchange_cursor_name)
    folder_name: FolderName  # the folder setting of a mailbox's list
    category_elsewhere: bool = False  # a contact with the sync category outside the folder is marked too
    # Mailbox|folder name -> the folder, once found in this process.
    _folders: dict[str, contact_graph.Folder] = field(default_factory=dict, compare=False, repr=False)

    # ---- the folder ------------------------------------------------------------------------------
    async def folder_id(self, ctx: SyncContext, mailbox: Mailbox) -> str:
        """The list folder's id: remembered by the mailbox scan in its cursor, else looked up (or created)."""
        found = await self.existing_folder_id(ctx, mailbox)
        if found is None:
            raise RuntimeError("a dry run cannot create the contact folder")
        return found

    async def existing_folder_id(self, ctx: SyncContext, mailbox: Mailbox) -> str | None:
        """Like `folder_id`, but a dry run never creates the folder (None: it does not exist yet)."""
        folder = await self.existing_folder(ctx, mailbox)
        return folder.id if folder else None

    async def existing_folder(self, ctx: SyncContext, mailbox: Mailbox) -> contact_graph.Folder | None:
        """The list folder and its parent, the default Contacts folder (None: no folder in a dry run)."""
        name = self.folder_name(ctx, mailbox)
        cache_key = f"{mailbox.address}|{name}"
        if cache_key in self._folders:
            return self._folders[cache_key]
        cursor = await ctx.store.get_cursor(exchange_cursor_name(self.kind, mailbox.address))
        folder = _saved_folder(cursor_object(cursor.value if cursor else None), name)
        if folder is None or folder.parent_id is None:
            folder = await _find_or_create(ctx, mailbox, name)
            if folder is None:
                return None
        self._folders[cache_key] = folder
        return folder

    async def marked(self, ctx: SyncContext, mailbox: Mailbox, item: Mapping[str, Any]) -> bool:
        """In the list's folder, or (private lists) carrying the sync category anywhere."""
        folder_id = await self.existing_folder_id(ctx, mailbox)
        in_folder = folder_id is not None and item.get("parentFolderId") == folder_id
        return in_folder or (
            self.category_elsewhere and ctx.settings.category in (item.get("categories") or [])
        )

    # ---- the changes -----------------------------------------------------------------------------
    async def read_changes(
        self, ctx: SyncContext, mailbox: Mailbox, cursor: str | None, emit: EmitExchange
    ) -> str | None:
        """One delta round of the folder (and, every SYNC_CONTACT_MARK_SCAN_MINUTES, of the default
        Contacts folder for contacts marked there); returns the cursor naming the folder and both links."""
        name = self.folder_name(ctx, mailbox)
        saved = cursor_object(cursor)
        links: dict[str, Any] = {}
        folder = _saved_folder(saved, name)
        if folder is not None:
            if folder.parent_id is None:
                # A cursor from before the default Contacts folder was read by its id (its delta link is
                # of the undocumented /users/{id}/contacts/delta): one full round, like an expired token.
                raise DeltaTokenExpired(0, "CursorWithoutDefaultFolder", "contact cursor of an older format")
            if isinstance(saved.get("links"), dict):
                links = saved["links"]
        else:
            # First scan, a full resync or a renamed folder setting: find (or create) the folder, read all.
            folder = await _find_or_create(ctx, mailbox, name)
            if folder is None:
                return None  # a dry run and no folder yet: nothing in it to read
        self._folders[f"{mailbox.address}|{name}"] = folder
        sources: list[tuple[str, str]] = [("folder", folder.id)]
        new_links: dict[str, str | None] = {}
        state: dict[str, Any] = {
            "folder": name,
            "folderId": folder.id,
            "defaultFolderId": folder.parent_id,
            "links": new_links,
        }
        if self.category_elsewhere:
            if _mark_scan_due(ctx, saved, links):
                sources.append(("default", contact_graph.default_folder_id(folder)))
                state["markScanAt"] = ctx.now().isoformat()
            else:
                # Contacts marked outside the folder are looked for every SYNC_CONTACT_MARK_SCAN_MINUTES.
                new_links["default"] = links["default"]
                state["markScanAt"] = saved["markScanAt"]
        for source, source_folder in sources:
            new_links[source] = await _read_delta(
                ctx, mailbox, source_folder, links.get(source), emit, in_list_folder=source == "folder"
            )
        return json.dumps(state)

    # ---- the side --------------------------------------------------------------------------------
    async def get(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> GraphItem | None:
        item = await contact_graph.get_contact(ctx.graph, mailbox.address, graph_id)
        return graph_item(item) if item else None

    async def find_stamped(self, ctx: SyncContext, mailbox: Mailbox, fno_key: str) -> GraphItem | None:
        folder_id = await self.existing_folder_id(ctx, mailbox)
        if folder_id is None:
            return None
        found = await contact_graph.find_by_stamp(ctx.graph, mailbox.address, folder_id, fno_key)
        return await self.get(ctx, mailbox, str(found[0]["id"])) if found else None

    async def create(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        body: Mapping[str, Any],
        *,
        stamp: str,
        container: str | None = None,
    ) -> GraphItem:
        """Made in the list's folder (`container` unused: the folder is found per mailbox)."""
        fields = dict(body)
        fields["singleValueExtendedProperties"] = _stamp_property(stamp)
        folder_id = await self.folder_id(ctx, mailbox)
        created = await contact_graph.create_contact(ctx.graph, mailbox.address, folder_id, fields)
        return graph_item(created, stamp=stamp)

    async def update(
        self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, patch: Mapping[str, Any]
    ) -> str:
        updated = await contact_graph.update_contact(
            ctx.graph, mailbox.address, item.id, dict(patch), if_match=item.if_match
        )
        return str(updated.get("changeKey") or item.version)

    async def set_mark(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, marked: bool) -> None:
        folder_id = await self.folder_id(ctx, mailbox)
        if not marked and item.item.get("parentFolderId") == folder_id:
            # Off the list in F&O: the contact leaves the list's folder.
            await self.delete(ctx, mailbox, item.id)
            return
        if not self.category_elsewhere:
            return
        categories = toggled(item.item.get("categories"), ctx.settings.category, marked)
        if categories != list(item.item.get("categories") or []):
            await self.set_categories(ctx, mailbox, item.id, categories)

    async def stamp(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        item: GraphItem,
        fno_key: str,
        *,
        categories: list[str] | None = None,
    ) -> None:
        """`fno_key`: the F&O key, or a creation token before the create from Outlook is sent.
        `categories`: set in the same request (the finished create clears its problem category)."""
        patch: dict[str, Any] = {"singleValueExtendedProperties": _stamp_property(fno_key)}
        if categories is not None:
            patch["categories"] = categories
        await contact_graph.update_contact(ctx.graph, mailbox.address, item.id, patch)

    async def set_categories(
        self, ctx: SyncContext, mailbox: Mailbox, graph_id: str, categories: list[str]
    ) -> None:
        await contact_graph.update_contact(ctx.graph, mailbox.address, graph_id, {"categories": categories})

    async def delete(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> None:
        await contact_graph.delete_contact(ctx.graph, mailbox.address, graph_id)


async def _find_or_create(ctx: SyncContext, mailbox: Mailbox, name: str) -> contact_graph.Folder | None:
    if ctx.dry_run:
        return await contact_graph.find_folder(ctx.graph, mailbox.address, name)
    return await contact_graph.ensure_folder(ctx.graph, mailbox.address, name)


def _saved_folder(saved: Mapping[str, Any], name: str) -> contact_graph.Folder | None:
    """The folder a scan cursor remembers for the folder setting `name` (cursors written before
    `defaultFolderId` was kept have no parent)."""
    folder_id, parent_id = saved.get("folderId"), saved.get("defaultFolderId")
    if saved.get("folder") != name or not isinstance(folder_id, str) or not folder_id:
        return None
    return contact_graph.Folder(folder_id, parent_id if isinstance(parent_id, str) and parent_id else None)


def _mark_scan_due(ctx: SyncContext, saved: Mapping[str, Any], links: Mapping[str, Any]) -> bool:
    """Whether this scan also reads the default Contacts folder (always on a full round: whatever a full
    round does not list counts as gone)."""
    minutes = ctx.settings.contact_mark_scan_minutes
    last = parse_fno_time(saved.get("markScanAt")) if isinstance(saved.get("markScanAt"), str) else None
    if minutes == 0 or last is None or not isinstance(links.get("default"), str):
        return True
    elapsed = ctx.now() - last
    return elapsed < timedelta(0) or elapsed >= timedelta(minutes=minutes)


async def _read_delta(
    ctx: SyncContext,
    mailbox: Mailbox,
    folder_id: str,
    delta_link: str | None,
    emit: EmitExchange,
    *,
    in_list_folder: bool,
) -> str | None:
    async def changes_of(graph_id: str, item: Mapping[str, Any]) -> list[ExchangeChange]:
        marked = in_list_folder or ctx.settings.category in (item.get("categories") or [])
        # Contact delta sends whole contacts (all but the stamp, which the pair of a link does not need):
        # the pair job decides on this one without reading it again.
        carried = graph_item(item)
        return [ExchangeChange(graph_id, marked=marked, version=carried.version or None, item=carried)]

    pages = contact_graph.iter_delta(ctx.graph, mailbox.address, folder_id, delta_link)
    return (await read_delta(pages, changes_of, emit)).delta_link
