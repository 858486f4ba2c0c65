"""The company of a contact person: the name of its associated party, and back from a name to the party.

A contact created in Outlook is attached to the customer, vendor or prospect whose name equals its
`companyName`, compared case- and whitespace-insensitively. F&O compares strings case-insensitively but
exactly otherwise, so the query turns every run of blanks into `*` (F&O's `eq` wildcard) and the exact
comparison happens here; a hostile name can only widen the read, never change the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sync_core.d365.client import FnoClient
from sync_core.d365.odata import (
    and_all,
    any_of,
    exact_string_eq,
    filter_chunks,
    has_wildcard,
    is_safe_text,
    matches_exactly,
)
from sync_core.model.contact import company_key
from sync_core.model.text import normalise_line


@dataclass(frozen=True)
class Party:
    party_number: str
    name: str
    source: str  # entity set it was found in


@dataclass(frozen=True)
class _Source:
    entity_set: str
    number_field: str
    name_field: str


SOURCES = (
    _Source("CustomersV3", "PartyNumber", "OrganizationName"),
    _Source("VendorsV2", "VendorPartyNumber", "VendorOrganizationName"),
    _Source("Prospects", "ProspectPartyNumber", "CompanyName"),
)


async def party_name(fno: FnoClient, company: str, party_number: str) -> str:
    """Name of the customer, vendor or prospect with this party number in `company` ("" when none)."""
    if not party_number or not is_safe_text(party_number):
        return ""
    for source in SOURCES:
        flt = and_all(
            exact_string_eq("dataAreaId", company), exact_string_eq(source.number_field, party_number)
        )
        async for row in fno.query(
            source.entity_set,
            filter=flt,
            select=["dataAreaId", source.number_field, source.name_field],
            top=20,
        ):
            if matches_exactly(
                row.get(source.number_field), party_number, ignore_case=True
            ) and matches_exactly(row.get("dataAreaId"), company, ignore_case=True):
                name = row.get(source.name_field)
                return name if isinstance(name, str) else ""
    return ""


async def party_names(fno: FnoClient, company: str, parties: Iterable[str]) -> dict[str, str]:
    """`party_name` for many party numbers: per source one query per chunk of the numbers still unknown,
    customers before vendors before prospects. Numbers without a party are left out."""
    todo = [p for p in dict.fromkeys(parties) if p and is_safe_text(p)]
    found: dict[str, str] = {}
    for party in [p for p in todo if has_wildcard(p)]:
        # `*` would widen an `or` list to many rows: such a number gets the narrow single read.
        if single := await party_name(fno, company, party):
            found[party] = single
    todo = [p for p in todo if not has_wildcard(p)]
    for source in SOURCES:
        left = [p for p in todo if p not in found]
        for chunk in filter_chunks(source.number_field, left) if left else []:
            flt = and_all(exact_string_eq("dataAreaId", company), any_of(source.number_field, chunk))
            async for row in fno.query(
                source.entity_set, filter=flt, select=["dataAreaId", source.number_field, source.name_field]
            ):
                if not matches_exactly(row.get("dataAreaId"), company, ignore_case=True):
                    continue
                number, name = row.get(source.number_field), row.get(source.name_field)
                for party in chunk:
                    if party not in found and matches_exactly(number, party, ignore_case=True):
                        found[party] = name if isinstance(name, str) else ""
    return found


async def parties_named(fno: FnoClient, company: str, name: str) -> list[Party]:
    """Every party of `company` (customer, vendor, prospect) whose name equals `name`, one per party number."""
    wanted = company_key(name)
    words = normalise_line(name).split()
    pattern = "*".join(words)
    if not wanted or not is_safe_text(pattern):
        return []
    found: dict[str, Party] = {}
    for source in SOURCES:
        flt = and_all(exact_string_eq("dataAreaId", company), exact_string_eq(source.name_field, pattern))
        async for row in fno.query(
            source.entity_set, filter=flt, select=["dataAreaId", source.number_field, source.name_field]
        ):
            number, row_name = row.get(source.number_field), row.get(source.name_field)
            if not isinstance(number, str) or not number or not isinstance(row_name, str):
                continue
            if company_key(row_name) != wanted or not matches_exactly(
                row.get("dataAreaId"), company, ignore_case=True
            ):
                continue  # widened by the wildcard
            # A party that is both customer and vendor is still one company.
            found.setdefault(number.casefold(), Party(number, row_name, source.entity_set))
    return sorted(found.values(), key=lambda p: p.party_number)
