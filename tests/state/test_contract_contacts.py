"""Contract of the contact list entries, on every StateStore back end (SQLite and Azure Tables)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from sync_core.state.base import ConcurrencyError, ContactListEntry
from tests.state.test_contract import HOSTILE_IDS, Opener, open_store

__all__ = ["open_store"]  # the shared fixture (SQLite and Azurite back ends)

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _entry(
    mailbox: str = "alice@contoso.com", key: str = "usmf|CP-0001", **extra: object
) -> ContactListEntry:
    return ContactListEntry.model_validate(
        {"mailbox": mailbox, "contact_key": key, "member": True, "changed_at": T0, **extra}
    )


async def test_insert_read_replace_delete(open_store: Opener) -> None:
    store = open_store()
    assert await store.get_contact_entry("alice@contoso.com", "usmf|CP-0001") is None
    saved = await store.save_contact_entry(_entry())
    assert saved.etag
    read = await store.get_contact_entry("alice@contoso.com", "usmf|CP-0001")
    assert read is not None and read.member and read.pending and read.origin == "cli"
    assert read.changed_at == T0
    flipped = await store.save_contact_entry(read.model_copy(update={"member": False, "pending": False}))
    assert flipped.etag != read.etag
    again = await store.get_contact_entry("alice@contoso.com", "usmf|CP-0001")
    assert again is not None and not again.member and not again.pending
    await store.delete_contact_entry(again)
    assert await store.get_contact_entry("alice@contoso.com", "usmf|CP-0001") is None


async def test_insert_twice_and_stale_etags_conflict(open_store: Opener) -> None:
    store = open_store()
    first = await store.save_contact_entry(_entry())
    with pytest.raises(ConcurrencyError):
        await store.save_contact_entry(_entry())
    newer = await store.save_contact_entry(first.model_copy(update={"member": False}))
    with pytest.raises(ConcurrencyError):
        await store.save_contact_entry(first.model_copy(update={"origin": "outlook"}))
    with pytest.raises(ConcurrencyError):
        await store.delete_contact_entry(first)
    await store.delete_contact_entry(newer)
    with pytest.raises(ConcurrencyError):
        await store.delete_contact_entry(newer)


async def test_two_workers_race_one_wins(open_store: Opener) -> None:
    a, b = open_store(), open_store()
    base = await a.save_contact_entry(_entry())
    results = await asyncio.gather(
        a.save_contact_entry(base.model_copy(update={"pending": False})),
        b.save_contact_entry(base.model_copy(update={"member": False})),
        return_exceptions=True,
    )
    assert sum(isinstance(r, ConcurrencyError) for r in results) == 1


async def test_list_filters(open_store: Opener) -> None:
    store = open_store()
    await store.save_contact_entry(_entry("bob@contoso.com", "usmf|CP-0002"))
    await store.save_contact_entry(_entry("alice@contoso.com", "usmf|CP-0002", pending=False))
    await store.save_contact_entry(_entry("alice@contoso.com", "usmf|CP-0001", member=False))
    everything = await store.list_contact_entries()
    assert [(e.mailbox, e.contact_key) for e in everything] == [
        ("alice@contoso.com", "usmf|CP-0001"),
        ("alice@contoso.com", "usmf|CP-0002"),
        ("bob@contoso.com", "usmf|CP-0002"),
    ]
    assert [e.contact_key for e in await store.list_contact_entries("alice@contoso.com")] == [
        "usmf|CP-0001",
        "usmf|CP-0002",
    ]
    by_contact = await store.list_contact_entries(contact_key="usmf|CP-0002")
    assert [e.mailbox for e in by_contact] == ["alice@contoso.com", "bob@contoso.com"]
    pending = await store.list_contact_entries(pending=True)
    assert [(e.mailbox, e.contact_key) for e in pending] == [
        ("alice@contoso.com", "usmf|CP-0001"),
        ("bob@contoso.com", "usmf|CP-0002"),
    ]
    both = await store.list_contact_entries("alice@contoso.com", contact_key="usmf|CP-0002", pending=True)
    assert both == []
    assert all(e.etag for e in everything)


@pytest.mark.parametrize("hostile", HOSTILE_IDS[:3] + HOSTILE_IDS[4:])
async def test_hostile_keys_round_trip_and_never_collide(open_store: Opener, hostile: str) -> None:
    store = open_store()
    key = f"usmf|{hostile}"
    await store.save_contact_entry(_entry("o'brien@contoso.com", key))
    await store.save_contact_entry(_entry("o'brien@contoso.com", "usmf|/", member=False))
    found = await store.get_contact_entry("o'brien@contoso.com", key)
    assert found is not None and found.contact_key == key
    listed = await store.list_contact_entries(contact_key=key)
    assert [e.contact_key for e in listed] == [key]
    assert await store.get_contact_entry("o'brien@contoso.com", "usmf|" + hostile[:-1] + "x") is None


async def test_entries_survive_reopening(open_store: Opener) -> None:
    first = open_store()
    await first.save_contact_entry(_entry(origin="outlook", pending=False))
    await first.close()
    second = open_store()
    found = await second.get_contact_entry("alice@contoso.com", "usmf|CP-0001")
    assert found is not None and found.origin == "outlook" and not found.pending
