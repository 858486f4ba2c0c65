"""The echo filter (sync_core/notifications/echo.py): a notification of a state already synced queues no scan;
anything else is scanned as before. Through the real planner, pair jobs and the Graph stand-in's
notifications (local store, the tenant's clock)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from simulators.graph import ids as graph_ids
from simulators.graph.subscriptions import book
from simulators.sample_data import COMPANY
from sync_core.app import open_context, open_store
from sync_core.notifications.echo import notified_version
from sync_core.notifications.receiver import receive_changes
from sync_core.pipeline import runner
from sync_core.pipeline.plan import plan_cycle
from sync_core.pipeline.scan import scan_mailbox
from sync_core.runtime.messages import AnyMessage, ScanMailbox
from sync_core.runtime.queues import InProcessQueues
from sync_core.state.base import Link
from tests.e2e.harness import Tenant
from tests.notifications.test_notification_first import Pair, _cycle, _deliver, _settle

ALICE = "alice@contoso.com"


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[list[Pair]]:
    """The scans each cycle's planner queued (as test_notification_first.py's fixture)."""
    cycles: list[list[Pair]] = []

    async def recording(ctx: Any, send: Any = None) -> list[AnyMessage]:
        messages = await plan_cycle(ctx, send)
        cycles.append(sorted((m.mailbox, m.kind) for m in messages if isinstance(m, ScanMailbox)))
        return messages

    monkeypatch.setattr(runner, "plan_cycle", recording)
    return cycles


def _link(tenant: Tenant, handle: str = "review") -> Link:
    async def read() -> Link:
        store = open_store(tenant.settings())
        try:
            link = await store.get_link_by_fno("appointment", ALICE, f"{COMPANY}|{tenant.handles[handle]}")
            assert link is not None
            return link
        finally:
            await store.close()

    return asyncio.run(read())


def _event(tenant: Tenant, graph_id: str) -> dict[str, Any]:
    return next(e for e in tenant.graph.events(ALICE) if e["id"] == graph_id)


def _notified(tenant: Tenant, graph_id: str, change: str = "updated") -> list[dict[str, Any]]:
    """What Graph would POST for this event: one batch (the product subscribes once per mailbox and kind)."""
    [(_sub, items)] = book(tenant.graph).notifications(ALICE, "events", [graph_id], change)
    return items


def _scans(tenant: Tenant, items: list[dict[str, Any]]) -> list[Pair]:
    queued = asyncio.run(_deliver(tenant, receive_changes, items))
    return [(m.mailbox, m.kind) for m in queued if isinstance(m, ScanMailbox)]


def _write_from_fno(tenant: Tenant, planned: list[list[Pair]], purpose: str) -> Link:
    tenant.fno.update(
        "Activities",
        {"dataAreaId": COMPANY, "ActivityNumber": tenant.handles["review"]},
        {"Purpose": purpose},
    )
    _cycle(tenant, planned)  # the F&O feed queues it; the pair job writes the event and saves the link
    link = _link(tenant)
    assert _event(tenant, link.graph_id)["subject"] == purpose
    return link


def test_the_stand_in_notifies_the_immutable_id_and_the_change_key_as_etag(
    notified_tenant: Tenant, planned: list[list[Pair]]
) -> None:
    """resource-data.md: an Outlook notification's resourceData has `id` and `@odata.etag`; the product's
    subscriptions are created with Prefer: IdType="ImmutableId", so the id is the one its links hold."""
    tenant = notified_tenant
    _settle(tenant, planned)
    link = _link(tenant)
    event = _event(tenant, link.graph_id)
    [item] = _notified(tenant, link.graph_id)
    assert item["resourceData"]["id"] == link.graph_id
    assert item["resourceData"]["@odata.etag"] == f'W/"{event["changeKey"]}"' == event["@odata.etag"]
    assert notified_version(item) == (link.graph_id, event["changeKey"])
    # A subscription made without the header names the item by its regular id (same item, other form).
    [(sub, _items)] = book(tenant.graph).notifications(ALICE, "events", [link.graph_id])
    sub.immutable_ids = False
    [(_sub, [regular])] = book(tenant.graph).notifications(ALICE, "events", [link.graph_id])
    other = regular["resourceData"]["id"]
    assert other != link.graph_id
    assert graph_ids.decode(other) is not None and graph_ids.decode(link.graph_id) is not None
    # A deletion, or an id the mailbox does not hold, carries no etag.
    assert "@odata.etag" not in _notified(tenant, link.graph_id, "deleted")[0]["resourceData"]


def test_the_echo_of_our_own_write_costs_no_scan_and_a_users_edit_does(
    notified_tenant: Tenant, planned: list[list[Pair]]
) -> None:
    tenant = notified_tenant
    _settle(tenant, planned)
    link = _write_from_fno(tenant, planned, "Changed in F&O")
    echo = _notified(tenant, link.graph_id)
    assert link.graph_version == _event(tenant, link.graph_id)["changeKey"]  # saved after the write
    mark = len(tenant.graph.request_log)
    assert _scans(tenant, echo) == []  # the echo: no scan, so no delta read
    assert len(tenant.graph.request_log) == mark  # the check reads the state store, never Graph

    # Created, too (a create the pair job made, notified as created).
    assert _scans(tenant, [{**echo[0], "changeType": "created"}]) == []

    tenant.graph.update_event(ALICE, link.graph_id, {"subject": "Changed in Outlook"})
    assert _scans(tenant, _notified(tenant, link.graph_id)) == [(ALICE, "appointment")]
    # A burst mixing the echo with a real change is scanned.
    assert _scans(tenant, echo + _notified(tenant, link.graph_id)) == [(ALICE, "appointment")]


@pytest.mark.parametrize("case", ["other etag", "no etag", "unknown id", "deleted", "etag not W/", "unread"])
def test_anything_not_known_synced_is_scanned(
    notified_tenant: Tenant, planned: list[list[Pair]], case: str
) -> None:
    tenant = notified_tenant
    _settle(tenant, planned)
    link = _link(tenant)
    [item] = _notified(tenant, link.graph_id)
    data = item["resourceData"]
    if case == "other etag":
        data["@odata.etag"] = 'W/"DwAAABYAAADifferent"'
    elif case == "no etag":
        del data["@odata.etag"]
    elif case == "unknown id":
        data["id"] = "AAMk/not+ours="
    elif case == "deleted":
        item["changeType"] = "deleted"
    elif case == "etag not W/":
        data["@odata.etag"] = data["@odata.etag"][2:]
    else:  # a resource the receiver cannot read is never taken for an echo
        item["resource"] = "something/else"
    assert _scans(tenant, [item]) == [(ALICE, "appointment")]


def test_a_lookup_that_fails_scans(
    notified_tenant: Tenant, planned: list[list[Pair]], monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = notified_tenant
    _settle(tenant, planned)
    link = _link(tenant)
    echo = _notified(tenant, link.graph_id)
    assert _scans(tenant, echo) == []

    async def broken(*_args: Any, **_kwargs: Any) -> dict[str, Link]:
        raise OSError("table unreachable")

    from sync_core.state.sqlite import SqliteStateStore

    monkeypatch.setattr(SqliteStateStore, "get_links_by_graph", broken)
    assert _scans(tenant, echo) == [(ALICE, "appointment")]


def test_a_crash_before_the_link_is_saved_loses_nothing(
    notified_tenant: Tenant, planned: list[list[Pair]]
) -> None:
    """Killed after writing Outlook but before saving the link, the pair job leaves the old version: the
    notification of the write does not match it, so it is scanned, and the scan queues the pair again."""
    tenant = notified_tenant
    _settle(tenant, planned)
    before = _link(tenant)
    after = _write_from_fno(tenant, planned, "Written, link lost")
    assert after.graph_version != before.graph_version

    async def lose_the_link_save() -> None:
        store = open_store(tenant.settings())
        try:
            await store.save_link(after.model_copy(update={"graph_version": before.graph_version}))
        finally:
            await store.close()

    asyncio.run(lose_the_link_save())
    [scan] = asyncio.run(_deliver(tenant, receive_changes, _notified(tenant, after.graph_id)))
    assert isinstance(scan, ScanMailbox) and scan.kind == "appointment"

    async def run_scan() -> list[str]:
        queues = InProcessQueues()
        async with open_context(tenant.settings(), queues, clock=lambda: tenant.now) as ctx:
            await scan_mailbox(ctx, scan)
        return [text for text, _n in queues.take(tenant.settings().item_queue, 100)]

    assert any(after.graph_id in text for text in asyncio.run(run_scan()))
