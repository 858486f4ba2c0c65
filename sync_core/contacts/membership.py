"""Who is on which contact list (docs/spec.md §3.4).

- Private list of a mailbox: contact persons whose responsible worker is the mailbox's worker and whose
  `MicrosoftOutlookCategories` holds one of the allowed categories, plus explicit additions (command line,
  or contacts that came from that mailbox), minus explicit removals (command line, or deleted in Outlook).
- Shared list: contact persons matching the list's `contactFilter` and, when set, belonging (through
  `AssociatedPartyNumber`) to a customer matching its `customerFilter`, with the same explicit entries.
- Inactive contact persons (`IsInactive` = Yes) leave every list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from sync_core.contacts.cache import lookups
from sync_core.d365.client import FnoClient
from sync_core.d365.odata import (
    and_all,
    any_of,
    datetime_literal,
    exact_string_eq,
    filter_chunks,
    has_wildcard,
    is_safe_text,
    matches_exactly,
)
from sync_core.model.contact_fno import PERSON_FIELDS
from sync_core.model.text import normalise_categories
from sync_core.runtime.keys import fno_key
from sync_core.settings import SharedList
from sync_core.state.base import ConcurrencyError, ContactListEntry, StateStore

CONTACT_PERSONS = "ContactPersons"
CUSTOMERS = "CustomersV3"
# Key columns break ties between rows edited in the same second, so paging order is stable.
CHANGE_ORDER = "LastEditDateTime asc,dataAreaId asc,ContactPersonId asc"
# What the feeds read of a contact person: its list membership, its version and every mapped field, so a
# pair job can map the row the feed carried instead of reading it again.
FEED_FIELDS = list(
    dict.fromkeys(
        [
            "dataAreaId",
            "ContactPersonId",
            "ContactPersonResponsiblePersonnelNumber",
            "MicrosoftOutlookCategories",
            "AssociatedPartyNumber",
            "IsInactive",
            "LastEditDateTime",
            *PERSON_FIELDS.values(),
        ]
    )
)


def row_key(row: Mapping[str, Any]) -> str | None:
    company, number = row.get("dataAreaId"), row.get("ContactPersonId")
    if not isinstance(company, str) or not company or not isinstance(number, str) or not number:
        return None
    try:
        return fno_key(company, number)
    except ValueError:
        return None


def is_inactive(row: Mapping[str, Any]) -> bool:
    return str(row.get("IsInactive") or "").casefold() == "yes"


def on_private_rule(row: Mapping[str, Any], personnel_number: str, allowed: tuple[str, ...]) -> bool:
    """The rule part of a private list (explicit entries are applied by `effective`)."""
    owner = row.get("ContactPersonResponsiblePersonnelNumber")
    if (
        not personnel_number
        or not isinstance(owner, str)
        or owner.strip().casefold() != personnel_number.casefold()
    ):
        return False
    if is_inactive(row):
        return False
    have = {c.casefold() for c in normalise_categories([row.get("MicrosoftOutlookCategories")])}
    return any(c.casefold() in have for c in allowed)


def effective(by_rule: bool, entry: ContactListEntry | None) -> bool:
    """An explicit entry overrides the rule or query, in both directions."""
    return entry.member if entry is not None else by_rule


async def contacts_changed_since(fno: FnoClient, since: datetime | None) -> AsyncIterator[dict[str, Any]]:
    """Contact persons edited at or after `since` (None: all), oldest edit first, all companies."""
    flt = f"LastEditDateTime ge {datetime_literal(since)}" if since is not None else None
    async for row in fno.query(CONTACT_PERSONS, filter=flt, select=FEED_FIELDS, orderby=CHANGE_ORDER):
        yield row


async def contacts_by_key(fno: FnoClient, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Feed rows of the given contact keys (missing ones are left out): one query per company and chunk
    of keys, a key holding F&O's `*` wildcard on its own (so it can only match itself)."""
    by_company: dict[str, list[str]] = {}
    for key in dict.fromkeys(keys):
        company, _, number = key.partition("|")
        if company and number and is_safe_text(company) and is_safe_text(number):
            by_company.setdefault(company, []).append(number)
    found: dict[str, dict[str, Any]] = {}
    wanted = set(keys)
    for company, numbers in by_company.items():
        groups = [[n] for n in numbers if has_wildcard(n)]
        groups += filter_chunks("ContactPersonId", [n for n in numbers if not has_wildcard(n)])
        for group in groups:
            flt = and_all(exact_string_eq("dataAreaId", company), any_of("ContactPersonId", group))
            async for row in fno.query(CONTACT_PERSONS, filter=flt, select=FEED_FIELDS):
                got = row_key(row)
                if got is not None and got in wanted:  # exactly: F&O's `eq` ignores case and widens on `*`
                    found[got] = row
    return found


async def _customer_parties(fno: FnoClient, customer_filter: str) -> set[tuple[str, str]]:
    parties: set[tuple[str, str]] = set()
    async for row in fno.query(CUSTOMERS, filter=customer_filter, select=["dataAreaId", "PartyNumber"]):
        company, party = row.get("dataAreaId"), row.get("PartyNumber")
        if isinstance(company, str) and isinstance(party, str) and party:
            parties.add((company.casefold(), party.casefold()))
    return parties


def _party_of(row: Mapping[str, Any]) -> tuple[str, str]:
    return (
        str(row.get("dataAreaId") or "").casefold(),
        str(row.get("AssociatedPartyNumber") or "").casefold(),
    )


async def shared_members(fno: FnoClient, shared: SharedList) -> dict[str, dict[str, Any]]:
    """Contact key -> feed row of every contact the list's query selects (two queries at most)."""
    parties = await _customer_parties(fno, shared.customerFilter) if shared.customerFilter else None
    members: dict[str, dict[str, Any]] = {}
    async for row in fno.query(CONTACT_PERSONS, filter=shared.contactFilter or None, select=FEED_FIELDS):
        key = row_key(row)
        if key is None or is_inactive(row):
            continue
        if parties is not None and _party_of(row) not in parties:
            continue
        members[key] = row
    # Pair jobs later in this context need not ask F&O about these contacts (or customers) again.
    cache = lookups(fno)
    cache.members[shared.name] = set(members)
    for company, party in parties or ():
        cache.remember_customer_check(shared.name, company, party, True)
    return members


async def matches_shared(fno: FnoClient, shared: SharedList, row: Mapping[str, Any]) -> bool:
    """Whether one contact person is selected by the list's query (asked of F&O, never evaluated here):
    the contact filter with the row's key (no query without a contact filter), then its customer."""
    key = row_key(row)
    if key is None or is_inactive(row):
        return False
    cache = lookups(fno)
    if key in cache.members.get(shared.name, ()):
        # The whole query was evaluated in this context already. A contact not in it may have been created
        # since (from Outlook, in this cycle): that one is asked.
        return True
    company, _, number = key.partition("|")
    if shared.contactFilter:
        own = and_all(exact_string_eq("dataAreaId", company), exact_string_eq("ContactPersonId", number))
        hit = False
        async for found in fno.query(
            CONTACT_PERSONS,
            filter=and_all(shared.contactFilter, own),
            select=["dataAreaId", "ContactPersonId"],
        ):
            hit = hit or row_key(found) == key
        if not hit:
            return False
    if not shared.customerFilter:
        return True
    party = str(row.get("AssociatedPartyNumber") or "")
    if not party or not is_safe_text(party):
        return False
    known = cache.customer_check(shared.name, company, party)
    if known is not None:
        return known  # many contacts share a customer: asked once per context
    selected = await _customer_selected(fno, shared.customerFilter, company, party)
    cache.remember_customer_check(shared.name, company, party, selected)
    return selected


async def _customer_selected(fno: FnoClient, customer_filter: str, company: str, party: str) -> bool:
    flt = and_all(
        customer_filter, exact_string_eq("dataAreaId", company), exact_string_eq("PartyNumber", party)
    )
    async for customer in fno.query(CUSTOMERS, filter=flt, select=["dataAreaId", "PartyNumber"]):
        if matches_exactly(customer.get("PartyNumber"), party, ignore_case=True) and matches_exactly(
            customer.get("dataAreaId"), company, ignore_case=True
        ):
            return True
    return False


async def record_entry(
    store: StateStore,
    mailbox: str,
    contact_key: str,
    member: bool,
    *,
    origin: str,
    at: datetime,
    pending: bool,
) -> ContactListEntry:
    """Create or replace the entry for (mailbox, contact); a concurrent writer is retried on top."""
    for _ in range(8):
        current = await store.get_contact_entry(mailbox, contact_key)
        entry = ContactListEntry(
            mailbox=mailbox,
            contact_key=contact_key,
            member=member,
            origin=origin,
            changed_at=at,
            pending=pending,
            etag=current.etag if current else None,
        )
        if current is not None and current.model_dump(exclude={"etag", "changed_at"}) == entry.model_dump(
            exclude={"etag", "changed_at"}
        ):
            return current  # already so: no write
        try:
            return await store.save_contact_entry(entry)
        except ConcurrencyError:
            continue  # someone else wrote it meanwhile: read again
    raise RuntimeError("contact list entry kept changing")
