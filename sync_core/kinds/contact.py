"""Contacts: F&O `ContactPersons` <-> contacts in a contact folder (docs/spec.md §3.4, §4).

Two kinds share this code: `contact` (an employee's private list, folder `SYNC_CONTACT_FOLDER` in the
employee's mailbox) and `shared_contact` (shared lists, `kinds/contact_shared.py`). Both read and write
through the same two sides (runtime/side.py): the contacts of the list's folder (`kinds/graph_contacts.py`)
and F&O contact persons (`kinds/fno_contact_persons.py`); this module adds the mapping, the company lookup
and the rules. For both, the F&O
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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sync_core.contacts.companies import parties_named
from sync_core.contacts.creation import parse_token, token_for
from sync_core.contacts.membership import effective, row_key
from sync_core.contacts.registry import SHARED_KIND
from sync_core.engine.types import DeletionContext, SideView
from sync_core.exchange.errors import GraphError
from sync_core.kinds.fno_contact_persons import FnoContactPersons, StartLists
from sync_core.kinds.graph_contacts import FolderName, GraphContacts
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
from sync_core.runtime.keys import parse_fno_time, split_fno_key
from sync_core.runtime.kind import DeletionOutcome, FnoItem, GraphItem, Kind, Listings
from sync_core.runtime.messages import SyncPair
from sync_core.runtime.rules import KindRules
from sync_core.settings import Settings
from sync_core.state.base import Link

COMPANY_NOT_FOUND = "D365 company not found"
COMPANY_AMBIGUOUS = "D365 company ambiguous"
PROBLEM_CATEGORIES = (COMPANY_NOT_FOUND, COMPANY_AMBIGUOUS)
PROBLEM_COLOR = "preset0"  # red


class CompanyNotResolved(ValueError):
    """The Outlook contact's company matches no customer, vendor or prospect, or several (permanent until
    the user edits it; the message carries no personal data)."""


# ---- the rules (runtime/rules.py) -------------------------------------------------------------------
def _deletion_rule(context: DeletionContext) -> DeletionOutcome:
    # Gone in F&O: it leaves the folder. Gone in Outlook: it leaves the list, never F&O (docs/spec.md §4).
    return "delete_partner" if context.side_deleted == "fno" else "unlink"


RULES = KindRules(
    merge_groups=MERGE_GROUPS,
    # Written without reading first (pipeline/reads.py) unless one of these fields changes: the other
    # addresses and phones of the Outlook contact survive an update, and a new company is looked up.
    fields_needing_graph_item=frozenset({"email", *PHONE_FIELDS}),
    fields_needing_fno_row=frozenset({"company_name"}),
    graph_unmark_removes=True,  # off the list in F&O, the contact leaves the list's folder
    deletion_rule=_deletion_rule,
)


OnListByRule = Callable[[SyncContext, Mailbox, Mapping[str, Any]], Awaitable[bool]]


def no_creation_fields(ctx: SyncContext, mailbox: Mailbox) -> dict[str, Any]:
    return {}


def no_categories(ctx: SyncContext) -> list[str]:
    return []


@dataclass(frozen=True)
class ContactList:
    """What a private and a shared contact list do differently; the rest of the kind is this module's."""

    name: str
    # The folder of a mailbox's list (kinds/graph_contacts.py finds or creates it).
    folder_name: FolderName
    # Whether a contact person is on a mailbox's list by its rule or query (without an explicit entry).
    on_list_by_rule: OnListByRule
    # This kind's lists for one F&O feed scan (what each page of changed rows means for them).
    feed_lists: StartLists
    # Extra ContactPersons fields for a contact created from this mailbox.
    creation_fields: Callable[[SyncContext, Mailbox], dict[str, Any]] = no_creation_fields
    # The categories of a contact created in Outlook.
    categories_on_create: Callable[[SyncContext], list[str]] = no_categories
    # "or marks it with the category elsewhere": a contact with the sync category outside the folder.
    accepts_category_elsewhere: bool = False


class ContactMapping:
    """Contact persons (with their company's name) <-> Outlook contacts (model/contact.py); the F&O mark is
    list membership, the Exchange mark being in the list's folder."""

    def __init__(
        self, contact_list: ContactList, fno_side: FnoContactPersons, graph_side: GraphContacts
    ) -> None:
        self._list, self._fno, self._graph = contact_list, fno_side, graph_side

    def graph_if_match(self, settings: Settings, link: Link) -> str | None:
        return f'W/"{link.graph_version}"'

    def content_hash(self, record: Mapping[str, Any]) -> str:
        return content_hash(record)

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

    async def load_fno(self, ctx: SyncContext, key: str) -> FnoItem | None:
        # The pair job's FnoItem carries the company's name the mapping needs.
        return await self._fno.load(ctx, key)

    async def fno_item_from_row(self, ctx: SyncContext, key: str, row: Mapping[str, Any]) -> FnoItem:
        """The FnoItem `load_fno` would return, from the row a feed carried."""
        return await self._fno.item_from_row(ctx, key, row)

    async def fno_view(self, ctx: SyncContext, mailbox: Mailbox, item: FnoItem | None) -> SideView:
        if item is None:
            return SideView(present=False, marked=False)
        entry = await ctx.store.get_contact_entry(mailbox.address, item.key)
        by_rule: bool = False
        if entry is None:
            carried = item.extra.get("by_rule")  # the feed asked the list's query already
            by_rule = (
                carried
                if isinstance(carried, bool)
                else await self._list.on_list_by_rule(ctx, mailbox, item.row)
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
        return SideView(
            present=True,
            marked=await self._graph.marked(ctx, mailbox, item.item),
            record=contact_from_graph(item.item).model_dump(),
            modified_at=parse_fno_time(item.item.get("lastModifiedDateTime")),
        )


class ContactPartners:
    """The Outlook contact carrying a contact person's key (or the token of an unfinished create from it),
    and the contact person a stamp or a creation token names."""

    def __init__(
        self,
        contact_list: ContactList,
        fno_side: FnoContactPersons,
        graph_side: GraphContacts,
        mapping: ContactMapping,
    ) -> None:
        self._list, self._fno, self._graph, self._mapping = contact_list, fno_side, graph_side, mapping

    async def find_graph_partner(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem) -> GraphItem | None:
        if await self._graph.existing_folder_id(ctx, mailbox) is None:
            return None
        found = await self._graph.find_stamped(ctx, mailbox, fno.key)
        return found or await self._unfinished_create_of(ctx, mailbox, fno)

    async def _unfinished_create_of(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem
    ) -> GraphItem | None:
        """The Outlook contact whose create (still claimed, its token still on it) made this contact
        person. Nothing in F&O points back at the contact, so without this the F&O feed, reporting the new
        person before the create is finished, would have it created in Outlook a second time."""
        for claim in await ctx.store.list_links(self._list.name, mailbox.address):
            if claim.claimed_side != "fno":
                continue
            graph = await self._graph.get(ctx, mailbox, claim.graph_id)
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
        return await self._mapping.load_fno(ctx, graph.stamp)

    async def _find_created(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem) -> FnoItem | None:
        """A create from this contact was sent and not finished (its creation token is still on it): the
        contact person it made, if F&O applied it (see contacts/creation.py). The pair then links the two
        instead of creating a second one, and `stamp_graph` finishes the create."""
        if parse_token(graph.stamp) is None:
            return None
        for row in await self._fno.pointing_at(ctx, str(graph.stamp), mailbox=mailbox):
            key = row_key(row)
            if (
                key is None
                or await ctx.store.get_link_by_fno(self._list.name, mailbox.address, key) is not None
            ):
                continue  # linked already: another contact's person, however alike
            return await self._mapping.load_fno(ctx, key)
        return None


class ContactWrites:
    """Outlook contacts and contact persons written from the canonical record; a contact person created from
    Outlook is attached to the company its name matches, and its create finished by more than the stamp."""

    def __init__(
        self,
        contact_list: ContactList,
        fno_side: FnoContactPersons,
        graph_side: GraphContacts,
        mapping: ContactMapping,
    ) -> None:
        self._list, self._fno, self._graph, self._mapping = contact_list, fno_side, graph_side, mapping

    async def create_in_graph(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, record: Mapping[str, Any]
    ) -> GraphItem:
        body = contact_fields(from_record(record))
        body["categories"] = self._list.categories_on_create(ctx)
        return await self._graph.create(ctx, mailbox, body, stamp=fno.key)

    async def create_in_fno(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, record: Mapping[str, Any]
    ) -> FnoItem:
        contact = from_record(record)
        company = mailbox.record.company
        party = await self._resolve_company(ctx, mailbox, graph, company, contact.company_name)
        body = person_fields(contact)
        body.update(
            {
                "dataAreaId": company,
                "AssociatedPartyNumber": party,
                **self._list.creation_fields(ctx, mailbox),
            }
        )
        # The answer to the POST may be lost although F&O applied it (a timeout, a reset connection, a
        # crash): the creation token on the contact lets a retry find what it made (contacts/creation.py).
        token = token_for(body, ctx.now())
        earlier = parse_token(graph.stamp)
        if earlier is None or not earlier.same_create(token):
            await self._graph.stamp(ctx, mailbox, graph, token.value)
        key, _row = await self._fno.create(ctx, mailbox, body, reference=token.value)
        await self._finish_create(ctx, mailbox, graph, key)
        loaded = await self._mapping.load_fno(ctx, key)
        if loaded is None:
            raise RuntimeError("the contact person just created cannot be read back")
        return loaded

    async def _finish_create(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, key: str) -> None:
        """What follows the create of a contact person from `graph` (again, after a lost answer)."""
        # It came from this mailbox: it stays on this mailbox's list whatever the rule or query says.
        # Recorded before the stamp: once the stamp is there, nothing repeats this step.
        await self._fno.set_mark(ctx, key, True, mailbox=mailbox)
        # The stamp replaces the creation token: a retry finds the contact person by it.
        categories = [c for c in graph.item.get("categories") or [] if c not in PROBLEM_CATEGORIES]
        changed = categories != list(graph.item.get("categories") or [])
        await self._graph.stamp(ctx, mailbox, graph, key, categories=categories if changed else None)
        await self._offer_to_shared_lists(ctx, mailbox, key)

    async def _offer_to_shared_lists(self, ctx: SyncContext, mailbox: Mailbox, key: str) -> None:
        """A new contact person may belong to shared lists: let each list decide in this cycle, not the next."""
        pairs = [
            SyncPair(kind=SHARED_KIND, mailbox=shared.mailbox.lower(), fno_key=key)
            for shared in ctx.settings.shared_lists
            if not (self._list.name == SHARED_KIND and shared.mailbox.lower() == mailbox.address)
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
        await self._graph.set_categories(ctx, mailbox, graph.id, wanted)

    async def update_graph(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        graph: GraphItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str:
        patch = contact_fields(from_record(record), set(fields), current=graph.item)
        return await self._graph.update(ctx, mailbox, graph, patch)

    async def update_fno(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        fno: FnoItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str:
        contact = from_record(record)
        company = split_fno_key(fno.key)[0]
        plain = set(fields) - {"company_name"}
        if plain:
            await self._fno.update(ctx, fno.key, person_fields(contact, plain), if_match=fno.if_match)
        if "company_name" in fields:
            link = await ctx.store.get_link_by_fno(self._list.name, mailbox.address, fno.key)
            graph = await self._graph.get(ctx, mailbox, link.graph_id) if link else None
            parties = (
                await parties_named(ctx.fno, company, contact.company_name) if contact.company_name else []
            )
            if len(parties) != 1 or graph is None:
                if graph is not None:
                    await self._resolve_company(ctx, mailbox, graph, company, contact.company_name)
                raise CompanyNotResolved("the contact's new company cannot be matched in F&O")
            await self._fno.update(ctx, fno.key, {"AssociatedPartyNumber": parties[0].party_number})
            if any(c in PROBLEM_CATEGORIES for c in graph.item.get("categories") or []):
                kept = [c for c in graph.item.get("categories") or [] if c not in PROBLEM_CATEGORIES]
                await self._graph.set_categories(ctx, mailbox, graph.id, kept)
        return ""

    async def stamp_graph(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, fno_key: str) -> None:
        """The pair links a contact person to the Outlook contact whose create lost its answer: what the
        create did after the POST is done now (list entry, stamp over the creation token, categories)."""
        await self._finish_create(ctx, mailbox, graph, fno_key)


def contact_kind(contact_list: ContactList, listings: Callable[[GraphContacts], Listings]) -> Kind:
    """A contact list kind (private or shared): its two sides, this module's mapping, partners and writes, and
    the list's own listings for the reconciliation. A factory: the Graph side keeps the folders it found."""
    graph = GraphContacts(
        contact_list.name, contact_list.folder_name, contact_list.accepts_category_elsewhere
    )
    fno = FnoContactPersons(contact_list.name, contact_list.feed_lists)
    mapping = ContactMapping(contact_list, fno, graph)
    return Kind(
        name=contact_list.name,
        rules=RULES,  # the same for private and shared lists
        fno_side=fno,
        graph_side=graph,
        mapping=mapping,
        partners=ContactPartners(contact_list, fno, graph, mapping),
        writes=ContactWrites(contact_list, fno, graph, mapping),
        listings=listings(graph),
        # The list's folder (change notifications subscribe to it); a dry run never creates it.
        existing_folder_id=graph.existing_folder_id,
    )
