"""The periodic reconciliation (pipeline/reconcile.py): the level-triggered safety net under the feeds.

Real cycles against the stand-ins over HTTP. What the feeds miss is made to be missed the way it happens in
production: the pair messages of a scan are lost after its cursor moved on (a crash, a lost queue message),
or an F&O row is stamped older than the feed's watermark (clock skew, a long transaction)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.sample_data import CATEGORY, COMPANY
from sync_core.app import open_context
from sync_core.pipeline.reconcile import is_due, last_slot
from sync_core.pipeline.runner import run_cycle
from sync_core.runtime.messages import SyncPair
from sync_core.runtime.queues import AnyMessage, InProcessQueues
from sync_core.runtime.report import CycleReport
from tests.e2e.harness import Tenant, sample_tenant

ALICE = "alice@contoso.com"
ALICE_WORKER = "000101"
PAST_INTERVAL = timedelta(hours=7)  # more than SYNC_RECONCILE_HOURS (6): every mailbox's slot has passed


class LosingQueues(InProcessQueues):
    """Pair messages vanish (a crash after the scan saved its cursor, a lost message); scans still run."""

    async def send(self, queue: str, messages: Sequence[AnyMessage]) -> None:
        await super().send(queue, [m for m in messages if not isinstance(m, SyncPair)])


def losing_cycle(tenant: Tenant, **overrides: str) -> CycleReport:
    async def run() -> CycleReport:
        queues = LosingQueues()
        async with open_context(tenant.settings(**overrides), queues, clock=lambda: tenant.now) as ctx:
            return await run_cycle(ctx, queues)

    return asyncio.run(run())


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as value:
        value.settle()  # the reconciliation's first sight: each mailbox remembers when, none is due yet
        yield value


def _graph_time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_event(tenant: Tenant, subject: str) -> dict[str, Any]:
    start = tenant.now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=9, hours=10)
    return tenant.graph.add_event(
        ALICE,
        {
            "subject": subject,
            "body": {"contentType": "text", "content": "Missed by the feed."},
            "start": _graph_time(start),
            "end": _graph_time(start + timedelta(hours=1)),
            "categories": [CATEGORY],
        },
    )


def _activities(tenant: Tenant, purpose: str) -> list[dict[str, Any]]:
    return [a for a in tenant.appointments() if a.get("Purpose") == purpose]


def _events(tenant: Tenant, subject: str) -> list[dict[str, Any]]:
    return [e for e in tenant.graph.events(ALICE) if e.get("subject") == subject]


def _subject(tenant: Tenant, event_id: str) -> object:
    event = tenant.graph.get_event(ALICE, event_id)
    return None if event is None else event.get("subject")


def _linked_events(tenant: Tenant) -> list[tuple[str, str]]:
    """(event id, activity number) of Alice's single events and the activities they are synced with."""
    pairs = []
    for event in tenant.graph.events(ALICE):
        if event.get("type") not in (None, "singleInstance"):
            continue
        found = [
            a
            for a in tenant.appointments()
            if a.get("OutlookEntryId") == event["id"] or a.get("Purpose") == event.get("subject")
        ]
        if found:
            pairs.append((str(event["id"]), str(found[0]["ActivityNumber"])))
    return pairs


def test_in_step_the_reconciliation_writes_and_queues_nothing(tenant: Tenant) -> None:
    tenant.advance(hours=PAST_INTERVAL.total_seconds() / 3600)
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.reconciliation["runs"] == 10  # every mailbox and kind that has an inventory
    assert report.reconciliation["out_of_step"] == 0
    assert report.writes == 0 and not report.failures
    assert tenant.writes_since(mark) == []
    # Not again until the mailbox's next slot.
    tenant.advance(minutes=5)
    assert tenant.cycle().reconciliation["runs"] == 0


def test_a_marked_outlook_event_the_feed_missed_is_created_once(tenant: Tenant) -> None:
    subject = "Missed: site visit"
    _new_event(tenant, subject)
    losing_cycle(tenant)  # the delta read it, its pair message was lost, the delta token moved on
    tenant.advance(minutes=5)
    tenant.cycle()
    assert _activities(tenant, subject) == []  # edge-triggered: the feeds never report it again

    tenant.advance(hours=PAST_INTERVAL.total_seconds() / 3600)
    report = tenant.cycle()
    assert report.reconciliation["out_of_step"] == 1
    assert len(_activities(tenant, subject)) == 1

    # The next reconciliation finds everything in step: nothing created twice, nothing written.
    tenant.advance(minutes=5)
    tenant.cycle()  # the echo of the stamp written on the event
    tenant.advance(hours=PAST_INTERVAL.total_seconds() / 3600)
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.reconciliation["runs"] > 0 and report.reconciliation["out_of_step"] == 0
    assert tenant.writes_since(mark) == []
    assert len(_activities(tenant, subject)) == 1 and len(_events(tenant, subject)) == 1


def test_an_fno_edit_the_feed_missed_reaches_outlook(tenant: Tenant) -> None:
    number = tenant.handles["review"]
    before = tenant.activity(number)
    assert before is not None
    [event] = [e for e in tenant.graph.events(ALICE) if e.get("subject") == before["Purpose"]]
    tenant.advance(hours=3)
    tenant.cycle()  # the feed's watermark is now about three hours past the row's stamp
    # F&O's clock an hour behind ours: the edit's stamp lies behind the watermark and its overlap.
    now = tenant.now
    tenant.fno.clock = lambda: now - timedelta(hours=1)
    tenant.fno.update(
        "Activities", {"dataAreaId": COMPANY, "ActivityNumber": number}, {"Purpose": "Review, moved room"}
    )
    tenant.fno.clock = lambda: tenant.now
    tenant.advance(minutes=5)
    tenant.cycle()
    assert _subject(tenant, event["id"]) == before["Purpose"]  # missed

    tenant.advance(hours=PAST_INTERVAL.total_seconds() / 3600)
    report = tenant.cycle()
    assert report.reconciliation["out_of_step"] == 1
    assert _subject(tenant, event["id"]) == "Review, moved room"
    assert not report.failures


def test_an_outlook_deletion_the_feed_missed_goes_through_the_valve(tenant: Tenant) -> None:
    linked = _linked_events(tenant)
    assert linked
    event_id, number = linked[0]
    tenant.graph.delete_event(ALICE, event_id)
    losing_cycle(tenant)  # the delta reported the removal; the permitted deletion was lost
    tenant.advance(minutes=5)
    tenant.cycle()
    assert tenant.activity(number) is not None  # nothing reports the removal again

    tenant.advance(hours=PAST_INTERVAL.total_seconds() / 3600)
    report = tenant.cycle()
    assert report.reconciliation["out_of_step"] == 1
    assert tenant.activity(number) is None  # confirmed by a read, counted by the valve, then applied
    assert not report.failures


def test_too_many_missed_outlook_deletions_are_held_by_the_valve(tenant: Tenant) -> None:
    linked = _linked_events(tenant)
    assert len(linked) >= 2
    for event_id, _number in linked:
        tenant.graph.delete_event(ALICE, event_id)
    losing_cycle(tenant)
    tenant.advance(minutes=5)
    tenant.cycle()

    tenant.advance(hours=PAST_INTERVAL.total_seconds() / 3600)
    report = tenant.cycle(SYNC_DELETE_MIN_ITEMS="1")
    assert all(tenant.activity(number) is not None for _event, number in linked)
    assert any("safety valve" in f.reason for f in report.failures)
    # While held, the reconciliation is not marked done: the next cycle counts the same candidates again.
    tenant.advance(minutes=5)
    again = tenant.cycle(SYNC_DELETE_MIN_ITEMS="1")
    assert again.reconciliation["runs"] >= 1
    assert all(tenant.activity(number) is not None for _event, number in linked)


def test_nothing_is_created_twice_when_the_feeds_report_the_same_items(tenant: Tenant) -> None:
    subject, purpose = "Both report me", "Both report me too"
    _new_event(tenant, subject)
    start = tenant.now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=11, hours=14)
    tenant.fno.add(
        "Activities",
        {
            "dataAreaId": COMPANY,
            "Category": "Appointment",
            "Purpose": purpose,
            "StartDateTime": _iso(start),
            "EndDateTime": _iso(start + timedelta(hours=1)),
            "ResponsibleWorkerPersonnelNumber": ALICE_WORKER,
            "KeepSynchronized": "Yes",
        },
    )
    # The feeds and the reconciliation see both new items in the same cycle.
    tenant.advance(hours=PAST_INTERVAL.total_seconds() / 3600)
    report = tenant.cycle()
    assert report.reconciliation["runs"] > 0 and not report.failures
    for _ in range(2):
        tenant.advance(hours=PAST_INTERVAL.total_seconds() / 3600)
        tenant.cycle()
    assert len(_activities(tenant, subject)) == 1 and len(_events(tenant, subject)) == 1
    assert len(_activities(tenant, purpose)) == 1 and len(_events(tenant, purpose)) == 1


def test_reconciliation_off_lists_nothing(tenant: Tenant) -> None:
    from sync_core.settings import SettingsError

    tenant.advance(hours=PAST_INTERVAL.total_seconds() / 3600)
    mark = tenant.mark_logs()
    assert tenant.cycle(SYNC_RECONCILE_HOURS="0").reconciliation["runs"] == 0
    calls = [r["path"] for r in tenant.graph.request_log[mark[0] :]]
    assert not any(path.endswith("/calendarView") for path in calls)
    assert tenant.settings().reconcile_hours == 6
    with pytest.raises(SettingsError):
        tenant.settings(SYNC_RECONCILE_HOURS="-1")


def test_the_mailboxes_are_spread_over_the_interval() -> None:
    """40 mailboxes, a 6-hour interval, a cycle every 5 minutes for two days: each mailbox reconciles once
    per interval, and no cycle reconciles more than a small fraction of them."""
    mailboxes = [f"user{i:04d}@contoso.com" for i in range(40)]
    interval = timedelta(hours=6)
    start = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
    last = dict.fromkeys(mailboxes, start)  # first sight: remembered, not reconciled
    runs: dict[str, list[datetime]] = {m: [] for m in mailboxes}
    per_cycle: list[int] = []
    now = start
    for _ in range(2 * 24 * 12):
        now += timedelta(minutes=5)
        due = [m for m in mailboxes if is_due(now, last[m], m, interval)]
        for mailbox in due:
            last[mailbox] = now
            runs[mailbox].append(now)
        per_cycle.append(len(due))
    for mailbox, times in runs.items():
        assert len(times) in (7, 8), mailbox  # 48 hours / 6: the first comes at the mailbox's own slot
        gaps = {b - a for a, b in itertools.pairwise(times)}
        assert gaps == {interval}, mailbox
        assert times[0] - start <= interval
    assert max(per_cycle) <= 4  # 10 %; the even share is 40 / 72 per cycle
    assert sum(per_cycle) == sum(len(t) for t in runs.values())


def test_a_clock_jumping_back_does_not_stop_the_reconciliation() -> None:
    now = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
    interval = timedelta(hours=6)
    assert is_due(now, now + timedelta(days=3), ALICE, interval)
    slot = last_slot(now, ALICE, interval)
    assert slot <= now < slot + interval
    assert not is_due(now, slot, ALICE, interval) and is_due(
        now, slot - timedelta(seconds=1), ALICE, interval
    )
