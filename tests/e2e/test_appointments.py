"""Appointments both ways, end to end over real HTTP against both stand-ins (docs/spec.md §3, §3.1, §3.5, §4)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from simulators.sample_data import CATEGORY, COMPANY
from sync_core.runtime.keys import stamp_of
from sync_core.state.base import Link
from sync_core.state.sqlite import SqliteStateStore
from tests.e2e.harness import Tenant


def _event_by_stamp(tenant: Tenant, mailbox: str, number: str) -> list[dict[str, Any]]:
    key = f"{COMPANY}|{number}"
    return [e for e in tenant.graph.events(mailbox) if stamp_of(e) == key]


def _utc(graph_time: dict[str, str]) -> datetime:
    assert graph_time["timeZone"] == "UTC"
    return datetime.fromisoformat(graph_time["dateTime"][:19]).replace(tzinfo=UTC)


def _links(tenant: Tenant) -> list[Link]:
    async def read() -> list[Link]:
        store = SqliteStateStore(tenant.settings().state_dir / "state.sqlite3")
        try:
            links: list[Link] = []
            for mailbox in ("alice@contoso.com", "bob@contoso.com", "carol@contoso.com"):
                links.extend(await store.list_links("appointment", mailbox))
            return links
        finally:
            await store.close()

    return asyncio.run(read())


def test_first_cycle_creates_both_ways_and_reports_skipped_mailbox(tenant: Tenant) -> None:
    report = tenant.cycle()

    assert report.failures == []
    assert report.counts["appointment"]["to_exchange"]["created"] == 5
    assert report.counts["appointment"]["to_fno"]["created"] == 2
    assert report.skipped_mailboxes == {
        "dave@contoso.com": "no F&O worker has this address as PrimaryContactEmail"
    }

    # F&O -> Exchange: in the owner's mailbox, with the category, the stamp and attendees from contact links.
    [review] = _event_by_stamp(tenant, "alice@contoso.com", tenant.handles["review"])
    assert CATEGORY in review["categories"]
    assert review["location"]["displayName"] == "Fabrikam HQ, Room 4"
    assert [a["emailAddress"]["address"] for a in review["attendees"]] == ["jane.o'brien@fabrikam.com"]
    assert review["transactionId"]
    activity = tenant.activity(tenant.handles["review"])
    assert activity is not None
    assert _utc(review["start"]).strftime("%Y-%m-%dT%H:%M:%SZ") == activity["StartDateTime"]

    [pricing] = _event_by_stamp(tenant, "bob@contoso.com", tenant.handles["pricing"])
    assert pricing["importance"] == "high"
    assert pricing["isReminderOn"] is True and pricing["reminderMinutesBeforeStart"] == 30

    [offsite] = _event_by_stamp(tenant, "alice@contoso.com", tenant.handles["offsite"])
    assert offsite["sensitivity"] == "private"  # F&O spells it Privat
    assert offsite["isAllDay"] is True

    # Not marked in F&O: stays out of Exchange.
    assert _event_by_stamp(tenant, "bob@contoso.com", tenant.handles["internal"]) == []

    # Exchange -> F&O: owned by the mailbox's worker, parent links found by attendee address.
    lunch = next(a for a in tenant.appointments() if a["Purpose"] == "Lunch with Litware")
    assert lunch["ResponsibleWorkerPersonnelNumber"] == "000101"
    assert lunch["KeepSynchronized"] == "Yes"
    assert "renewal" in lunch["OutlookText"] and "<b>" not in lunch["OutlookText"]
    assert [
        (p["ParentType"], p["ParentId"], p["IsPrimaryLink"])
        for p in tenant.parent_links(lunch["ActivityNumber"])
    ] == [("ContactPerson", "CP-0002", "Yes")]
    demo = next(a for a in tenant.appointments() if a["Purpose"] == "Demo for Tailspin")
    assert demo["ResponsibleWorkerPersonnelNumber"] == "000103"
    links = {
        (p["ParentType"], p["ParentId"], p["IsPrimaryLink"])
        for p in tenant.parent_links(demo["ActivityNumber"])
    }
    assert links == {("BusRel", "PR-007", "Yes"), ("ContactPerson", "CP-0001", "No")}
    assert demo["Priority"] == "High"
    assert demo["OutlookCategories"] == "Customer"

    # Each event created from Outlook now carries the F&O key, so it is found again after a crash.
    [lunch_event] = [
        e for e in tenant.graph.events("alice@contoso.com") if e["subject"] == "Lunch with Litware"
    ]
    assert stamp_of(lunch_event) == f"{COMPANY}|{lunch['ActivityNumber']}"


def test_second_cycle_writes_nothing(tenant: Tenant) -> None:
    tenant.cycle()
    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert tenant.writes_since(mark) == []
    assert report.writes == 0
    assert report.failures == []


def test_updates_flow_both_ways_without_echo(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    review_key = {"dataAreaId": COMPANY, "ActivityNumber": tenant.handles["review"]}
    tenant.fno.update("Activities", review_key, {"Location": "Room 7", "Purpose": "Quarterly review (moved)"})
    lunch_id = tenant.handles["lunch"]
    event = tenant.graph.get_event("alice@contoso.com", lunch_id)
    assert event is not None
    new_start = _utc(event["start"]) + timedelta(hours=2)
    tenant.graph.update_event(
        "alice@contoso.com",
        lunch_id,
        {
            "start": {"dateTime": new_start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {
                "dateTime": (new_start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
        },
    )

    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["appointment"]["to_exchange"]["updated"] == 1
    assert report.counts["appointment"]["to_fno"]["updated"] == 1
    [review] = _event_by_stamp(tenant, "alice@contoso.com", tenant.handles["review"])
    assert review["location"]["displayName"] == "Room 7"
    assert review["subject"] == "Quarterly review (moved)"
    lunch = next(a for a in tenant.appointments() if a["Purpose"] == "Lunch with Litware")
    assert lunch["StartDateTime"] == new_start.strftime("%Y-%m-%dT%H:%M:%SZ")

    # Only the changed field was sent, so no meeting update for the attendees of a location-only change
    # would be triggered by anything else; and the next cycle echoes nothing back.
    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    again = tenant.cycle()
    assert tenant.writes_since(mark) == []
    assert again.writes == 0


def test_unmark_in_outlook_unmarks_in_fno_and_deletes_nothing(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    [review] = _event_by_stamp(tenant, "alice@contoso.com", tenant.handles["review"])
    tenant.graph.update_event(
        "alice@contoso.com", review["id"], {"categories": [c for c in review["categories"] if c != CATEGORY]}
    )
    report = tenant.cycle()
    assert report.counts["appointment"]["to_fno"]["unlinked"] == 1
    activity = tenant.activity(tenant.handles["review"])
    assert activity is not None and activity["KeepSynchronized"] == "No"
    assert tenant.graph.get_event("alice@contoso.com", review["id"]) is not None
    assert all(link.fno_key != f"{COMPANY}|{tenant.handles['review']}" for link in _links(tenant))

    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    tenant.cycle()
    assert tenant.writes_since(mark) == []


def test_unmark_in_fno_removes_the_category_in_outlook(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    tenant.fno.update(
        "Activities",
        {"dataAreaId": COMPANY, "ActivityNumber": tenant.handles["pricing"]},
        {"KeepSynchronized": "No"},
    )
    report = tenant.cycle()
    assert report.counts["appointment"]["to_exchange"]["unlinked"] == 1
    [pricing] = _event_by_stamp(tenant, "bob@contoso.com", tenant.handles["pricing"])
    assert CATEGORY not in pricing["categories"]


def test_crash_after_creating_the_event_never_duplicates(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = SqliteStateStore.save_link
    crashes = {"left": 1}

    async def crash_once(self: SqliteStateStore, link: Link) -> Link:
        # The claim (pending link) is saved; the final link after the create is where we crash.
        if not link.graph_id.startswith("pending:") and crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("worker died between creating the event and saving its link")
        return await original(self, link)

    monkeypatch.setattr(SqliteStateStore, "save_link", crash_once)
    first = tenant.cycle()
    assert crashes["left"] == 0
    monkeypatch.setattr(SqliteStateStore, "save_link", original)
    # The crashed item was retried in the same cycle; either way each activity has exactly one event.
    tenant.advance(minutes=5)
    tenant.cycle()
    for mailbox, handle in (
        ("alice@contoso.com", "review"),
        ("alice@contoso.com", "offsite"),
        ("bob@contoso.com", "pricing"),
    ):
        assert len(_event_by_stamp(tenant, mailbox, tenant.handles[handle])) == 1
    assert len(_links(tenant)) == 7
    assert first.counts["appointment"]["to_exchange"]["created"] >= 4


def test_crash_after_creating_the_activity_never_duplicates(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = SqliteStateStore.save_link
    crashed: list[str] = []

    async def crash(self: SqliteStateStore, link: Link) -> Link:
        if (
            not link.fno_key.startswith("pending:")
            and link.graph_id == tenant.handles["lunch"]
            and not crashed
        ):
            crashed.append(link.fno_key)
            raise RuntimeError("worker died between creating the activity and saving its link")
        return await original(self, link)

    monkeypatch.setattr(SqliteStateStore, "save_link", crash)
    tenant.cycle(SYNC_MAX_ATTEMPTS="1")  # no retry inside the cycle: the next cycle must repair it
    assert crashed
    monkeypatch.setattr(SqliteStateStore, "save_link", original)
    tenant.advance(minutes=5)
    tenant.cycle()
    lunches = [a for a in tenant.appointments() if a["Purpose"] == "Lunch with Litware"]
    assert len(lunches) == 1
    assert any(link.graph_id == tenant.handles["lunch"] for link in _links(tenant))


def test_expired_delta_token_resyncs_without_duplicates(tenant: Tenant) -> None:
    tenant.cycle()
    for mailbox in ("alice@contoso.com", "bob@contoso.com", "carol@contoso.com"):
        tenant.graph.expire_delta_tokens(mailbox)
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert tenant.writes_since(mark) == []
    assert (
        sum(
            len(tenant.graph.events(m)) for m in ("alice@contoso.com", "bob@contoso.com", "carol@contoso.com")
        )
        == 8
    )


def test_deleted_event_found_after_token_loss(tenant: Tenant) -> None:
    tenant.cycle()
    [pricing] = _event_by_stamp(tenant, "bob@contoso.com", tenant.handles["pricing"])
    tenant.graph.delete_event("bob@contoso.com", pricing["id"])
    tenant.graph.expire_delta_tokens("bob@contoso.com")
    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert report.failures == []
    # A future appointment the organizer deleted in Outlook is deleted in F&O as well (docs/spec.md §4).
    assert tenant.activity(tenant.handles["pricing"]) is None
    assert report.counts["appointment"]["to_fno"]["deleted"] == 1


def test_throttling_is_absorbed(tenant: Tenant) -> None:
    tenant.graph.throttle_next("alice@contoso.com", 3, retry_after=0.01)
    tenant.fno.throttle_next(2, retry_after=0)
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["appointment"]["to_exchange"]["created"] == 5


def test_dry_run_writes_nothing_and_shows_the_plan(tenant: Tenant) -> None:
    mark = tenant.mark_logs()
    report = tenant.cycle(dry_run=True)
    assert tenant.writes_since(mark) == []
    actions = sorted(p.action for p in report.planned if p.kind == "appointment")
    assert actions.count("create_in_graph") == 5
    assert actions.count("create_in_fno") == 2
    # A real run afterwards does exactly that.
    real = tenant.cycle()
    assert real.counts["appointment"]["to_exchange"]["created"] == 5


ZONES = {
    "alice@contoso.com": ("000101", "Europe/Berlin"),  # 29 March 2026 is the day Europe springs forward
    "bob@contoso.com": ("000102", "Pacific/Honolulu"),  # UTC-10
    "carol@contoso.com": ("000103", "Pacific/Tongatapu"),  # UTC+13
}


def _local_midnight_utc(zone: str, day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def test_all_day_dates_hold_in_far_apart_zones(tenant: Tenant) -> None:
    for mailbox, (personnel, zone) in ZONES.items():
        start, end = _local_midnight_utc(zone, "2026-03-29"), _local_midnight_utc(zone, "2026-03-30")
        tenant.fno.add(
            "Activities",
            {
                "dataAreaId": COMPANY,
                "Category": "Appointment",
                "Purpose": f"Trade fair {mailbox}",
                "AllDay": "Yes",
                "StartDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "EndDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ResponsibleWorkerPersonnelNumber": personnel,
                "KeepSynchronized": "Yes",
            },
        )
    # And one made in Outlook, in Tonga, the other way.
    tenant.graph.add_event(
        "carol@contoso.com",
        {
            "subject": "Island holiday",
            "isAllDay": True,
            "start": {"dateTime": "2026-04-02T00:00:00", "timeZone": "Tonga Standard Time"},
            "end": {"dateTime": "2026-04-04T00:00:00", "timeZone": "Tonga Standard Time"},
            "categories": [CATEGORY],
        },
    )
    report = tenant.cycle()
    assert report.failures == []
    for mailbox, (_, zone) in ZONES.items():
        [fair] = [e for e in tenant.graph.events(mailbox) if e["subject"] == f"Trade fair {mailbox}"]
        assert fair["isAllDay"] is True
        local_start = _utc(fair["start"]).astimezone(ZoneInfo(zone))
        local_end = _utc(fair["end"]).astimezone(ZoneInfo(zone))
        assert (local_start.date().isoformat(), local_start.hour, local_start.minute) == ("2026-03-29", 0, 0)
        assert (local_end.date().isoformat(), local_end.hour) == ("2026-03-30", 0)
    holiday = next(a for a in tenant.appointments() if a["Purpose"] == "Island holiday")
    assert holiday["AllDay"] == "Yes"
    assert holiday["StartDateTime"] == "2026-04-01T11:00:00Z"  # midnight 2 April in Tonga (UTC+13)
    assert holiday["EndDateTime"] == "2026-04-03T11:00:00Z"
    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    tenant.cycle()
    assert tenant.writes_since(mark) == []


def test_times_are_exact_to_the_minute_in_any_zone(tenant: Tenant) -> None:
    tenant.graph.add_event(
        "bob@contoso.com",
        {
            "subject": "Call from Honolulu",
            "start": {"dateTime": "2026-03-28T07:45:00", "timeZone": "Hawaiian Standard Time"},
            "end": {"dateTime": "2026-03-28T08:10:00", "timeZone": "Hawaiian Standard Time"},
            "categories": [CATEGORY],
        },
    )
    tenant.cycle()
    call = next(a for a in tenant.appointments() if a["Purpose"] == "Call from Honolulu")
    assert (call["StartDateTime"], call["EndDateTime"]) == ("2026-03-28T17:45:00Z", "2026-03-28T18:10:00Z")


def test_remarking_in_fno_relinks_the_existing_event(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    [review] = _event_by_stamp(tenant, "alice@contoso.com", tenant.handles["review"])
    tenant.graph.update_event(
        "alice@contoso.com", review["id"], {"categories": [c for c in review["categories"] if c != CATEGORY]}
    )
    tenant.cycle()
    tenant.advance(minutes=5)
    key = {"dataAreaId": COMPANY, "ActivityNumber": tenant.handles["review"]}
    tenant.fno.update("Activities", key, {"KeepSynchronized": "Yes"})
    report = tenant.cycle()
    assert report.failures == []
    [again] = _event_by_stamp(tenant, "alice@contoso.com", tenant.handles["review"])
    assert again["id"] == review["id"]  # the same event, linked again: no duplicate
    assert CATEGORY in again["categories"]
    assert any(link.fno_key == f"{COMPANY}|{tenant.handles['review']}" for link in _links(tenant))


def test_attendee_deleting_a_meeting_only_unlinks(tenant: Tenant) -> None:
    """Carol was invited (not the organizer): removing it from her calendar must not delete the activity."""
    invited = tenant.graph.receive_invitation(
        "carol@contoso.com",
        {
            "subject": "Partner briefing",
            "start": {"dateTime": "2026-03-30T01:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-03-30T02:00:00", "timeZone": "UTC"},
            "categories": [CATEGORY],
        },
        "someone@fabrikam.com",
    )
    assert invited["isOrganizer"] is False
    tenant.cycle()
    briefing = next(a for a in tenant.appointments() if a["Purpose"] == "Partner briefing")
    tenant.advance(minutes=5)
    tenant.graph.delete_event("carol@contoso.com", invited["id"])
    report = tenant.cycle()
    assert report.counts["appointment"]["to_fno"]["deleted"] == 0
    kept = tenant.activity(briefing["ActivityNumber"])
    assert kept is not None and kept["KeepSynchronized"] == "No"


def test_mailbox_details_are_read_once_a_day_and_unknown_zones_are_skipped(tenant: Tenant) -> None:
    tenant.cycle()
    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    tenant.cycle()
    paths = [r["path"] for r in tenant.graph.request_log[mark[0] :]]
    assert not any("mailboxSettings" in p or "masterCategories" in p for p in paths)
    tenant.advance(hours=25)
    mark = tenant.mark_logs()
    tenant.cycle()
    paths = [r["path"] for r in tenant.graph.request_log[mark[0] :]]
    assert sum("mailboxSettings" in p for p in paths) == 3  # once per mailbox with a worker


def test_status_of_a_mailbox_in_an_unknown_time_zone(tenant: Tenant) -> None:
    with tenant.graph.lock:
        mailbox = tenant.graph.find_mailbox("bob@contoso.com")
        assert mailbox is not None
        mailbox.user.time_zone = "Customized Time Zone"
    report = tenant.cycle()
    assert (
        report.skipped_mailboxes["bob@contoso.com"]
        == "mailbox time zone 'Customized Time Zone' is not recognised"
    )
    assert _event_by_stamp(tenant, "bob@contoso.com", tenant.handles["pricing"]) == []
