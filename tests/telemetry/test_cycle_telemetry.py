"""A real local cycle against the stand-ins (over HTTP), with telemetry captured in memory: traces per
cycle and per item share the cycle id, metrics agree with the cycle report, and no personal data leaves."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.sample_data import COMPANY
from sync_core.pipeline import plan
from sync_core.state.base import MailboxRecord
from sync_core.state.sqlite import SqliteStateStore
from sync_core.telemetry import names
from sync_core.telemetry.ids import mailbox_ref
from tests.e2e.harness import Tenant, sample_tenant
from tests.telemetry.conftest import Captured

# Messages whose queueing code passes the cycle id on (the appointment pipeline's do; a message queued
# without one starts a trace of its own, see ids.cycle_context).
TRACED_TYPES = ("scan-mailbox", "scan-fno", "sync-pair")


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as value:
        yield value


def _ref(tenant: Tenant, address: str) -> str:
    return mailbox_ref(address, tenant.settings().d365_url)


def _registry(tenant: Tenant) -> list[MailboxRecord]:
    async def read() -> list[MailboxRecord]:
        store = SqliteStateStore(tenant.settings().state_dir / "state.sqlite3")
        try:
            return await store.list_mailboxes()
        finally:
            await store.close()

    return asyncio.run(read())


def _attribute_values(otel: Captured) -> list[str]:
    values = [str(v) for s in otel.spans() for v in (s.attributes or {}).values()]
    values += [str(s.name) for s in otel.spans()]
    values += [str(s.status.description or "") for s in otel.spans()]
    for metric in names.METRICS:
        values += [str(v) for p in otel.points(metric) for v in p.attributes.values()]
    return values


def test_one_trace_per_cycle_with_a_span_per_message(tenant: Tenant, otel: Captured) -> None:
    report = tenant.cycle()
    [plan] = otel.spans(names.SPAN_PLAN)
    cycle_id = str((plan.attributes or {})[names.CYCLE_ID])
    assert len(cycle_id) == 32
    messages = [
        s for s in otel.spans(names.SPAN_MESSAGE_PREFIX) if s.name not in (names.SPAN_PLAN, names.SPAN_CYCLE)
    ]
    traced = [
        s
        for s in messages
        if (s.attributes or {})[names.MESSAGE_TYPE] in TRACED_TYPES
        and (s.attributes or {})[names.KIND] == "appointment"
    ]
    [cycle] = otel.spans(names.SPAN_CYCLE)
    # Plan, every scan and pair message, and the cycle itself: one trace, whose id is the cycle id.
    for span in [plan, cycle, *traced]:
        assert span.context is not None and span.context.trace_id == int(cycle_id, 16), span.name
        assert (span.attributes or {})[names.CYCLE_ID] == cycle_id
    types = [str((s.attributes or {})[names.MESSAGE_TYPE]) for s in messages]
    assert types.count("scan-mailbox") >= 3 and "scan-fno" in types and "sync-pair" in types
    created = [
        s for s in traced if (s.attributes or {}).get(names.ACTION) in ("create_in_graph", "create_in_fno")
    ]
    assert (
        len(created)
        == report.counts["appointment"]["to_exchange"]["created"]
        + (report.counts["appointment"]["to_fno"]["created"])
    )
    assert (cycle.attributes or {})["sync.writes"] == report.writes
    # Sum of message counts by outcome = number of message spans.
    assert otel.total(names.MESSAGES) == len(messages)


def test_metrics_agree_with_the_cycle_report(tenant: Tenant, otel: Captured) -> None:
    report = tenant.cycle()
    for kind, per_direction in report.counts.items():
        for direction, per_action in per_direction.items():
            for action, count in per_action.items():
                emitted = otel.total(
                    names.ITEMS, sync__kind=kind, sync__direction=direction, sync__action=action
                )
                assert emitted == count, (kind, direction, action)
    assert otel.total(names.FAILURES) == len(report.failures)
    assert otel.total(names.MESSAGES, sync__outcome="failed") == len(report.failures)
    [skipped] = otel.points(names.SKIPPED_MAILBOXES)
    assert skipped.value == 1
    assert skipped.attributes == {
        names.MAILBOX: _ref(tenant, "dave@contoso.com"),
        names.REASON: "no F&O worker has this address as PrimaryContactEmail",
    }
    stages = {p.attributes[names.STAGE]: p.count for p in otel.points(names.CYCLE_DURATION)}
    assert stages == {"plan": 1, "cycle": 1}


def test_mailbox_sync_age_comes_from_the_registry(tenant: Tenant, otel: Captured) -> None:
    tenant.cycle()
    first = {p.attributes[names.MAILBOX]: p for p in otel.points(names.MAILBOX_SYNC_AGE)}
    registry = _registry(tenant)
    assert "dave@contoso.com" in {r.mailbox for r in registry}
    assert set(first) == {_ref(tenant, r.mailbox) for r in registry}
    assert all(p.attributes[names.NEVER_SYNCED] is True for p in first.values())  # planned before any scan

    tenant.advance(minutes=5)
    tenant.cycle()
    ages = {p.attributes[names.MAILBOX]: p for p in otel.points(names.MAILBOX_SYNC_AGE)}
    for address in ("alice@contoso.com", "bob@contoso.com", "carol@contoso.com"):
        point = ages[_ref(tenant, address)]
        # last_synced_at was written by the first cycle's scan, five minutes before this plan.
        assert point.value == 300.0 and point.attributes[names.NEVER_SYNCED] is False
        assert point.attributes[names.STATUS] == "ok" and point.attributes[names.USER_ID]
    dave = ages[_ref(tenant, "dave@contoso.com")]
    assert dave.attributes[names.STATUS] == "skipped" and dave.attributes[names.NEVER_SYNCED] is True


def test_mailbox_sync_age_of_mailboxes_planned_in_chunks(
    tmp_path: Path, otel: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Above CHUNK_MAILBOXES the timer's plan resolves no mailbox itself: each chunk's execution reports
    # the sync age of its own mailboxes, so none goes unwatched.
    monkeypatch.setattr(plan, "CHUNK_MAILBOXES", 2)
    with sample_tenant(tmp_path) as tenant:
        tenant.cycle()
        tenant.advance(minutes=5)
        tenant.cycle()
        ages = {p.attributes[names.MAILBOX]: p for p in otel.points(names.MAILBOX_SYNC_AGE)}
        assert set(ages) == {_ref(tenant, r.mailbox) for r in _registry(tenant)}
        alice = ages[_ref(tenant, "alice@contoso.com")]
        assert alice.value == 300.0 and alice.attributes[names.NEVER_SYNCED] is False


def test_change_to_synced_latency_and_conflicts(tenant: Tenant, otel: Captured) -> None:
    tenant.cycle()
    baseline = {
        (p.attributes[names.KIND], p.attributes[names.DIRECTION]): (p.count, p.value)
        for p in otel.points(names.LATENCY)
    }
    tenant.advance(minutes=5)
    key = {"dataAreaId": COMPANY, "ActivityNumber": tenant.handles["review"]}
    tenant.fno.update("Activities", key, {"Location": "Room 7"})
    event = tenant.graph.get_event("alice@contoso.com", tenant.handles["lunch"])
    assert event is not None
    tenant.graph.update_event(
        "alice@contoso.com", tenant.handles["lunch"], {"location": {"displayName": "Cafe"}}
    )
    tenant.advance(minutes=3)  # the sync runs three minutes after both edits
    report = tenant.cycle()
    assert report.counts["appointment"]["to_exchange"]["updated"] == 1
    assert report.counts["appointment"]["to_fno"]["updated"] == 1
    for direction in ("to_exchange", "to_fno"):
        [point] = [
            p
            for p in otel.points(names.LATENCY)
            if p.attributes == {names.KIND: "appointment", names.DIRECTION: direction}
        ]
        count, total = baseline.get(("appointment", direction), (0, 0.0))
        assert point.count - count == 1
        assert point.value - total == pytest.approx(180.0)
    assert otel.total(names.CONFLICTS) == report.conflicts == 0


def test_conflicts_are_counted(tenant: Tenant, otel: Captured) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    key = {"dataAreaId": COMPANY, "ActivityNumber": tenant.handles["review"]}
    tenant.fno.update("Activities", key, {"Location": "Room 7"})
    [event] = [
        e
        for e in tenant.graph.events("alice@contoso.com")
        if e.get("location", {}).get("displayName") == "Fabrikam HQ, Room 4"
    ]
    tenant.graph.update_event("alice@contoso.com", event["id"], {"location": {"displayName": "Room 9"}})
    tenant.advance(minutes=1)
    report = tenant.cycle()
    assert report.conflicts >= 1
    assert otel.total(names.CONFLICTS, sync__kind="appointment") == report.conflicts


def test_no_personal_data_in_telemetry(tenant: Tenant, otel: Captured) -> None:
    tenant.cycle()
    values = _attribute_values(otel)
    assert values
    everything = "\n".join(values).lower()
    assert "@" not in everything  # no address, of a mailbox, an attendee or anyone
    for text in ("quarterly review", "lunch with litware", "o'brien", "fabrikam", "contoso"):
        assert text not in everything


def test_dry_run_is_marked(tenant: Tenant, otel: Captured) -> None:
    tenant.cycle(dry_run=True)
    spans: list[Any] = otel.spans()
    assert spans and all((s.attributes or {}).get(names.DRY_RUN) is True for s in spans)
    assert otel.points(names.LATENCY) == []
