"""Contacts: F&O `ContactPersons` <-> contacts in a contact folder (docs/spec.md §3.4, §4).

Two kinds share this code: `contact` (an employee's private list, folder `SYNC_CONTACT_FOLDER` in the
employee's mailbox) and `shared_contact` (shared lists, `kinds/contact_shared.py`). For both, the F&O
"mark" of a pair is list membership (`sync_core.contacts.membership`) and the Exchange mark is being in
the list's folder (private lists also accept a contact carrying the sync category elsewhere):

- on the list in F&O, not in Outlook -> created in the folder, stamped with the F&O key;
- created in the folder (or category elsewhere) -> a new contact person attached to the company named in
  `companyName`; no or several matches -> nothing created, the contact gets `D365 company not found` /
  `D365 company ambiguous` and the reason is recorded; fixed by the user -> imported, category removed;
- off the list in F&O (rule, query or `contacts remove`) -> removed from the folder;
- deleted (or moved out) in Outlook -> taken off that list (an explicit entry), the contact person stays.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sync_core.contacts import graph as contact_graph
from sync_core.contacts.cache import lookups
from sync_core.contacts.companies import parties_named
from sync_core.contacts.creation import created_persons, parse_token, token_for
from sync_core.contacts.membership import (
    CONTACT_PERSONS,
    contacts_by_key,
    effective,
    record_entry,
    row_key,
)
from sync_core.contacts.registry import SHARED_KIND
from sync_core.engine.types import DeletionContext, SideView
from sync_core.exchange.errors import DeltaTokenExpired, GraphError
from sync_core.kinds.exchange_feed import graph_item, read_delta, toggled
from sync_core.model.contact import (
    MERGE_GROUPS,
    company_key,
    contact_fields,
    contact_from_graph,
    contact_from_person,
    content_hash,
    from_record,
    person_fields,
)
from sync_core.model.contact_base import PHONE_FIELDS
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import (
    STAMP_PROPERTY_ID,
    fno_key,
    page_mark,
    parse_fno_time,
    row_version,
    split_fno_key,
)
from sync_core.runtime.kind import (
    DeletionOutcome,
    EmitExchange,
    ExchangeChange,
    FnoChange,
    FnoItem,
    GraphItem,
    KindDefaults,
)
from sync_core.runtime.messages import SyncPair
from sync_core.settings import Settings
from sync_core.state.base import ContactListEntry, Link

COMPANY_NOT_FOUND = "D365 company not found"
COMPANY_AMBIGUOUS = "D365 company ambiguous"
PROBLEM_CATEGORIES = (COMPANY_NOT_FOUND, COMPANY_AMBIGUOUS)
PROBLEM_COLOR = "preset0"  # red
FEED_PAGE = 100
# What a feed adds to the row it carries to the pair job (never F&O columns: F&O's own annotations are
# `@odata.*`): the associated party's name and, for a shared list, whether its query selects the contact.
COMPANY_NAME_KEY = "@sync.companyName"
ON_LIST_KEY = "@sync.onList"
_ANNOTATION = "@sync."


class CompanyNotResolved(ValueError):
    """The Outlook contact's company matches no customer, vendor or prospect, or several (permanent until
    the user edits it; the message carries no personal data)."""


class ContactKindBase(KindDefaults):
    """What private and shared contact lists have in common; subclasses say who is on a list."""

    name = "contact"
    merge_groups = MERGE_GROUPS
    fields_finished_after_create: frozenset[str] = frozenset()
    accepts_category_elsewhere = False
    # Written without reading first (pipeline/reads.py) unless one of these fields changes: the other
    # addresses and phones of the Outlook contact survive an update, and a new company is looked up.
    fields_needing_graph_item: frozenset[str] = frozenset({"email", *PHONE_FIELDS})
    fields_needing_fno_row: frozenset[str] = frozenset({"company_name"})

    def graph_if_match(self, settings: Settings, link: Link) -> str | None:
        return f'W/"{link.graph_version}"'

    def __init__(self) -> None:
        self._folders: dict[str, contact_graph.Folder] = {}

    # ---- list rules (subclasses) -----------------------------------------------------------------
    def folder_name(self, ctx: SyncContext, mailbox: Mailbox) -> str:
        raise NotImplementedError

    async def on_list_by_rule(self, ctx: SyncContext, mailbox: Mailbox, row: Mapping[str, Any]) -> bool:
        raise NotImplementedError

    def creation_fields(self, ctx: SyncContext, mailbox: Mailbox) -> dict[str, Any]:
        """Extra ContactPersons fields for a contact created from this mailbox."""
        return {}

    def categories_on_create(self, ctx: SyncContext) -> list[str]:
        return []

    # ---- small things ----------------------------------------------------------------------------
    def content_hash(self, record: Mapping[str, Any]) -> str:
        return content_hash(record)

    def deletion_rule(self, context: DeletionContext) -> DeletionOutcome:
        # Gone in F&O: it leaves the folder. Gone in Outlook: it leaves the list, never F&O (docs/spec.md §4).
        return "delete_partner" if context.side_deleted == "fno" else "unlink"

    def in_scope(self, ctx: SyncContext, record: Mapping[str, Any]) -> bool:
        return True

    def is_organizer(self, graph: GraphItem | None) -> bool:
        return True

    async def align(
        self, ctx: SyncContext, mailbox: Mailbox, fno: SideView, graph: SideView
    ) -> tuple[SideView, SideView]:
        # "fabrikam  retail" in Outlook is the company F&O calls "Fabrikam Retail": equal, nothing to write.
        if fno.record is None or graph.record is None:
            return fno, graph
        ours, theirs = str(fno.record.get("company_name", "")), str(graph.record.get("company_name", ""))
        if ours != theirs and company_key(ours) == company_key(theirs):
            record = {**graph.record, "company_name": ours}
            graph = SideView(graph.present, graph.marked, record, graph.modified_at)
        return fno, graph

    # ---- the folder ------------------------------------------------------------------------------
    def cursor_name(self, mailbox: Mailbox) -> str:
        return f"graph:{self.name}:{mailbox.address}"

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
        cursor = await ctx.store.get_cursor(self.cursor_name(mailbox))
        folder = _saved_folder(_load_json(cursor.value if cursor else None), name)
        if folder is None or folder.parent_id is None:
            folder = await self._find_or_create(ctx, mailbox, name)
            if folder is None:
                return None
        self._folders[cache_key] = folder
        return folder

    @staticmethod
    async def _find_or_create(ctx: SyncContext, mailbox: Mailbox, name: str) -> contact_graph.Folder | None:
        if ctx.dry_run:
            return await contact_graph.find_folder(ctx.graph, mailbox.address, name)
        return await contact_graph.ensure_folder(ctx.graph, mailbox.address, name)

    def in_folder(self, item: Mapping[str, Any], folder_id: str) -> bool:
        return item.get("parentFolderId") == folder_id

    # ---- Exchange feed ---------------------------------------------------------------------------
    async def scan_exchange(
        self, ctx: SyncContext, mailbox: Mailbox, cursor: str | None, emit: EmitExchange
    ) -> str | None:
        name = self.folder_name(ctx, mailbox)
        saved = _load_json(cursor)
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
            folder = await self._find_or_create(ctx, mailbox, name)
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
        if self.accepts_category_elsewhere:
            if self._mark_scan_due(ctx, saved, links):
                sources.append(("default", contact_graph.default_folder_id(folder)))
                state["markScanAt"] = ctx.now().isoformat()
            else:
                # Contacts marked outside the folder are looked for every SYNC_CONTACT_MARK_SCAN_MINUTES.
                new_links["default"] = links["default"]
                state["markScanAt"] = saved["markScanAt"]
        for source, source_folder in sources:
            new_links[source] = await self._read_delta(
                ctx, mailbox, source_folder, links.get(source), emit, in_list_folder=source == "folder"
            )
        return json.dumps(state)

    @staticmethod
    def _mark_scan_due(ctx: SyncContext, saved: Mapping[str, Any], links: Mapping[str, Any]) -> bool:
        """Whether this scan also reads the default Contacts folder (always on a full round: whatever a
        full round does not list counts as gone)."""
        minutes = ctx.settings.contact_mark_scan_minutes
        last = parse_fno_time(saved.get("markScanAt")) if isinstance(saved.get("markScanAt"), str) else None
        if minutes == 0 or last is None or not isinstance(links.get("default"), str):
            return True
        elapsed = ctx.now() - last
        return elapsed < timedelta(0) or elapsed >= timedelta(minutes=minutes)

    async def _read_delta(
        self,
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
            # Contact delta sends whole contacts (all but the stamp, which the pair of a link does not
            # need): the pair job decides on this one without reading it again.
            carried = graph_item(item)
            return [ExchangeChange(graph_id, marked=marked, version=carried.version or None, item=carried)]

        pages = contact_graph.iter_delta(ctx.graph, mailbox.address, folder_id, delta_link)
        return (await read_delta(pages, changes_of, emit)).delta_link

    # ---- F&O feed helpers ------------------------------------------------------------------------
    def feed_since(self, ctx: SyncContext, cursor: str | None) -> tuple[datetime | None, datetime | None]:
        """(read from, current watermark): the feed reads a margin behind the watermark."""
        watermark = parse_fno_time(_load_json(cursor).get("edited")) if cursor else None
        if watermark is None:
            return None, None
        return watermark - timedelta(seconds=ctx.settings.fno_overlap_seconds), watermark

    @staticmethod
    def edited_after(row: Mapping[str, Any], watermark: datetime | None) -> bool:
        """Whether the previous scan may not have read this row (the overlap margin reads some rows twice;
        those are mostly echoes the scan drops, so the feed does not look up their party names). A stamp
        equal to the watermark may be new: our own writes during the last cycle carry its start time."""
        if watermark is None:
            return False  # a first read: nothing is linked yet, the pair jobs create and read themselves
        edited = parse_fno_time(row.get("LastEditDateTime"))
        return edited is None or edited >= watermark

    async def pending_entries(self, ctx: SyncContext) -> list[ContactListEntry]:
        return await ctx.store.list_contact_entries(pending=True)

    async def settle_entries(self, ctx: SyncContext, entries: list[ContactListEntry]) -> None:
        """The changes of these entries are queued: the next scan need not queue them again."""
        if ctx.dry_run:
            return
        from sync_core.state.base import ConcurrencyError

        for entry in entries:
            try:
                await ctx.store.save_contact_entry(entry.model_copy(update={"pending": False}))
            except ConcurrencyError:
                continue  # changed again meanwhile: stays pending for the next scan

    @staticmethod
    def change(
        row: Mapping[str, Any], owner: str, marked: bool, *, versioned: bool = True
    ) -> FnoChange | None:
        """The change of one row for one list. `versioned`: the row's edit stamp decides whether anything
        changed for this list (not so when an explicit entry or the list's query changed meanwhile)."""
        key = row_key(row)
        if key is None:
            return None
        version = row_version(row, "LastEditDateTime") if versioned else ""
        return FnoChange(
            fno_key=key,
            owner=owner,
            marked=marked,
            edited_at=parse_fno_time(row.get("LastEditDateTime")),
            version=version or None,
            row=row,
        )

    @staticmethod
    async def carried_rows(
        ctx: SyncContext, rows: Sequence[Mapping[str, Any]], named: set[str]
    ) -> dict[str, dict[str, Any]]:
        """key -> the row as the feed carries it: own annotations dropped, and for the keys in `named` the
        associated party's name added (looked up for all of them together, once per party and context)."""
        cache = lookups(ctx.fno)
        by_company: dict[str, list[str]] = {}
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            key = row_key(row)
            if key is None:
                continue
            out[key] = {k: v for k, v in row.items() if not str(k).startswith(_ANNOTATION)}
            party = row.get("AssociatedPartyNumber")
            if key in named and isinstance(party, str) and party:
                by_company.setdefault(split_fno_key(key)[0], []).append(party)
        for company, parties in by_company.items():
            await cache.prefetch_names(ctx.fno, company, parties)
        for key in named & set(out):
            party = out[key].get("AssociatedPartyNumber")
            company = split_fno_key(key)[0]
            name = await cache.party_name(ctx.fno, company, party) if isinstance(party, str) else ""
            out[key][COMPANY_NAME_KEY] = name
        return out

    # ---- reading a pair --------------------------------------------------------------------------
    async def load_fno(self, ctx: SyncContext, key: str) -> FnoItem | None:
        company, number = split_fno_key(key)
        row = await ctx.fno.get(CONTACT_PERSONS, {"dataAreaId": company, "ContactPersonId": number})
        if row is None:
            return None
        party = str(row.get("AssociatedPartyNumber") or "")
        name = await lookups(ctx.fno).party_name(ctx.fno, company, party)
        return FnoItem(
            key=key, row=row, version=row_version(row, "LastEditDateTime"), extra={"company": name}
        )

    async def fno_item_from_row(self, ctx: SyncContext, key: str, row: Mapping[str, Any]) -> FnoItem:
        """The FnoItem `load_fno` would return, from the row a feed carried (pipeline hook): the party's
        name and the list query's answer come with it when the feed knew them, else are looked up."""
        clean = {k: v for k, v in row.items() if not str(k).startswith(_ANNOTATION)}
        if row_key(clean) != key:
            raise ValueError("the carried contact person row does not belong to the pair")
        name = row.get(COMPANY_NAME_KEY)
        if not isinstance(name, str):
            party = str(clean.get("AssociatedPartyNumber") or "")
            name = await lookups(ctx.fno).party_name(ctx.fno, split_fno_key(key)[0], party)
        extra: dict[str, Any] = {"company": name}
        if isinstance(row.get(ON_LIST_KEY), bool):
            extra["by_rule"] = row[ON_LIST_KEY]
        return FnoItem(key=key, row=clean, version=row_version(row, "LastEditDateTime"), extra=extra)

    async def existing_fno_keys(self, ctx: SyncContext, keys: list[str]) -> set[str]:
        """For the deletion check: which linked contact persons F&O still has."""
        return set(await contacts_by_key(ctx.fno, keys))

    async def load_graph(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> GraphItem | None:
        item = await contact_graph.get_contact(ctx.graph, mailbox.address, graph_id)
        return graph_item(item) if item else None

    async def find_graph_partner(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem) -> GraphItem | None:
        key = fno.key
        folder_id = await self.existing_folder_id(ctx, mailbox)
        if folder_id is None:
            return None
        found = await contact_graph.find_by_stamp(ctx.graph, mailbox.address, folder_id, key)
        if found:
            return await self.load_graph(ctx, mailbox, str(found[0]["id"]))
        return await self._unfinished_create_of(ctx, mailbox, fno)

    async def _unfinished_create_of(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem
    ) -> GraphItem | None:
        """The Outlook contact whose create (still claimed, its token still on it) made this contact
        person. Nothing in F&O points back at the contact, so without this the F&O feed, reporting the new
        person before the create is finished, would have it created in Outlook a second time."""
        for claim in await ctx.store.list_links(self.name, mailbox.address):
            if claim.claimed_side != "fno":
                continue
            graph = await self.load_graph(ctx, mailbox, claim.graph_id)
            if graph is None or graph.stamp is None or parse_token(graph.stamp) is None:
                continue
            made = await self._find_created(ctx, mailbox, graph)
            if made is not None and made.key == fno.key:
                return graph
        return None

    async def find_fno_partner(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem) -> FnoItem | None:
        if not graph.stamp:
            return None
        if parse_token(graph.stamp) is not None:
            return await self._find_created(ctx, mailbox, graph)
        try:
            split_fno_key(graph.stamp)
        except ValueError:
            return None  # a stamp we did not write: ignore it rather than trust it
        return await self.load_fno(ctx, graph.stamp)

    async def _find_created(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem) -> FnoItem | None:
        """A create from this contact was sent and not finished (its creation token is still on it): the
        contact person it made, if F&O applied it (see contacts/creation.py). The pair then links the two
        instead of creating a second one, and `stamp_graph` finishes the create."""
        token = parse_token(graph.stamp)
        if token is None:
            return None
        company = mailbox.record.company
        for row in await created_persons(ctx.fno, company, token, ctx.settings.fno_overlap_seconds):
            key = row_key(row)
            if key is None or await ctx.store.get_link_by_fno(self.name, mailbox.address, key) is not None:
                continue  # linked already: another contact's person, however alike
            return await self.load_fno(ctx, key)
        return None

    async def fno_view(self, ctx: SyncContext, mailbox: Mailbox, item: FnoItem | None) -> SideView:
        if item is None:
            return SideView(present=False, marked=False)
        entry = await ctx.store.get_contact_entry(mailbox.address, item.key)
        by_rule: bool = False
        if entry is None:
            carried = item.extra.get("by_rule")  # the feed asked the list's query already
            by_rule = (
                carried if isinstance(carried, bool) else await self.on_list_by_rule(ctx, mailbox, item.row)
            )
        contact = contact_from_person(item.row, company_name=str(item.extra.get("company", "")))
        return SideView(
            present=True,
            marked=effective(by_rule, entry),
            record=contact.model_dump(),
            modified_at=parse_fno_time(item.row.get("LastEditDateTime")),
        )

    async def graph_view(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem | None) -> SideView:
        if item is None:
            return SideView(present=False, marked=False)
        folder_id = await self.existing_folder_id(ctx, mailbox)
        marked = (folder_id is not None and self.in_folder(item.item, folder_id)) or (
            self.accepts_category_elsewhere and ctx.settings.category in (item.item.get("categories") or [])
        )
        return SideView(
            present=True,
            marked=marked,
            record=contact_from_graph(item.item).model_dump(),
            modified_at=parse_fno_time(item.item.get("lastModifiedDateTime")),
        )

    # ---- writing ---------------------------------------------------------------------------------
    async def create_in_graph(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, record: Mapping[str, Any]
    ) -> GraphItem:
        body = contact_fields(from_record(record))
        body["categories"] = self.categories_on_create(ctx)
        body["singleValueExtendedProperties"] = [{"id": STAMP_PROPERTY_ID, "value": fno.key}]
        folder_id = await self.folder_id(ctx, mailbox)
        created = await contact_graph.create_contact(ctx.graph, mailbox.address, folder_id, body)
        return graph_item(created, stamp=fno.key)

    async def create_in_fno(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, record: Mapping[str, Any]
    ) -> FnoItem:
        contact = from_record(record)
        company = mailbox.record.company
        party = await self._resolve_company(ctx, mailbox, graph, company, contact.company_name)
        body = person_fields(contact)
        body.update(
            {"dataAreaId": company, "AssociatedPartyNumber": party, **self.creation_fields(ctx, mailbox)}
        )
        # The answer to the POST may be lost although F&O applied it (a timeout, a reset connection, a
        # crash): the creation token on the contact lets a retry find what it made (contacts/creation.py).
        token = token_for(body, ctx.now())
        earlier = parse_token(graph.stamp)
        if earlier is None or not earlier.same_create(token):
            stamp = {"singleValueExtendedProperties": [{"id": STAMP_PROPERTY_ID, "value": token.value}]}
            await contact_graph.update_contact(ctx.graph, mailbox.address, graph.id, stamp)
        row = await ctx.fno.create(CONTACT_PERSONS, body)
        key = fno_key(company, str(row["ContactPersonId"]))
        await self._finish_create(ctx, mailbox, graph, key)
        loaded = await self.load_fno(ctx, key)
        if loaded is None:
            raise RuntimeError("the contact person just created cannot be read back")
        return loaded

    async def _finish_create(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, key: str) -> None:
        """What follows the create of a contact person from `graph` (again, after a lost answer)."""
        # It came from this mailbox: it stays on this mailbox's list whatever the rule or query says.
        # Recorded before the stamp: once the stamp is there, nothing repeats this step.
        await record_entry(
            ctx.store, mailbox.address, key, True, origin="outlook", at=ctx.now(), pending=False
        )
        # The stamp replaces the creation token: a retry finds the contact person by it.
        categories = [c for c in graph.item.get("categories") or [] if c not in PROBLEM_CATEGORIES]
        patch: dict[str, Any] = {"singleValueExtendedProperties": [{"id": STAMP_PROPERTY_ID, "value": key}]}
        if categories != list(graph.item.get("categories") or []):
            patch["categories"] = categories
        await contact_graph.update_contact(ctx.graph, mailbox.address, graph.id, patch)
        await self._offer_to_shared_lists(ctx, mailbox, key)

    async def _offer_to_shared_lists(self, ctx: SyncContext, mailbox: Mailbox, key: str) -> None:
        """A new contact person may belong to shared lists: let each list decide in this cycle, not the next."""
        pairs = [
            SyncPair(kind=SHARED_KIND, mailbox=shared.mailbox.lower(), fno_key=key)
            for shared in ctx.settings.shared_lists
            if not (self.name == SHARED_KIND and shared.mailbox.lower() == mailbox.address)
        ]
        if pairs and SHARED_KIND in ctx.kinds:
            await ctx.queues.send(ctx.settings.item_queue, pairs)

    async def _resolve_company(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, company: str, name: str
    ) -> str:
        """The party number the contact is attached to, or the problem category and a recorded failure."""
        parties = await parties_named(ctx.fno, company, name) if name else []
        if len(parties) == 1:
            return parties[0].party_number
        problem = COMPANY_AMBIGUOUS if parties else COMPANY_NOT_FOUND
        await self._flag(ctx, mailbox, graph, problem)
        if parties:
            raise CompanyNotResolved(
                f"{len(parties)} customers, vendors or prospects in {company} carry the contact's company name;"
                f" nothing was created (category '{problem}' set in Outlook)"
            )
        raise CompanyNotResolved(
            f"no customer, vendor or prospect in {company} carries the contact's company name"
            f" (or it has none); nothing was created (category '{problem}' set in Outlook)"
        )

    async def _flag(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, problem: str) -> None:
        current = list(graph.item.get("categories") or [])
        wanted = [c for c in current if c not in PROBLEM_CATEGORIES] + [problem]
        if wanted == current or ctx.dry_run:
            return  # flagged already: no write
        with contextlib.suppress(GraphError):  # the category still works on the item without a colour
            await ctx.graph.ensure_category(mailbox.address, problem, PROBLEM_COLOR)
        await contact_graph.update_contact(ctx.graph, mailbox.address, graph.id, {"categories": wanted})

    async def update_graph(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        graph: GraphItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str:
        patch = contact_fields(from_record(record), set(fields), current=graph.item)
        updated = await contact_graph.update_contact(
            ctx.graph, mailbox.address, graph.id, patch, if_match=graph.if_match
        )
        return str(updated.get("changeKey") or graph.version)

    async def update_fno(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        fno: FnoItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str:
        contact = from_record(record)
        company, number = split_fno_key(fno.key)
        key = {"dataAreaId": company, "ContactPersonId": number}
        plain = set(fields) - {"company_name"}
        if plain:
            await ctx.fno.update(CONTACT_PERSONS, key, person_fields(contact, plain), if_match=fno.if_match)
        if "company_name" in fields:
            link = await ctx.store.get_link_by_fno(self.name, mailbox.address, fno.key)
            graph = await self.load_graph(ctx, mailbox, link.graph_id) if link else None
            parties = (
                await parties_named(ctx.fno, company, contact.company_name) if contact.company_name else []
            )
            if len(parties) != 1 or graph is None:
                if graph is not None:
                    await self._resolve_company(ctx, mailbox, graph, company, contact.company_name)
                raise CompanyNotResolved("the contact's new company cannot be matched in F&O")
            await ctx.fno.update(CONTACT_PERSONS, key, {"AssociatedPartyNumber": parties[0].party_number})
            if any(c in PROBLEM_CATEGORIES for c in graph.item.get("categories") or []):
                kept = [c for c in graph.item.get("categories") or [] if c not in PROBLEM_CATEGORIES]
                await contact_graph.update_contact(ctx.graph, mailbox.address, graph.id, {"categories": kept})
        return ""

    async def set_graph_mark(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, marked: bool
    ) -> None:
        folder_id = await self.folder_id(ctx, mailbox)
        if not marked and self.in_folder(graph.item, folder_id):
            # Off the list in F&O: the contact leaves the list's folder.
            await contact_graph.delete_contact(ctx.graph, mailbox.address, graph.id)
            return
        if not self.accepts_category_elsewhere:
            return
        categories = toggled(graph.item.get("categories"), ctx.settings.category, marked)
        if categories != list(graph.item.get("categories") or []):
            await contact_graph.update_contact(
                ctx.graph, mailbox.address, graph.id, {"categories": categories}
            )

    async def stamp_graph(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, fno_key: str) -> None:
        """The pair links a contact person to the Outlook contact whose create lost its answer: what the
        create did after the POST is done now (list entry, stamp over the creation token, categories)."""
        await self._finish_create(ctx, mailbox, graph, fno_key)

    async def set_fno_mark(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, marked: bool) -> None:
        # The F&O mark of a contact is its place on this mailbox's list: an explicit entry, never the record.
        await record_entry(
            ctx.store, mailbox.address, fno.key, marked, origin="outlook", at=ctx.now(), pending=False
        )

    async def delete_graph(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> None:
        await contact_graph.delete_contact(ctx.graph, mailbox.address, graph_id)

    async def delete_fno(self, ctx: SyncContext, mailbox: Mailbox, key: str) -> None:
        # Never deletes a contact person (docs/spec.md §4): it only leaves this mailbox's list.
        await record_entry(
            ctx.store, mailbox.address, key, False, origin="outlook", at=ctx.now(), pending=False
        )


def _saved_folder(saved: Mapping[str, Any], name: str) -> contact_graph.Folder | None:
    """The folder a scan cursor remembers for the folder setting `name` (cursors written before
    `defaultFolderId` was kept have no parent)."""
    folder_id, parent_id = saved.get("folderId"), saved.get("defaultFolderId")
    if saved.get("folder") != name or not isinstance(folder_id, str) or not folder_id:
        return None
    return contact_graph.Folder(folder_id, parent_id if isinstance(parent_id, str) and parent_id else None)


def _load_json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def feed_cursor(edited: datetime | None, previous: str | None) -> str | None:
    if edited is None:
        return previous
    return json.dumps({"edited": edited.isoformat()})


def page_checkpoint(
    ctx: SyncContext,
    newest: datetime | None,
    started: datetime,
    watermark: datetime | None,
    held: datetime | None,
) -> str | None:
    """The cursor a contact feed may resume from once the rows read so far are queued (as the activity
    feed's, see page_mark), or None when that is not ahead of the cursor it started from."""
    mark = page_mark(newest, started, ctx.settings.fno_overlap_seconds, held=held)
    if mark is None or (watermark is not None and mark <= watermark):
        return None
    return json.dumps({"edited": mark.isoformat()})
