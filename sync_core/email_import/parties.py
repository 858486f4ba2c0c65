"""Parent links of an imported e-mail (docs/spec.md §3.5): every party found among its addresses, the first primary.

Addresses are resolved by the cycle's PartyResolver (batched per entity set, cached, escaped). The links
already there are read once (one query), so an import costs one create per party, not a read and a create.
"""

from __future__ import annotations

import asyncio
from typing import Any
from weakref import WeakKeyDictionary

from sync_core.d365 import entities
from sync_core.d365.entities import PartyRef, PartyResolver
from sync_core.d365.errors import FnoError
from sync_core.d365.odata import EnumValue
from sync_core.runtime.context import SyncContext

# Imports of one cycle run side by side; one at a time per resolver asks F&O, the others then find its
# answers in the resolver's cache instead of sending the same lookups again.
_LOCKS: WeakKeyDictionary[PartyResolver, asyncio.Lock] = WeakKeyDictionary()


async def parties_for(ctx: SyncContext, company: str, addresses: tuple[str, ...]) -> list[PartyRef]:
    """Distinct parties in the order of the addresses that found them; none when the service has no
    parent-link entity to link them with (not looked up at all)."""
    if not addresses or not entities.parent_links_available(ctx.fno):
        return []
    resolver = ctx.party_resolver(company)
    lock = _LOCKS.setdefault(resolver, asyncio.Lock())
    async with lock:
        resolved = await resolver.resolve(list(addresses))
    parties: dict[tuple[str, str], PartyRef] = {}
    for address in addresses:
        party = resolved.get(address)
        if party is not None:
            parties.setdefault((party.parent_type, party.parent_id), party)
    return list(parties.values())


async def link_parties(
    ctx: SyncContext, company: str, number: str, parties: list[PartyRef], *, fresh: bool
) -> int:
    """Create the missing links; `fresh` means the activity was just created here, so it has none yet.
    Returns how many links were created."""
    collection = ctx.fno.parent_links_collection
    if not parties or collection is None:
        return 0
    existing: list[dict[str, Any]] = (
        [] if fresh else await entities.list_parent_links(ctx.fno, company, number)
    )
    have = {(str(row.get("ParentType")), str(row.get("ParentId")).lower()) for row in existing}
    primary_missing = not any(row.get("IsPrimaryLink") == "Yes" for row in existing)
    created = 0
    for position, party in enumerate(parties):
        if (party.parent_type, party.parent_id.lower()) in have:
            continue
        key: dict[str, str | EnumValue] = {
            "dataAreaId": company,
            "ActivityNumber": number,
            "ParentType": EnumValue("smmActivityParentType", party.parent_type),
            "ParentId": party.parent_id,
        }
        body = {
            "dataAreaId": company,
            "ActivityNumber": number,
            "ParentType": party.parent_type,
            "ParentId": party.parent_id,
            "IsPrimaryLink": "Yes" if primary_missing and position == 0 else "No",
        }
        try:
            await ctx.fno.create(collection, body)
        except FnoError:
            # A duplicate key comes back as a generic error: the link existing is what matters.
            if await ctx.fno.get(collection, key) is None:
                raise
        created += 1
    return created
