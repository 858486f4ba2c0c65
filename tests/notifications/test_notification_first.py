"""Notification-first scanning through the real planner, scans and stand-ins (local store, the tenant's clock):
a healthy subscribed feed is not read every cycle; a notification, `missed`, an expired subscription or
notifications off bring its scans back (pipeline/poll_schedule.py, docs/notifications.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import pytest

from simulators.graph.subscriptions import book
from sync_core.app import open_context, open_store
from sync_core.notifications.receiver import receive_changes, receive_lifecycle
from sync_core.notifications.subscriptions import record_name
from sync_core.pipeline import fanout, plan, runner
from sync_core.pipeline.plan import plan_cycle
from sync_core.pipeline.poll_schedule import TODO_KIND, Marker, marker_name
from sync_core.pipeline.reconcile import last_slot
from sync_core.pipeline.scan import scan_mailbox
from sync_core.runtime.messages import AnyMessage, ScanMailbox, decode
from sync_core.runtime.queues import InProcessQueues
from tests.e2e.harness import Tenant

ALICE = "alice@contoso.com"
SAFETY = timedelta(minutes=120)
Pair = tuple[str, str]  # (mailbox, kind)


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[list[Pair]]:
    """The scans each cycle's planner queued (one list per cycle)."""
    cycles: list[list[Pair]] = []
    plan = plan_cycle

    async def recording(ctx: Any, send: Any = None) -> list[AnyMessage]:
        messages = await plan(ctx, send)
        cycles.append(sorted((m.mailbox, m.kind) for m in messages if isinstance(m, ScanMailbox)))
        return messages

    monkeypatch.setattr(runner, "plan_cycle", recording)
    return cycles


def _cycle(tenant: Tenant, planned: list[list[Pair]]) -> list[Pair]:
    tenant.advance(minutes=5)
    report = tenant.cycle(SYNC_RECONCILE_HOURS="0", SYNC_SAFETY_POLL_MINUTES="120")
    assert report.failures == []
    return planned[-1]


def _subscribed(pairs: Iterable[Pair]) -> set[Pair]:
    return {p for p in pairs if p[1] != TODO_KIND}


def _slot_passed(pair: Pair, start: datetime, end: datetime) -> bool:
    mailbox, kind = pair
    return last_slot(end, f"{kind}:{mailbox}", SAFETY) > start


def _settle(tenant: Tenant, planned: list[list[Pair]]) -> set[Pair]:
    """The first sync, then the cycle that reads every feed once after its subscription was made."""
    everything = set(_cycle(tenant, planned))
    assert _subscribed(everything) and len(book(tenant.graph).active()) == len(_subscribed(everything))
    assert set(_cycle(tenant, planned)) >= _subscribed(everything)  # read since the subscriptions exist
    return _subscribed(everything)


async def _deliver(tenant: Tenant, handler: Any, items: list[dict[str, Any]]) -> list[AnyMessage]:
    """What the HTTP function does with a batch, on the tenant's clock; returns the messages it queued."""
    queues = InProcessQueues()
    async with open_context(tenant.settings(), queues, clock=lambda: tenant.now) as ctx:
        await handler(ctx, items)
    return [decode(text) for text, _count in queues.take(tenant.settings().scan_queue, 100)]


def _subscription_of(tenant: Tenant, mailbox: str, collection: str) -> Any:
    user = tenant.graph.find_mailbox(mailbox)
    assert user is not None
    return next(
        s
        for s in book(tenant.graph).active()
        if s.user_id == user.user.id.lower() and s.collection == collection
    )


def test_healthy_pairs_wait_for_notifications_or_their_safety_poll(
    notified_tenant: Tenant, planned: list[list[Pair]]
) -> None:
    tenant = notified_tenant
    subscribed = _settle(tenant, planned)
    for _ in range(6):
        before = tenant.now
        now_planned = _subscribed(_cycle(tenant, planned))
        # Only pairs whose safety-poll slot came since the last cycle are read.
        assert now_planned == {p for p in subscribed if _slot_passed(p, before, tenant.now)}
    assert len(subscribed) == 10  # 3 workers x (events, contacts, messages) + the shared list


def test_a_notification_scans_its_pair_and_the_planner_still_leaves_it(
    notified_tenant: Tenant, planned: list[list[Pair]]
) -> None:
    tenant = notified_tenant
    _settle(tenant, planned)
    event = next(e for e in tenant.graph.events(ALICE) if "D365 Sync" in (e.get("categories") or []))
    tenant.graph.update_event(ALICE, str(event["id"]), {"subject": "Moved by a notification"})
    sub = _subscription_of(tenant, ALICE, "events")
    item = {"subscriptionId": sub.id, "clientState": sub.client_state, "changeType": "updated",
            "resource": f"Users/{sub.user_id}/Events/{event['id']}"}  # fmt: skip
    queued = asyncio.run(_deliver(tenant, receive_changes, [item]))
    assert [(m.mailbox, m.kind) for m in queued if isinstance(m, ScanMailbox)] == [(ALICE, "appointment")]


def test_missed_brings_every_cycle_scans_back_until_a_read(
    notified_tenant: Tenant, planned: list[list[Pair]]
) -> None:
    tenant = notified_tenant
    _settle(tenant, planned)
    sub = _subscription_of(tenant, ALICE, "events")
    missed = {"lifecycleEvent": "missed", "subscriptionId": sub.id, "clientState": sub.client_state}
    tenant.advance(minutes=1)
    queued = asyncio.run(_deliver(tenant, receive_lifecycle, [missed]))
    assert [(m.mailbox, m.kind) for m in queued if isinstance(m, ScanMailbox)] == [(ALICE, "appointment")]
    # Should that scan be lost, the planner reads the feed itself: notifications were dropped.
    before = tenant.now
    assert (ALICE, "appointment") in _cycle(tenant, planned)
    # Read in full since: notifications are trusted again.
    before, after = tenant.now, tenant.now + timedelta(minutes=5)
    expected = _slot_passed((ALICE, "appointment"), before, after)
    assert ((ALICE, "appointment") in _cycle(tenant, planned)) == expected


def test_an_expired_subscription_brings_scans_back_until_remade_and_read(
    notified_tenant: Tenant, planned: list[list[Pair]]
) -> None:
    tenant = notified_tenant
    _settle(tenant, planned)

    async def expire() -> None:
        store = open_store(tenant.settings())
        try:
            cursor = await store.get_cursor(record_name("contact", ALICE))
            assert cursor is not None
            body = json.loads(cursor.value)
            body["expires"] = (tenant.now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
            await store.save_cursor(cursor.model_copy(update={"value": json.dumps(body)}))
        finally:
            await store.close()

    asyncio.run(expire())
    assert (ALICE, "contact") in _cycle(tenant, planned)  # expired: read; the upkeep makes it again
    assert (ALICE, "contact") in _cycle(tenant, planned)  # made again: read once after
    before = tenant.now
    later = _cycle(tenant, planned)
    assert ((ALICE, "contact") in later) == _slot_passed((ALICE, "contact"), before, tenant.now)


def test_without_notifications_every_feed_is_read_every_cycle(
    tenant: Tenant, planned: list[list[Pair]]
) -> None:
    first = _cycle(tenant, planned)
    for _ in range(3):
        assert _cycle(tenant, planned) == first
    assert len(first) == 13  # 3 workers x 4 kinds + the shared list


def _marker(tenant: Tenant) -> Marker:
    async def read() -> Marker:
        store = open_store(tenant.settings())
        try:
            cursor = await store.get_cursor(marker_name(TODO_KIND, ALICE))
            return Marker.parse(cursor.value if cursor else None)
        finally:
            await store.close()

    return asyncio.run(read())


def _read_todo(tenant: Tenant) -> None:
    """Alice's To Do read now, whatever the schedule says (as at its slot)."""

    async def scan() -> None:
        settings = tenant.settings(SYNC_RECONCILE_HOURS="0", SYNC_SAFETY_POLL_MINUTES="120")
        async with open_context(settings, InProcessQueues(), clock=lambda: tenant.now) as ctx:
            await scan_mailbox(ctx, ScanMailbox(kind=TODO_KIND, mailbox=ALICE, cycle_id="read-now"))

    asyncio.run(scan())


def _alices_task(tenant: Tenant) -> dict[str, Any]:
    number = tenant.handles["tasks"]["task_quote"]  # alice's, synced
    [task] = [
        t
        for t in tenant.graph.todo.tasks(ALICE)
        if any(str(r.get("externalId", "")).endswith(f"|{number}") for r in t["linkedResources"])
    ]
    return task


def _backed_off(tenant: Tenant, planned: list[list[Pair]]) -> None:
    _settle(tenant, planned)
    seen = [(ALICE, TODO_KIND) in _cycle(tenant, planned) for _ in range(12)]
    assert seen.count(False) >= 6  # idle: backed off


def test_to_do_is_not_polled_again_for_a_task_changed_in_fno_nor_for_its_echo(
    notified_tenant: Tenant, planned: list[list[Pair]]
) -> None:
    """Only a person's change in To Do brings its every-cycle polling back (pipeline/poll_schedule.py)."""
    tenant = notified_tenant
    _backed_off(tenant, planned)
    before = _marker(tenant)
    tenant.fno.update(
        "Activities",
        {"dataAreaId": "usmf", "ActivityNumber": tenant.handles["tasks"]["task_quote"]},
        {"Purpose": "Changed in F&O"},
    )
    mark = tenant.mark_logs()
    _cycle(tenant, planned)  # the F&O feed queues it, its pair job writes the task to To Do
    assert any(w["method"] == "PATCH" and "/todo/" in w["path"] for w in tenant.writes_since(mark))
    assert _marker(tenant).changed == before.changed  # an F&O change is no To Do change
    tenant.advance(minutes=5)
    _read_todo(tenant)  # lists the task at the version the sync wrote: the echo
    after = _marker(tenant)
    assert after.read == tenant.now and after.changed == before.changed
    # A person's edit in To Do is a change: the next cycle reads To Do again, and the one after.
    task = _alices_task(tenant)
    tenant.graph.todo.update_task(ALICE, task["listId"], task["id"], {"title": "Changed in To Do"})
    tenant.advance(minutes=5)
    _read_todo(tenant)
    assert _marker(tenant).changed == tenant.now
    assert (ALICE, TODO_KIND) in _cycle(tenant, planned)
    assert (ALICE, TODO_KIND) in _cycle(tenant, planned)


def test_a_task_changed_in_to_do_found_by_an_fno_change_brings_to_do_polling_back(
    notified_tenant: Tenant, planned: list[list[Pair]]
) -> None:
    """The pair job of an F&O change reads the To Do task; changed there since the last sync, it was a
    person: To Do is read the next cycle (and a deletion there is acted on by that read)."""
    tenant = notified_tenant
    _backed_off(tenant, planned)
    before = _marker(tenant)
    task = _alices_task(tenant)
    tenant.graph.todo.update_task(ALICE, task["listId"], task["id"], {"importance": "high"})
    tenant.fno.update(
        "Activities",
        {"dataAreaId": "usmf", "ActivityNumber": tenant.handles["tasks"]["task_quote"]},
        {"Purpose": "Changed in F&O"},
    )
    _cycle(tenant, planned)
    after = _marker(tenant)
    assert after.changed is not None and after.read is not None and after.changed > after.read
    assert before.changed is None or after.changed > before.changed
    assert (ALICE, TODO_KIND) in _cycle(tenant, planned)


def test_a_burst_of_notifications_costs_one_feed_read(
    notified_tenant: Tenant, planned: list[list[Pair]]
) -> None:
    """Each POST queues its scan; a scan whose notification a later complete read covered reads nothing."""
    tenant = notified_tenant
    _settle(tenant, planned)
    tenant.advance(minutes=1)
    sub = _subscription_of(tenant, ALICE, "events")
    item = {"subscriptionId": sub.id, "clientState": sub.client_state, "changeType": "updated"}
    first = asyncio.run(_deliver(tenant, receive_changes, [item]))
    second = asyncio.run(_deliver(tenant, receive_changes, [item]))
    scans = [m for m in first + second if isinstance(m, ScanMailbox)]
    assert len(scans) == 2 and all(s.queued_at == tenant.now for s in scans)

    def graph_requests_of(message: ScanMailbox) -> int:
        async def scan() -> None:
            async with open_context(tenant.settings(), InProcessQueues(), clock=lambda: tenant.now) as ctx:
                await scan_mailbox(ctx, message)

        mark = len(tenant.graph.request_log)
        asyncio.run(scan())
        return len(tenant.graph.request_log) - mark

    assert graph_requests_of(scans[0]) > 0
    assert graph_requests_of(scans[1]) == 0  # covered by the first one's read
    # A scan queued after that read began is not covered by it.
    tenant.advance(seconds=30)
    later = [m for m in asyncio.run(_deliver(tenant, receive_changes, [item])) if isinstance(m, ScanMailbox)]
    assert graph_requests_of(later[0]) > 0


def test_chunks_of_a_big_tenant_leave_healthy_pairs_too(
    notified_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above CHUNK_MAILBOXES the scans are planned by each chunk (pipeline/fanout.py), from point reads of its
    own mailboxes' records."""
    monkeypatch.setattr(plan, "CHUNK_MAILBOXES", 2)  # the sample tenant's 4 mailboxes: two chunks
    queued: list[Pair] = []
    original = plan.scans_of

    def recording(*args: Any) -> list[ScanMailbox]:
        scans = original(*args)
        queued.extend((s.mailbox, s.kind) for s in scans)
        return scans

    monkeypatch.setattr(plan, "scans_of", recording)
    monkeypatch.setattr(fanout, "scans_of", recording)

    def cycle() -> set[Pair]:
        queued.clear()
        tenant.advance(minutes=5)
        assert tenant.cycle(SYNC_RECONCILE_HOURS="0", SYNC_SAFETY_POLL_MINUTES="120").failures == []
        return _subscribed(queued)

    tenant = notified_tenant
    subscribed = cycle()
    for _ in range(2):  # the first F&O read waits a cycle for the registry (chunks); then a read after all
        subscribed |= cycle()
    assert len(subscribed) == 10
    before = tenant.now
    assert cycle() == {p for p in subscribed if _slot_passed(p, before, tenant.now)}
