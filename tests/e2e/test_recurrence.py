"""Recurring series marked in Outlook (docs/spec.md §3.1): master, occurrences and exceptions in the window."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.sample_data import CATEGORY
from tests.e2e.deletion_helpers import appt_tenant, instances, links, update_activity
from tests.e2e.harness import Tenant

__all__ = ["appt_tenant"]
MAILBOX = "alice@contoso.com"  # Europe/Berlin: summer time starts on 29 March 2026


@pytest.fixture(params=["documented", "reported"])
def series_tenant(request: pytest.FixtureRequest, appt_tenant: Tenant) -> Tenant:
    """Each test runs against the calendar delta as Microsoft documents it and as public reports describe
    it (bare occurrences, the master listed, a cancelled occurrence not reported: simulators/graph/delta.py)."""
    appt_tenant.graph.bare_occurrences_in_delta = request.param == "reported"
    return appt_tenant


def _series(
    tenant: Tenant, *, kind: str = "weekly", count: int = 4, subject: str = "Team stand-up"
) -> dict[str, Any]:
    pattern: dict[str, Any] = {"type": kind, "interval": 1}
    if kind == "weekly":
        pattern["daysOfWeek"] = ["monday"]
    return tenant.graph.add_event(
        MAILBOX,
        {
            "subject": subject,
            "start": {"dateTime": "2026-03-23T09:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2026-03-23T09:30:00", "timeZone": "W. Europe Standard Time"},
            "categories": [CATEGORY],
            "recurrence": {
                "pattern": pattern,
                "range": {"type": "numbered", "startDate": "2026-03-23", "numberOfOccurrences": count},
            },
        },
    )


def _activities(tenant: Tenant, subject: str = "Team stand-up") -> list[dict[str, Any]]:
    return sorted(
        (a for a in tenant.appointments() if a["Purpose"] == subject), key=lambda a: a["StartDateTime"]
    )


def _writes_to_occurrences(tenant: Tenant, mark: tuple[int, int], ids: set[str]) -> list[dict[str, Any]]:
    return [
        r
        for r in tenant.graph.request_log[mark[0] :]
        if r["method"] in ("PATCH", "DELETE") and any(i in r["path"] for i in ids)
    ]


def test_series_becomes_master_and_one_activity_per_occurrence(series_tenant: Tenant) -> None:
    tenant = series_tenant
    master = _series(tenant)
    occurrences = instances(tenant, MAILBOX, master["id"])
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    rows = _activities(tenant)
    states = [(a["RecurrenceState"], a.get("MasterAppointment")) for a in rows]
    assert states.count(("Master", "Yes")) == 1
    assert states.count(("Occurrence", "No")) == 4
    by_original = {a["OriginalStartDate"]: a for a in rows if a["RecurrenceState"] == "Occurrence"}
    # 09:00 Berlin: 08:00Z before the DST change, 07:00Z after it, to the minute.
    assert sorted(by_original) == [
        "2026-03-23T08:00:00Z",
        "2026-03-30T07:00:00Z",
        "2026-04-06T07:00:00Z",
        "2026-04-13T07:00:00Z",
    ]
    assert all(a["StartDateTime"] == a["OriginalStartDate"] for a in by_original.values())
    assert all(a["KeepSynchronized"] == "Yes" for a in rows)
    # Linking never wrote to an occurrence (that would turn it into an exception).
    assert _writes_to_occurrences(tenant, mark, {o["id"] for o in occurrences}) == []
    assert all(o["type"] == "occurrence" for o in instances(tenant, MAILBOX, master["id"]))
    assert len([link for link in links(tenant) if link.snapshot.get("series") != "single"]) == 5
    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    tenant.cycle()
    assert tenant.writes_since(mark) == []


def test_occurrence_edited_in_outlook_becomes_an_exception_in_fno(series_tenant: Tenant) -> None:
    tenant = series_tenant
    master = _series(tenant)
    tenant.cycle()
    second = instances(tenant, MAILBOX, master["id"])[1]
    tenant.advance(minutes=5)
    tenant.graph.update_event(MAILBOX, second["id"], {"location": {"displayName": "Room 12"}})
    report = tenant.cycle()
    assert report.failures == []
    [changed] = [a for a in _activities(tenant) if a["OriginalStartDate"] == "2026-03-30T07:00:00Z"]
    assert changed["RecurrenceState"] == "Exception" and changed["Location"] == "Room 12"
    others = [a for a in _activities(tenant) if a["RecurrenceState"] == "Occurrence"]
    assert len(others) == 3 and all(not a.get("Location") for a in others)
    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    tenant.cycle()
    assert tenant.writes_since(mark) == []


def test_occurrence_edited_in_fno_becomes_an_exception_in_one_cycle(series_tenant: Tenant) -> None:
    tenant = series_tenant
    master = _series(tenant)
    tenant.cycle()
    third = next(a for a in _activities(tenant) if a["OriginalStartDate"] == "2026-04-06T07:00:00Z")
    tenant.advance(minutes=5)
    update_activity(tenant, third["ActivityNumber"], {"Purpose": "Stand-up with guests"})
    report = tenant.cycle()
    assert report.failures == []
    rows = {o.get("originalStart"): o for o in instances(tenant, MAILBOX, master["id"])}
    assert rows["2026-04-06T07:00:00Z"]["type"] == "exception"
    assert rows["2026-04-06T07:00:00Z"]["subject"] == "Stand-up with guests"
    assert [o["type"] for k, o in sorted(rows.items()) if k != "2026-04-06T07:00:00Z"] == ["occurrence"] * 3
    activity = tenant.activity(third["ActivityNumber"])
    assert activity is not None and activity["RecurrenceState"] == "Exception"
    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    tenant.cycle()
    assert tenant.writes_since(mark) == []


def test_cancelled_occurrence_deletes_its_future_activity(series_tenant: Tenant) -> None:
    tenant = series_tenant
    master = _series(tenant)
    tenant.cycle()
    second = instances(tenant, MAILBOX, master["id"])[1]
    tenant.advance(minutes=5)
    tenant.graph.delete_event(MAILBOX, second["id"])  # "delete this occurrence" in Outlook
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["appointment"]["to_fno"]["deleted"] == 1
    originals = [a["OriginalStartDate"] for a in _activities(tenant) if a["RecurrenceState"] == "Occurrence"]
    assert "2026-03-30T07:00:00Z" not in originals and len(originals) == 3


def test_deleting_the_master_activity_in_fno_never_creates_a_series(series_tenant: Tenant) -> None:
    tenant = series_tenant
    _series(tenant)
    tenant.cycle()
    for activity in _activities(tenant):
        update_activity(tenant, activity["ActivityNumber"], {"Location": "x"})
    # F&O cannot hold a pattern: an unlinked series member marked in F&O is never created in Outlook.
    tenant.fno.add(
        "Activities",
        {
            "dataAreaId": "usmf",
            "Category": "Appointment",
            "Purpose": "Orphan occurrence",
            "StartDateTime": "2026-03-24T08:00:00Z",
            "EndDateTime": "2026-03-24T09:00:00Z",
            "ResponsibleWorkerPersonnelNumber": "000101",
            "KeepSynchronized": "Yes",
            "RecurrenceState": "Occurrence",
        },
    )
    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert report.failures == []
    assert not [e for e in tenant.graph.events(MAILBOX) if e["subject"] == "Orphan occurrence"]


def test_window_moving_day_by_day_adds_occurrences_without_churn(series_tenant: Tenant) -> None:
    tenant = series_tenant
    tenant.extra_env.update({"SYNC_WINDOW_DAYS_BACK": "1", "SYNC_WINDOW_DAYS_AHEAD": "5"})
    master = _series(tenant, kind="daily", count=30, subject="Daily check")
    series_ids = {master["id"]} | {o["id"] for o in instances(tenant, MAILBOX, master["id"])}
    tenant.cycle()
    first = len(_activities(tenant, "Daily check"))
    assert first == 1 + 2  # the master, 23 and 24 March (window: 19 March 00:00Z to 25 March 00:00Z)
    for day in range(1, 6):
        before = {a["ActivityNumber"] for a in _activities(tenant, "Daily check")}
        tenant.advance(days=1)
        mark = tenant.mark_logs()
        report = tenant.cycle()
        assert report.failures == []
        # Exactly one new occurrence enters the window each day; nothing of the series is rewritten or
        # deleted on either side (other sample appointments entering the window are synced as usual).
        assert len(_activities(tenant, "Daily check")) == first + day
        assert _writes_to_occurrences(tenant, mark, series_ids) == []
        touched = [w for w in tenant.writes_since(mark) if w["method"] in ("PATCH", "DELETE")]
        assert not [w for w in touched if any(number in w["path"] for number in before)], day
        assert report.counts["appointment"]["to_fno"]["deleted"] == 0
    # Occurrences that left the window stay linked and untouched.
    assert all(a["KeepSynchronized"] == "Yes" for a in _activities(tenant, "Daily check"))
