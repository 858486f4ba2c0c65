"""Nothing lost, nothing twice: outages across cycles, lost answers and creates whose outcome is unknown.

Faults are injected at the HTTP layer of the stand-ins (simulators/faults.py): what the product sees is what
it would see from F&O or Graph. Each test also checks that an idle cycle afterwards writes nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from simulators.faults import LOSE_ANSWER, AppliedWrite, Faults
from simulators.sample_data import CATEGORY, COMPANY
from sync_core.kinds.task_todo import ENTRY_PREFIX
from sync_core.kinds.task_todo import stamp_of as task_stamp_of
from sync_core.runtime.keys import fno_key, stamp_of
from sync_core.state.base import PENDING, Link
from sync_core.state.factory import SQLITE_FILE
from sync_core.state.sqlite import SqliteStateStore
from tests.durability.faulty_tenant import faults as faults  # the fixtures, shared
from tests.durability.faulty_tenant import quiet
from tests.durability.faulty_tenant import tenant as tenant
from tests.e2e.deletion_helpers import add_activity, graph_time, update_activity
from tests.e2e.harness import Tenant

ALICE = "alice@contoso.com"
ACTIVITIES = r"^/data/Activities$"


def _activities(tenant: Tenant, purpose: str) -> list[dict[str, Any]]:
    return [a for a in tenant.fno.all("Activities") if a.get("Purpose") == purpose]


def _events(tenant: Tenant, subject: str) -> list[dict[str, Any]]:
    return [e for e in tenant.graph.events(ALICE) if e.get("subject") == subject]


def _marked_event(tenant: Tenant, subject: str, **extra: Any) -> dict[str, Any]:
    start = tenant.now.replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    body: dict[str, Any] = {
        "subject": subject,
        "start": graph_time(start),
        "end": graph_time(start + timedelta(hours=1)),
        "categories": [CATEGORY],
    }
    body.update(extra)
    return tenant.graph.add_event(ALICE, body)


def _marked_task(tenant: Tenant, title: str) -> dict[str, Any]:
    return tenant.graph.todo.add_task(ALICE, {"title": title, "categories": [CATEGORY]})


def test_an_outage_longer_than_the_retries_delays_creates_and_loses_none(
    tenant: Tenant, faults: Faults
) -> None:
    event = _marked_event(tenant, "Planning during the outage")
    task = _marked_task(tenant, "Call back after the outage")
    # A maintenance window: every create refused (Retry-After 0 keeps the client's own retries quick).
    outage = faults.unavailable("POST", ACTIVITIES, retry_after=0)

    report = tenant.cycle()
    assert {(f.kind, f.graph_id) for f in report.failures} >= {("appointment", event["id"])}
    assert report.waiting_for_retry >= 2
    assert _activities(tenant, "Planning during the outage") == []

    faults.remove(outage)
    tenant.advance(minutes=1)
    tenant.cycle()  # the work list waits for its retry time; the feeds no longer report the items
    assert _activities(tenant, "Planning during the outage") == []

    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert report.failures == [] and report.waiting_for_retry == 0
    [activity] = _activities(tenant, "Planning during the outage")
    assert activity["OutlookEntryId"] == event["id"]
    assert (
        len([a for a in tenant.fno.all("Activities") if a.get("Purpose") == "Call back after the outage"])
        == 1
    )
    assert len(_events(tenant, "Planning during the outage")) == 1
    assert task["id"] in {t["id"] for t in tenant.graph.todo.tasks(ALICE)}
    quiet(tenant)


def test_a_lost_answer_to_an_activity_create_is_finished_not_repeated(tenant: Tenant, faults: Faults) -> None:
    event = _marked_event(
        tenant,
        "Contract call with Litware",
        attendees=[{"emailAddress": {"address": "ken.sato@litware.com"}, "type": "required"}],
    )
    lost = faults.lose_answer("POST", ACTIVITIES, count=1)  # applied, then the connection breaks

    report = tenant.cycle()
    assert lost.fired == 1
    assert report.failures == []
    [activity] = _activities(tenant, "Contract call with Litware")
    key = fno_key(COMPANY, activity["ActivityNumber"])
    # What the create would have done after the POST is done by the pass that found the activity again.
    assert [p["ParentId"] for p in tenant.parent_links(activity["ActivityNumber"])] == ["CP-0002"]
    [synced] = _events(tenant, "Contract call with Litware")
    assert synced["id"] == event["id"] and stamp_of(synced) == key
    quiet(tenant)


def test_a_lost_answer_to_an_event_create_is_found_by_its_stamp(tenant: Tenant, faults: Faults) -> None:
    start = tenant.now.replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
    number = add_activity(tenant, ALICE, "Site visit planned in F&O", start)
    lost = faults.lose_answer("POST", r"/users/[^/]+/events$", count=1)

    report = tenant.cycle()
    assert lost.fired == 1 and report.failures == []
    [event] = _events(tenant, "Site visit planned in F&O")
    assert stamp_of(event) == fno_key(COMPANY, number)
    assert len(_activities(tenant, "Site visit planned in F&O")) == 1
    quiet(tenant)


def test_a_lost_answer_to_a_task_create_is_finished_not_repeated(tenant: Tenant, faults: Faults) -> None:
    task = _marked_task(tenant, "Send the revised offer")
    lost = faults.lose_answer("POST", ACTIVITIES, count=1)

    report = tenant.cycle()
    assert lost.fired == 1 and report.failures == []
    [activity] = _activities(tenant, "Send the revised offer")
    assert activity["OutlookEntryId"] == ENTRY_PREFIX + task["id"]
    [synced] = [t for t in tenant.graph.todo.tasks(ALICE) if t.get("title") == "Send the revised offer"]
    assert task_stamp_of(synced) == fno_key(COMPANY, activity["ActivityNumber"])
    quiet(tenant)


def test_a_create_without_an_answer_is_not_repeated_before_its_outcome_can_show(
    tenant: Tenant, faults: Faults
) -> None:
    """A gateway timeout: the create may still be applied later (a long transaction). The product looks for
    it and does not create again until SYNC_CREATE_OUTCOME_WAIT_SECONDS have passed."""
    event = _marked_event(tenant, "Budget talk")
    faults.fail("POST", ACTIVITIES, status=504, count=1)

    report = tenant.cycle()
    assert report.waiting_for_retry == 1
    assert _activities(tenant, "Budget talk") == []
    # The delayed transaction commits after all, with the event's id as the product sent it.
    start = tenant.now.replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    late = add_activity(tenant, ALICE, "Budget talk", start, OutlookEntryId=event["id"])
    tenant.advance(minutes=11)
    report = tenant.cycle()
    assert report.failures == [] and report.waiting_for_retry == 0
    [activity] = _activities(tenant, "Budget talk")
    assert activity["ActivityNumber"] == late
    assert stamp_of(_events(tenant, "Budget talk")[0]) == fno_key(COMPANY, late)
    quiet(tenant)


def test_a_create_without_an_answer_that_never_landed_is_made_once_after_the_wait(
    tenant: Tenant, faults: Faults
) -> None:
    _marked_event(tenant, "Budget talk, take two")
    faults.fail("POST", ACTIVITIES, status=504, count=1)
    tenant.cycle()
    tenant.advance(minutes=6)
    tenant.cycle()  # retried, but the wait is not over: still nothing created
    assert _activities(tenant, "Budget talk, take two") == []
    tenant.advance(minutes=12)
    report = tenant.cycle()
    assert report.failures == []
    assert len(_activities(tenant, "Budget talk, take two")) == 1
    quiet(tenant)


def test_an_unfinished_create_whose_source_was_deleted_deletes_what_it_made(tenant: Tenant) -> None:
    """A crash left a claim: the activity was made from an Outlook event, but not linked yet. Then the user
    deleted the event. The activity goes too (through the deletion check), not left behind or resurrected."""
    start = tenant.now.replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    event = _marked_event(tenant, "Made, then deleted")
    made = add_activity(tenant, ALICE, "Made, then deleted", start, OutlookEntryId=event["id"])
    settings = tenant.settings()

    async def leave_claim() -> None:
        store = SqliteStateStore(settings.state_dir / SQLITE_FILE)
        try:
            await store.save_link(
                Link(
                    kind="appointment",
                    mailbox=ALICE,
                    fno_key=PENDING + event["id"],
                    graph_id=event["id"],
                    synced_at=tenant.now,
                )
            )
        finally:
            await store.close()

    asyncio.run(leave_claim())
    tenant.graph.delete_event(ALICE, event["id"])
    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert report.failures == []
    assert tenant.activity(made) is None
    assert _events(tenant, "Made, then deleted") == []
    quiet(tenant)


def test_lost_answers_to_updates_on_both_sides_land_once(tenant: Tenant, faults: Faults) -> None:
    """An update applied whose answer was lost is sent again or read again; either way the edit lands and
    the pair settles (a conditional write sent again meets its own change: 412, then a read)."""
    lunch = tenant.handles["lunch"]
    tenant.graph.update_event(ALICE, lunch, {"subject": "Lunch, edited in Outlook"})
    review = tenant.handles["review"]
    tenant.fno.update(
        "Activities", {"dataAreaId": COMPANY, "ActivityNumber": review}, {"Purpose": "Review, edited in F&O"}
    )
    to_fno = faults.lose_answer("PATCH", r"^/data/Activities\(", count=1)
    to_graph = faults.lose_answer("PATCH", r"/users/[^/]+/events/", count=1)

    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert (to_fno.fired, to_graph.fired) == (1, 1)
    assert report.failures == []
    assert [a["Purpose"] for a in _activities(tenant, "Lunch, edited in Outlook")] == [
        "Lunch, edited in Outlook"
    ]
    assert len(_events(tenant, "Review, edited in F&O")) == 1
    tenant.cycle()  # the echo of the writes
    quiet(tenant)


def test_an_edit_made_before_an_unfinished_create_is_finished_is_kept(tenant: Tenant, faults: Faults) -> None:
    """The create's answer was lost and the next passes could not look (F&O failing): meanwhile the user
    edited the activity it made. Finishing the create keeps that edit and carries it to Outlook."""
    event = _marked_event(tenant, "Offsite planning")

    def after_create(write: AppliedWrite) -> str | None:
        if write.method == "POST" and write.path == "/data/Activities":
            faults.fail("GET", ACTIVITIES, status=500, count=5)  # every retry of this cycle fails
            return LOSE_ANSWER
        return None

    remove = faults.on_applied_write(after_create)
    report = tenant.cycle()
    remove()
    assert report.waiting_for_retry == 1
    [activity] = _activities(tenant, "Offsite planning")
    update_activity(tenant, activity["ActivityNumber"], {"Purpose": "Offsite planning (room booked)"})

    tenant.advance(minutes=6)
    report = tenant.cycle()
    assert report.failures == [] and report.waiting_for_retry == 0
    assert [a["ActivityNumber"] for a in _activities(tenant, "Offsite planning (room booked)")] == [
        activity["ActivityNumber"]
    ]
    [synced] = [e for e in tenant.graph.events(ALICE) if e["id"] == event["id"]]
    assert synced["subject"] == "Offsite planning (room booked)"
    tenant.cycle()  # the echo
    quiet(tenant)
