"""Bulk reads of the state store, on both back ends: a planner chunk's mailbox records in one
range read, a feed page's links in a few queries."""

from __future__ import annotations

from sync_core.state.base import Link, MailboxRecord, StateStore
from tests.state.test_contract import HOSTILE_IDS, make_link, open_store, store

__all__ = ["open_store", "store"]


async def test_get_mailboxes_returns_the_asked_records_only(store: StateStore) -> None:
    addresses = [f"user{n:03d}@contoso.com" for n in range(40)] + [
        "o'neil+x@contoso.com",
        "a" * 300 + "@x.com",
    ]
    for address in addresses:
        await store.upsert_mailbox(MailboxRecord(mailbox=address, personnel_number=address[:6]))
    asked = addresses[5:30] + addresses[-2:] + ["nobody@contoso.com"]
    found = await store.get_mailboxes(asked)
    assert sorted(found) == sorted(addresses[5:30] + addresses[-2:])
    assert all(found[a].mailbox == a and found[a].etag for a in found)
    few = await store.get_mailboxes(["user001@contoso.com", "user039@contoso.com"])
    assert sorted(few) == ["user001@contoso.com", "user039@contoso.com"]
    assert await store.get_mailboxes([]) == {}


async def test_bulk_link_lookups_by_either_side(store: StateStore) -> None:
    saved: list[Link] = []
    for n, graph_id in enumerate(HOSTILE_IDS + [f"AAMk/{n}+=" for n in range(30)]):
        saved.append(await store.save_link(make_link(fno_key=f"usmf|ACT-{n}", graph_id=graph_id)))
    other = make_link(fno_key="usmf|ACT-0", graph_id="other")
    await store.save_link(other.model_copy(update={"mailbox": "bob@contoso.com"}))
    keys = [link.fno_key for link in saved[::2]] + ["usmf|ACT-none"]
    by_fno = await store.get_links_by_fno("appointment", "alice@contoso.com", keys)
    assert sorted(by_fno) == sorted(link.fno_key for link in saved[::2])
    for link in saved[::2]:
        assert by_fno[link.fno_key].graph_id == link.graph_id
        assert by_fno[link.fno_key].etag == link.etag  # usable for a conditional write
    ids = [link.graph_id for link in saved] + ["missing"]
    by_graph = await store.get_links_by_graph("appointment", "alice@contoso.com", ids)
    assert sorted(by_graph) == sorted(link.graph_id for link in saved)
    assert await store.get_links_by_fno("appointment", "carol@contoso.com", keys) == {}
