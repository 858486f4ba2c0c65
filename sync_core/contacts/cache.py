"""What the contact kinds look up in F&O beside the contact person, remembered per F&O client.

The cache hangs off the F&O client, so the private and the shared kind share it: a local cycle's client
lives for the cycle, a Functions instance's for the instance, where the entries expire after
d365/ttl_cache.LOOKUP_SECONDS (a customer renamed in F&O is seen within that long) instead of being read
again by every execution.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from sync_core.contacts.companies import party_names
from sync_core.d365.client import FnoClient
from sync_core.d365.ttl_cache import TtlCache

_CACHES: WeakKeyDictionary[FnoClient, ContactLookups] = WeakKeyDictionary()


def _key(company: str, party: str) -> tuple[str, str]:
    # F&O compares keys case-insensitively and ignores trailing blanks.
    return company.rstrip(" ").casefold(), party.rstrip(" ").casefold()


@dataclass
class ContactLookups:
    # No reference to the client here: the cache must not keep its own key alive.
    names: TtlCache[tuple[str, str], str] = field(default_factory=TtlCache)
    # (list name, company, party) -> whether the party is a customer the list's customerFilter selects.
    customers: TtlCache[tuple[str, str, str], bool] = field(default_factory=TtlCache)
    # Shared list name -> keys of every contact its query selected, when a feed scan evaluated it.
    members: TtlCache[str, set[str]] = field(default_factory=TtlCache)

    def remember_name(self, company: str, party: str, name: str) -> None:
        self.names[_key(company, party)] = name

    async def party_name(self, fno: FnoClient, company: str, party: str) -> str:
        """Name of the customer, vendor or prospect with this party number ("" when none)."""
        if not party:
            return ""
        await self.prefetch_names(fno, company, [party])
        return self.names.get(_key(company, party), "")

    async def prefetch_names(self, fno: FnoClient, company: str, parties: Iterable[str]) -> None:
        """Look up every party not known yet, a few parties per query."""
        todo = [p for p in dict.fromkeys(parties) if p and _key(company, p) not in self.names]
        if not todo:
            return
        found = await party_names(fno, company, todo)
        for party in todo:
            self.remember_name(company, party, found.get(party, ""))

    def customer_check(self, list_name: str, company: str, party: str) -> bool | None:
        return self.customers.get((list_name, *_key(company, party)))

    def remember_customer_check(self, list_name: str, company: str, party: str, selected: bool) -> None:
        self.customers[(list_name, *_key(company, party))] = selected


def lookups(fno: FnoClient) -> ContactLookups:
    """The context's lookups (one per F&O client, that is one per context)."""
    found = _CACHES.get(fno)
    if found is None:
        found = _CACHES[fno] = ContactLookups()
    return found
