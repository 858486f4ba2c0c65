"""The F&O contact feeds save their cursor per page, as the activity feed does (test_feed_pages.py): cut
short after a page, a scan resumes there, and the cursor never moves past a row whose work is not queued.
Nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.graph import contacts as graph_contacts
from simulators.sample_contacts import PRIVATE_FOLDER, SHARED_FOLDER, SHARED_MAILBOX
from simulators.sample_data import CATEGORY, COMPANY
from sync_core.app import open_context
from sync_core.contacts.registry import PRIVATE_KIND, SHARED_KIND
from sync_core.kinds import activity_feed, fno_contact_persons
from sync_core.pipeline.scan import scan_fno_feed
from sync_core.runtime.keys import fno_cursor_name, parse_fno_time
from sync_core.runtime.messages import ScanFnoFeed
from tests.e2e.harness import Tenant, sample_tenant
from tests.scale.test_feed_pages import Crash, CrashingQueues

ALICE = "alice@contoso.com"
COUNT = 7


@pytest.fixture
def tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    monkeypatch.setattr(fno_contact_persons, "FEED_PAGE", 2)
    with sample_tenant(tmp_path) as t:
        yield t


def names(tenant: Tenant, mailbox: str, folder: str) -> list[str]:
    return [c["displayName"] for c in graph_contacts.list_contacts(tenant.graph, mailbox, folder)]


def scan_until_the_crash(tenant: Tenant, kind: str, survive: int) -> tuple[str, set[str]]:
    """One feed scan that dies while queueing; returns the cursor it saved and the keys it queued."""
    settings = tenant.settings()
    queues = CrashingQueues(settings.item_queue, survive=survive)

    async def scan() -> str:
        async with open_context(settings, queues, clock=lambda: tenant.now) as ctx:
            before = await ctx.store.get_cursor(fno_cursor_name(kind))
            with pytest.raises(Crash):
                await scan_fno_feed(ctx, ScanFnoFeed(kind=kind))
            after = await ctx.store.get_cursor(fno_cursor_name(kind))
            assert before is not None and after is not None and after.value != before.value
            return after.value

    return asyncio.run(scan()), {p.fno_key for p in queues.pairs if p.fno_key is not None}


def assert_nothing_passed_unqueued(tenant: Tenant, saved: str, queued: set[str], ids: list[str]) -> None:
    mark = parse_fno_time(saved.split('"')[3])  # {"edited": "..."}
    assert mark is not None
    assert 0 < len(queued) < len(ids)  # some pages queued, then the crash
    for contact_id in ids:
        row = tenant.fno.get("ContactPersons", {"dataAreaId": COMPANY, "ContactPersonId": contact_id})
        assert row is not None
        edited = parse_fno_time(row["LastEditDateTime"])
        assert edited is not None
        if edited < mark:
            assert f"{COMPANY}|{contact_id}" in queued  # the cursor moved past no row whose work was lost


def test_contact_feeds_cut_short_resume_at_their_last_page(tenant: Tenant) -> None:
    tenant.settle()
    tenant.advance(minutes=20)  # the rows the last sync wrote are behind the overlap now
    ids = []
    for n in range(COUNT):
        tenant.advance(seconds=1)  # one edit stamp each
        contact_id = f"CP-9{n:03d}"
        ids.append(contact_id)
        # On Alice's private list (her worker, the category) and on the NORTH shared list (Northwind).
        tenant.fno.add(
            "ContactPersons",
            {
                "dataAreaId": COMPANY,
                "ContactPersonId": contact_id,
                "FirstName": f"Page{n}",
                "LastName": "Test",
                "AssociatedPartyNumber": "000000103",
                "ContactPersonResponsiblePersonnelNumber": "000101",
                "MicrosoftOutlookCategories": CATEGORY,
            },
        )
    tenant.advance(minutes=1)
    # The private feed: each page's new contacts are queued before its cursor moves.
    saved, queued = scan_until_the_crash(tenant, PRIVATE_KIND, survive=3)
    assert_nothing_passed_unqueued(tenant, saved, queued, ids)
    for _ in range(2):
        assert tenant.cycle().failures == []
        tenant.advance(minutes=5)
    for n in range(COUNT):
        assert names(tenant, ALICE, PRIVATE_FOLDER).count(f"Page{n} Test") == 1
        assert names(tenant, SHARED_MAILBOX, SHARED_FOLDER).count(f"Page{n} Test") == 1

    # The shared feed: edits of linked members are queued per page.
    tenant.advance(minutes=20)
    for contact_id in ids:
        tenant.advance(seconds=1)
        tenant.fno.update(
            "ContactPersons", {"dataAreaId": COMPANY, "ContactPersonId": contact_id}, {"LastName": "Paged"}
        )
    tenant.advance(minutes=1)
    saved, queued = scan_until_the_crash(tenant, SHARED_KIND, survive=2)
    assert_nothing_passed_unqueued(tenant, saved, queued, ids)
    for _ in range(2):
        assert tenant.cycle().failures == []
        tenant.advance(minutes=5)
    for n in range(COUNT):
        assert names(tenant, SHARED_MAILBOX, SHARED_FOLDER).count(f"Page{n} Paged") == 1
        assert names(tenant, ALICE, PRIVATE_FOLDER).count(f"Page{n} Paged") == 1


def test_a_contact_feed_over_its_time_budget_stops_at_a_page_and_the_next_scans_go_on(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant.settle()
    monkeypatch.setattr(activity_feed, "FEED_BUDGET_SECONDS", -1.0)  # every page is over the budget
    tenant.advance(minutes=20)
    for n in range(5):
        tenant.advance(seconds=1)
        tenant.fno.add(
            "ContactPersons",
            {
                "dataAreaId": COMPANY,
                "ContactPersonId": f"CP-8{n:03d}",
                "FirstName": f"Budget{n}",
                "LastName": "Test",
                "AssociatedPartyNumber": "000000103",
                "ContactPersonResponsiblePersonnelNumber": "000101",
                "MicrosoftOutlookCategories": CATEGORY,
            },
        )
    tenant.advance(minutes=1)
    assert tenant.cycle().failures == []
    private = names(tenant, ALICE, PRIVATE_FOLDER)
    assert sum(private.count(f"Budget{n} Test") for n in range(5)) < 5  # stopped early
    for _ in range(6):
        tenant.advance(minutes=5)
        assert tenant.cycle().failures == []
    for n in range(5):
        assert names(tenant, ALICE, PRIVATE_FOLDER).count(f"Budget{n} Test") == 1
        assert names(tenant, SHARED_MAILBOX, SHARED_FOLDER).count(f"Budget{n} Test") == 1
