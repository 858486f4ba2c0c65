"""The feeds carry the changed item to the pair job, which then decides without reading it again; a carried
item older than the link's last sync, or too big for a queue message, is read instead."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from simulators.sample_data import COMPANY
from sync_core.app import open_context
from sync_core.engine.types import ActionKind
from sync_core.pipeline.pair import sync_pair
from sync_core.runtime.messages import CarriedGraphItem, SyncPair
from sync_core.runtime.queues import InProcessQueues
from sync_core.state.base import Link
from tests.e2e.harness import Tenant

ALICE = "alice@contoso.com"


def _event_reads(tenant: Tenant, mark: tuple[int, int]) -> list[str]:
    return [
        r["path"]
        for r in tenant.graph.request_log[mark[0] :]
        if r["method"] == "GET" and "/events/" in r["path"]
    ]


def _activity_reads(tenant: Tenant, mark: tuple[int, int]) -> list[str]:
    return [
        r["path"]
        for r in tenant.fno.request_log[mark[1] :]
        if r["method"] == "GET" and r["path"].startswith("/data/Activities(")
    ]


def _lunch_link(tenant: Tenant) -> Link:
    async def find() -> Link:
        async with open_context(tenant.settings(), InProcessQueues(), clock=lambda: tenant.now) as ctx:
            link = await ctx.store.get_link_by_graph("appointment", ALICE, tenant.handles["lunch"])
            assert link is not None
            return link

    return asyncio.run(find())


def _run_pair(tenant: Tenant, message: SyncPair) -> ActionKind:
    async def run() -> ActionKind:
        async with open_context(tenant.settings(), InProcessQueues(), clock=lambda: tenant.now) as ctx:
            return await sync_pair(ctx, message)

    return asyncio.run(run())


def test_an_outlook_edit_reaches_fno_without_reading_the_event_again(tenant: Tenant) -> None:
    tenant.settle()
    tenant.graph.update_event(ALICE, tenant.handles["lunch"], {"subject": "Lunch with Litware (moved)"})
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["appointment"]["to_fno"]["updated"] == 1
    link = _lunch_link(tenant)
    activity = tenant.activity(link.fno_key.split("|", 1)[1])
    assert activity is not None and activity["Purpose"] == "Lunch with Litware (moved)"
    assert _event_reads(tenant, mark) == []  # the delta page carried it


def test_an_fno_edit_reaches_outlook_without_reading_the_activity_again(tenant: Tenant) -> None:
    tenant.settle()
    key = {"dataAreaId": COMPANY, "ActivityNumber": tenant.handles["review"]}
    tenant.fno.update("Activities", key, {"Purpose": "Quarterly review (moved)"})
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["appointment"]["to_exchange"]["updated"] == 1
    [event] = [e for e in tenant.graph.events(ALICE) if e.get("subject") == "Quarterly review (moved)"]
    assert _activity_reads(tenant, mark) == []  # the feed carried the row
    # ... and its parent links and contacts' addresses: one links query for the whole feed page.
    link_reads = [
        r for r in tenant.fno.request_log[mark[1] :] if r["path"].startswith("/data/ActivityParentLinks")
    ]
    assert len(link_reads) == 1
    assert tenant.parent_links(tenant.handles["review"])  # it has some: the attendees below come from them
    attendees = {a["emailAddress"]["address"] for a in event.get("attendees") or []}
    assert attendees, "the attendees from the contact-person links are still there"


def test_a_carried_item_older_than_the_last_sync_is_read_again(tenant: Tenant) -> None:
    tenant.settle()
    before = tenant.graph.get_event(ALICE, tenant.handles["lunch"])
    assert before is not None
    observed = tenant.now
    tenant.advance(minutes=5)
    tenant.graph.update_event(ALICE, tenant.handles["lunch"], {"subject": "Lunch, newer"})
    tenant.cycle()  # synced: the link now holds "Lunch, newer"
    link = _lunch_link(tenant)
    # A message from a scan that ran before that sync, carrying the event as it was then.
    stale = SyncPair(
        kind="appointment",
        mailbox=ALICE,
        graph_id=link.graph_id,
        graph_item=CarriedGraphItem(id=link.graph_id, item=before, version="an older change key"),
        observed_at=observed,
    )
    mark = tenant.mark_logs()
    assert _run_pair(tenant, stale) is ActionKind.NOTHING
    assert _event_reads(tenant, mark)  # read, not trusted
    activity = tenant.activity(link.fno_key.split("|", 1)[1])
    assert activity is not None and activity["Purpose"] == "Lunch, newer"  # the old subject did not come back


def test_a_fresh_carried_item_is_trusted_and_a_stale_one_would_have_been_written(tenant: Tenant) -> None:
    """The counterpart of the test above: the same old item, observed after the last sync, is used as is
    (which shows the freshness rule is what protects the newer state)."""
    tenant.settle()
    before: dict[str, Any] | None = tenant.graph.get_event(ALICE, tenant.handles["lunch"])
    assert before is not None
    link = _lunch_link(tenant)
    carried = {**before, "subject": "Carried subject", "changeKey": "carried"}
    message = SyncPair(
        kind="appointment",
        mailbox=ALICE,
        graph_id=link.graph_id,
        graph_item=CarriedGraphItem(id=link.graph_id, item=carried, version="carried"),
        observed_at=tenant.now + timedelta(minutes=1),
    )
    mark = tenant.mark_logs()
    assert _run_pair(tenant, message) is ActionKind.UPDATE
    assert _event_reads(tenant, mark) == []
    activity = tenant.activity(link.fno_key.split("|", 1)[1])
    assert activity is not None and activity["Purpose"] == "Carried subject"


def test_an_item_too_big_for_a_queue_message_is_read_by_the_pair_job(tenant: Tenant) -> None:
    tenant.settle()
    huge = "<html><body>" + "<p>renewal terms</p>" * 6000 + "</body></html>"  # ~110 KB of HTML
    tenant.graph.update_event(
        ALICE, tenant.handles["lunch"], {"body": {"contentType": "html", "content": huge}}
    )
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["appointment"]["to_fno"]["updated"] == 1
    assert _event_reads(tenant, mark)  # the message went without the item; the pair job read it


def test_the_echo_of_an_outlook_edit_reads_nothing_in_exchange(tenant: Tenant) -> None:
    tenant.settle()
    tenant.graph.update_event(ALICE, tenant.handles["lunch"], {"subject": "Lunch with Litware (moved)"})
    tenant.cycle()
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    report = tenant.cycle()  # the F&O feed lists the activity our PATCH edited: as the link left it
    assert report.failures == []
    assert tenant.writes_since(mark) == []
    assert _event_reads(tenant, mark) == []


def test_an_echo_does_not_hide_a_new_outlook_edit_in_the_same_cycle(tenant: Tenant) -> None:
    tenant.settle()
    tenant.graph.update_event(ALICE, tenant.handles["lunch"], {"subject": "Lunch, first edit"})
    tenant.cycle()
    tenant.advance(minutes=5)
    tenant.graph.update_event(ALICE, tenant.handles["lunch"], {"subject": "Lunch, second edit"})
    report = tenant.cycle()  # the echo of the first edit and the second edit arrive together
    assert report.failures == []
    link = _lunch_link(tenant)
    activity = tenant.activity(link.fno_key.split("|", 1)[1])
    assert activity is not None and activity["Purpose"] == "Lunch, second edit"


def test_a_carried_row_older_than_the_link_but_equal_to_it_is_settled_without_reading(tenant: Tenant) -> None:
    """A feed that ran after our own write carries the write's echo, observed before the link was saved:
    equal to the link's snapshot, it needs no read of either side."""
    tenant.settle()
    tenant.graph.update_event(ALICE, tenant.handles["lunch"], {"subject": "Lunch, echoed"})
    assert tenant.cycle().failures == []
    link = _lunch_link(tenant)
    number = link.fno_key.split("|", 1)[1]
    row = tenant.activity(number)
    assert row is not None and row["Purpose"] == "Lunch, echoed"
    assert link.synced_at is not None
    echo = SyncPair(
        kind="appointment",
        mailbox=ALICE,
        fno_key=link.fno_key,
        fno_row=row,
        observed_at=link.synced_at - timedelta(minutes=1),
    )
    mark = tenant.mark_logs()
    assert _run_pair(tenant, echo) is ActionKind.NOTHING
    assert _activity_reads(tenant, mark) == [] and _event_reads(tenant, mark) == []
    assert tenant.writes_since(mark) == []
