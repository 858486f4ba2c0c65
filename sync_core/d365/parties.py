"""E-mail address -> F&O party (docs/spec.md §3.5), batched and cached for one cycle.

Order: contact persons, customers, vendors, prospects by their primary e-mail, then any e-mail address in
`PartyContactsV3` mapped back through its party number to a contact person, customer, vendor or prospect of
the company. Each step asks only about addresses still unresolved, with one query per entity set per chunk
of addresses. Within one entity set, ties go to the lowest id, so the answer does not depend on row order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from pydantic import BaseModel, ConfigDict

from sync_core.d365.addresses import normalise_emails
from sync_core.d365.client import FnoClient
from sync_core.d365.odata import and_all, any_of, enum_literal, exact_string_eq, filter_chunks
from sync_core.d365.ttl_cache import TtlCache

PARTY_CONTACTS = "PartyContactsV3"


class PartyRef(BaseModel):
    """A party an activity can be linked to: `parent_type` is the smmActivityParentType member
    (ContactPerson, Customer, Vendor, BusRel for prospects) and `parent_id` the party's own id."""

    model_config = ConfigDict(frozen=True)

    parent_type: str
    parent_id: str
    party_number: str


@dataclass(frozen=True)
class _Source:
    entity_set: str
    email_field: str
    id_field: str
    party_field: str
    parent_type: str

    def ref(self, row: dict[str, Any]) -> PartyRef | None:
        parent_id, party = row.get(self.id_field), row.get(self.party_field)
        if not isinstance(parent_id, str) or not parent_id:
            return None
        return PartyRef(
            parent_type=self.parent_type,
            parent_id=parent_id,
            party_number=party if isinstance(party, str) else "",
        )


SOURCES = (
    _Source(
        "ContactPersons",
        "PrimaryEmailAddress",
        "ContactPersonId",
        "ContactPersonPartyNumber",
        "ContactPerson",
    ),
    _Source("CustomersV3", "PrimaryContactEmail", "CustomerAccount", "PartyNumber", "Customer"),
    _Source("VendorsV2", "PrimaryEmailAddress", "VendorAccountNumber", "VendorPartyNumber", "Vendor"),
    _Source("Prospects", "PrimaryEmailAddress", "ProspectId", "ProspectPartyNumber", "BusRel"),
)


def _better(candidate: PartyRef, current: PartyRef | None) -> bool:
    return current is None or candidate.parent_id < current.parent_id


# Per F&O client and company: address -> party (None: none has it). A Functions instance keeps its client,
# so its pair jobs share what earlier ones looked up (issue 21: a third of a first sync's F&O requests).
_CACHES: WeakKeyDictionary[FnoClient, dict[str, TtlCache[str, PartyRef | None]]] = WeakKeyDictionary()


def _cache_of(client: FnoClient, company: str) -> TtlCache[str, PartyRef | None]:
    by_company = _CACHES.get(client)
    if by_company is None:
        by_company = _CACHES[client] = {}
    return by_company.setdefault(company.lower(), TtlCache())


class PartyResolver:
    """Resolve addresses to parties of one company. Results, misses included, are cached per F&O client
    (a local cycle's, or a Functions instance's) for d365/ttl_cache.LOOKUP_SECONDS."""

    def __init__(self, client: FnoClient, company: str) -> None:
        self._client = client
        self._company = company
        self._cache = _cache_of(client, company)

    async def resolve(self, emails: list[str]) -> dict[str, PartyRef]:
        """lower-cased address -> first matching party; addresses with no party are left out."""
        wanted = normalise_emails(emails)
        pending = [address for address in wanted if address not in self._cache]
        for source in SOURCES:
            if not pending:
                break
            found = await self._by_primary_email(source, pending)
            self._cache.update(found)
            pending = [address for address in pending if address not in found]
        if pending:
            self._cache.update(await self._by_party_contacts(pending))
        for address in pending:
            self._cache.setdefault(address, None)
        return {address: ref for address in wanted if (ref := self._cache.get(address)) is not None}

    def _in_company(self, row: dict[str, Any]) -> bool:
        area = row.get("dataAreaId")
        return isinstance(area, str) and area.lower() == self._company.lower()

    async def _by_primary_email(self, source: _Source, addresses: list[str]) -> dict[str, PartyRef]:
        found: dict[str, PartyRef] = {}
        for chunk in filter_chunks(source.email_field, addresses):
            flt = and_all(exact_string_eq("dataAreaId", self._company), any_of(source.email_field, chunk))
            select = ["dataAreaId", source.id_field, source.email_field, source.party_field]
            async for row in self._client.query(source.entity_set, filter=flt, select=select):
                email, ref = row.get(source.email_field), source.ref(row)
                if not isinstance(email, str) or ref is None or not self._in_company(row):
                    continue
                address = email.strip().lower()
                if address in chunk and _better(ref, found.get(address)):  # exact match, not a wildcard hit
                    found[address] = ref
        return found

    async def _by_party_contacts(self, addresses: list[str]) -> dict[str, PartyRef]:
        """Any e-mail address of a party -> that party's contact person/customer/vendor/prospect record."""
        parties: dict[str, set[str]] = {}
        email_type = f"Type eq {enum_literal('LogisticsElectronicAddressMethodType', 'Email')}"
        for chunk in filter_chunks("Locator", addresses):
            flt = and_all(email_type, any_of("Locator", chunk))
            async for row in self._client.query(
                PARTY_CONTACTS, filter=flt, select=["PartyNumber", "Locator"]
            ):
                locator, party = row.get("Locator"), row.get("PartyNumber")
                if (
                    isinstance(locator, str)
                    and isinstance(party, str)
                    and party
                    and locator.strip().lower() in chunk
                ):
                    parties.setdefault(locator.strip().lower(), set()).add(party)
        if not parties:
            return {}
        by_party = await self._records_of_parties(sorted(set().union(*parties.values())))
        found: dict[str, PartyRef] = {}
        for address, numbers in parties.items():
            # Earliest source first, then the lowest party number: deterministic whatever the row order.
            candidates = [(_rank(ref), number, ref) for number in numbers if (ref := by_party.get(number))]
            if candidates:
                found[address] = min(candidates, key=lambda c: (c[0], c[1]))[2]
        return found

    async def _records_of_parties(self, numbers: list[str]) -> dict[str, PartyRef]:
        """party number -> the company's record for that party, preferring the earlier source."""
        result: dict[str, PartyRef] = {}
        for source in SOURCES:
            todo = [n for n in numbers if n not in result]
            if not todo:
                break
            for chunk in filter_chunks(source.party_field, todo):
                flt = and_all(exact_string_eq("dataAreaId", self._company), any_of(source.party_field, chunk))
                select = ["dataAreaId", source.id_field, source.party_field]
                async for row in self._client.query(source.entity_set, filter=flt, select=select):
                    party, ref = row.get(source.party_field), source.ref(row)
                    if not isinstance(party, str) or ref is None or not self._in_company(row):
                        continue
                    # Party numbers are matched exactly: a `*` in one must not attach another party.
                    key = next((n for n in chunk if n == party or n.lower() == party.lower()), None)
                    if key is not None and (key not in result or _better(ref, result[key])):
                        result[key] = ref
        return result


def _rank(ref: PartyRef) -> int:
    return next(i for i, source in enumerate(SOURCES) if source.parent_type == ref.parent_type)
