"""Typed reads and writes of the F&O entity sets the product uses.

Rows are returned as the raw OData JSON dicts (F&O property names, enums as member-name strings), so the
mapping code in `sync_core.model` stays the only place that interprets them.

Every string filter here is widened by F&O (case-insensitive compare, `*` as a wildcard), so every query is
followed by an exact client-side check (`matches_exactly`): a hostile value like `*@example.com` can cost a
wider read but never a wrong answer. Values that cannot be sent at all (control characters) match nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sync_core.d365.addresses import normalise_emails
from sync_core.d365.client import FnoClient
from sync_core.d365.errors import FnoError
from sync_core.d365.odata import (
    EnumValue,
    KeyValue,
    and_all,
    any_of,
    datetime_literal,
    enum_literal,
    exact_string_eq,
    filter_chunks,
    is_safe_text,
    matches_exactly,
)
from sync_core.d365.parties import PartyRef, PartyResolver

__all__ = [
    "ACTIVITIES",
    "CONTACT_PERSONS",
    "WORKERS",
    "PartyRef",
    "PartyResolver",
    "activities_changed_since",
    "activity_key",
    "add_parent_link",
    "contact_emails",
    "find_activities_by_outlook_entry_id",
    "get_activity",
    "list_parent_links",
    "normalise_emails",
    "parent_links_available",
    "remove_parent_link",
    "workers_by_email",
]

ACTIVITIES = "Activities"
WORKERS = "Workers"
CONTACT_PERSONS = "ContactPersons"
# Key columns break ties between rows edited in the same second, so paging order is stable.
CHANGE_ORDER = "LastDateTimeEdited asc,dataAreaId asc,ActivityNumber asc"


def activity_key(company: str, number: str) -> dict[str, str]:
    return {"dataAreaId": company, "ActivityNumber": number}


async def workers_by_email(client: FnoClient, emails: list[str]) -> dict[str, dict[str, Any]]:
    """lower-cased e-mail -> Workers row (PersonnelNumber, PrimaryContactEmail, Name), compared
    case-insensitively. When several workers share an address the lowest PersonnelNumber wins."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in filter_chunks("PrimaryContactEmail", normalise_emails(emails)):
        async for row in client.query(
            WORKERS,
            filter=any_of("PrimaryContactEmail", chunk),
            select=["PersonnelNumber", "PrimaryContactEmail", "Name"],
        ):
            email = row.get("PrimaryContactEmail")
            if not isinstance(email, str) or email.strip().lower() not in chunk:
                continue  # widened by a wildcard
            current = found.get(email.strip().lower())
            if current is None or str(row.get("PersonnelNumber")) < str(current.get("PersonnelNumber")):
                found[email.strip().lower()] = row
    return found


async def activities_changed_since(
    client: FnoClient, category: str, since: datetime | None, *, select: list[str] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Activities of `category` (smmActivityCategory member) edited at or after `since` (None: all),
    oldest edit first. The caller subtracts its overlap margin from the watermark before calling."""
    edited = f"LastDateTimeEdited ge {datetime_literal(since)}" if since is not None else None
    flt = and_all(f"Category eq {enum_literal('smmActivityCategory', category)}", edited)
    async for row in client.query(ACTIVITIES, filter=flt, select=select, orderby=CHANGE_ORDER):
        yield row


async def get_activity(client: FnoClient, company: str, number: str) -> dict[str, Any] | None:
    return await client.get(ACTIVITIES, activity_key(company, number))


async def activities_by_number(
    client: FnoClient, company: str, numbers: list[str]
) -> dict[str, dict[str, Any]]:
    """ActivityNumber (as asked, lower case) -> the whole row, for many activities of one company in one query
    per chunk (F&O data events taken in a batch); numbers that cannot be sent match nothing."""
    wanted = {n.rstrip(" ").lower(): n for n in numbers if n and is_safe_text(n)}
    found: dict[str, dict[str, Any]] = {}
    if not wanted or not is_safe_text(company):
        return found
    for chunk in filter_chunks("ActivityNumber", wanted.values()):
        flt = and_all(exact_string_eq("dataAreaId", company), any_of("ActivityNumber", chunk))
        async for row in client.query(ACTIVITIES, filter=flt):
            number = row.get("ActivityNumber")
            if not isinstance(number, str) or not matches_exactly(
                row.get("dataAreaId"), company, ignore_case=True
            ):
                continue
            if number.rstrip(" ").lower() in wanted:
                found[number.rstrip(" ").lower()] = row
    return found


async def find_activities_by_outlook_entry_id(client: FnoClient, entry_id: str) -> list[dict[str, Any]]:
    """Activities (any company) whose OutlookEntryId is exactly `entry_id` (case-sensitive: Graph ids are)."""
    if not entry_id or not is_safe_text(entry_id):
        return []
    return [
        row
        async for row in client.query(ACTIVITIES, filter=exact_string_eq("OutlookEntryId", entry_id))
        if matches_exactly(row.get("OutlookEntryId"), entry_id)
    ]


def parent_links_available(client: FnoClient) -> bool:
    """False when the service publishes no usable parent-link entity (d365/preflight.py): attendees and
    associations are then skipped, neither read nor written."""
    return client.parent_links_collection is not None


def _link_key(company: str, number: str, parent_type: str, parent_id: str) -> dict[str, KeyValue]:
    parent = EnumValue("smmActivityParentType", parent_type)
    return {"dataAreaId": company, "ActivityNumber": number, "ParentType": parent, "ParentId": parent_id}


async def list_parent_links(client: FnoClient, company: str, number: str) -> list[dict[str, Any]]:
    """The activity's parent link rows (ParentType, ParentId, IsPrimaryLink, ...); none when unavailable."""
    collection = client.parent_links_collection
    if collection is None:
        return []
    flt = and_all(exact_string_eq("dataAreaId", company), exact_string_eq("ActivityNumber", number))
    return [
        row
        async for row in client.query(collection, filter=flt)
        if matches_exactly(row.get("dataAreaId"), company, ignore_case=True)
        and matches_exactly(row.get("ActivityNumber"), number, ignore_case=True)
    ]


async def parent_links_of(
    client: FnoClient, company: str, numbers: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """ActivityNumber (as requested) -> its parent link rows, for many activities of one company in a few
    queries (a feed page's worth at once instead of one query per activity)."""
    wanted = {n.lower(): n for n in numbers if n and is_safe_text(n)}
    found: dict[str, list[dict[str, Any]]] = {n: [] for n in wanted.values()}
    collection = client.parent_links_collection
    if collection is None:
        return found
    for chunk in filter_chunks("ActivityNumber", wanted.values()):
        flt = and_all(exact_string_eq("dataAreaId", company), any_of("ActivityNumber", chunk))
        async for row in client.query(collection, filter=flt):
            number = row.get("ActivityNumber")
            if not isinstance(number, str) or not matches_exactly(
                row.get("dataAreaId"), company, ignore_case=True
            ):
                continue
            requested = wanted.get(number.lower())
            if requested is not None and matches_exactly(number, requested, ignore_case=True):
                found[requested].append(row)
    return found


async def add_parent_link(
    client: FnoClient, company: str, number: str, parent_type: str, parent_id: str, primary: bool
) -> None:
    """Link the activity to a party. Idempotent: an existing link (whatever its IsPrimaryLink) is left as is,
    and losing a create race to another worker counts as success. Skipped when links are unavailable."""
    key = _link_key(company, number, parent_type, parent_id)
    collection = client.parent_links_collection
    if collection is None:
        return
    if await client.get(collection, key) is not None:
        return
    try:
        body = {**key, "ParentType": parent_type, "IsPrimaryLink": "Yes" if primary else "No"}
        await client.create(collection, body)
    except FnoError:
        # F&O reports a duplicate key as a generic 4xx/5xx: the link existing now is what matters.
        if await client.get(collection, key) is None:
            raise


async def remove_parent_link(
    client: FnoClient, company: str, number: str, parent_type: str, parent_id: str
) -> None:
    """Remove the link; a link that is already gone is fine. Skipped when links are unavailable."""
    if client.parent_links_collection is not None:
        key = _link_key(company, number, parent_type, parent_id)
        await client.delete(client.parent_links_collection, key)


async def contact_emails(client: FnoClient, company: str, contact_ids: list[str]) -> dict[str, str]:
    """ContactPersonId (as requested) -> PrimaryEmailAddress, for contacts in `company` that have one."""
    wanted = {cid.lower(): cid for cid in contact_ids if cid and is_safe_text(cid)}
    result: dict[str, str] = {}
    for chunk in filter_chunks("ContactPersonId", wanted.values()):
        flt = and_all(exact_string_eq("dataAreaId", company), any_of("ContactPersonId", chunk))
        async for row in client.query(
            CONTACT_PERSONS, filter=flt, select=["dataAreaId", "ContactPersonId", "PrimaryEmailAddress"]
        ):
            cid, email = row.get("ContactPersonId"), row.get("PrimaryEmailAddress")
            if not isinstance(cid, str) or not isinstance(email, str) or not email:
                continue
            if not matches_exactly(row.get("dataAreaId"), company, ignore_case=True):
                continue
            requested = wanted.get(cid.lower())
            if requested is not None:
                result[requested] = email
    return result
