"""Deletions both ways (docs/spec.md §4), F&O deletions found by key-set comparison, and the safety valve."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from simulators.sample_data import CATEGORY
from sync_core.cli import main
from tests.e2e.deletion_helpers import (
    add_activity,
    appt_tenant,
    audit,
    delete_activity,
    events_by_stamp,
    failures,
    links,
)
from tests.e2e.harness import Tenant

__all__ = ["appt_tenant"]  # the fixture

EVERY_CYCLE = {"SYNC_FNO_DELETE_CHECK_MINUTES": "0"}  # compare F&O keys on every cycle


def test_future_activity_deleted_in_fno_deletes_the_event(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    tenant.cycle()
    review = tenant.handles["review"]
    [event] = events_by_stamp(tenant, "alice@contoso.com", review)
    tenant.advance(minutes=5)
    delete_activity(tenant, review)
    report = tenant.cycle(SYNC_FNO_DELETE_CHECK_MINUTES="0")
    assert report.failures == []
    assert report.counts["appointment"]["to_exchange"]["deleted"] == 1
    assert tenant.graph.get_event("alice@contoso.com", event["id"]) is None
    assert all(link.fno_key != f"usmf|{review}" for link in links(tenant))
    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    tenant.cycle(SYNC_FNO_DELETE_CHECK_MINUTES="0")
    assert tenant.writes_since(mark) == []


def test_past_activity_deleted_in_fno_only_unlinks_and_unmarks(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    tenant.cycle()
    past = tenant.handles["past"]
    [event] = events_by_stamp(tenant, "alice@contoso.com", past)
    tenant.advance(minutes=5)
    delete_activity(tenant, past)
    report = tenant.cycle(SYNC_FNO_DELETE_CHECK_MINUTES="0")
    assert report.counts["appointment"]["to_exchange"]["deleted"] == 0
    kept = tenant.graph.get_event("alice@contoso.com", event["id"])
    assert kept is not None and CATEGORY not in kept["categories"]  # history stays, no longer synced


def test_past_event_deleted_in_outlook_keeps_the_activity(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    tenant.cycle()
    past = tenant.handles["past"]
    [event] = events_by_stamp(tenant, "alice@contoso.com", past)
    tenant.advance(minutes=5)
    tenant.graph.delete_event("alice@contoso.com", event["id"])
    report = tenant.cycle()
    assert report.counts["appointment"]["to_fno"]["deleted"] == 0
    activity = tenant.activity(past)
    assert activity is not None and activity["KeepSynchronized"] == "No"


def test_fno_key_check_is_batched_and_periodic(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    start = tenant.now + timedelta(days=3)
    numbers = [
        add_activity(tenant, "alice@contoso.com", f"Visit {i}", start + timedelta(hours=i)) for i in range(8)
    ]
    tenant.cycle()
    tenant.advance(minutes=5)
    delete_activity(tenant, numbers[0])
    # Default: F&O keys are compared once an hour; five minutes later nothing is noticed yet.
    mark = tenant.mark_logs()
    tenant.cycle()
    assert tenant.writes_since(mark) == []
    tenant.advance(minutes=61)
    fno_mark = len(tenant.fno.request_log)
    report = tenant.cycle()
    assert report.counts["appointment"]["to_exchange"]["deleted"] == 1
    key_queries = [
        r
        for r in tenant.fno.request_log[fno_mark:]
        if r["method"] == "GET" and r["path"] == "/data/Activities" and numbers[5] in str(r.get("query"))
    ]
    assert len(key_queries) == 1
    assert str(key_queries[0]["query"]).count("ActivityNumber eq") == 12


def test_valve_holds_when_fno_lists_nothing_and_approval_releases(
    appt_tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = appt_tenant
    tenant.cycle()
    alice = [link for link in links(tenant) if link.mailbox == "alice@contoso.com"]
    assert len(alice) >= 3
    events_before = len(tenant.graph.events("alice@contoso.com"))
    for link in alice:
        delete_activity(tenant, link.fno_key.split("|", 1)[1])  # e.g. F&O lost the company's rows
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    report = tenant.cycle(SYNC_FNO_DELETE_CHECK_MINUTES="0")
    assert tenant.writes_since(mark) == []  # nothing deleted, nothing unmarked
    assert len(tenant.graph.events("alice@contoso.com")) == events_before
    [note] = [f for f in report.failures if f.mailbox == "alice@contoso.com"]
    assert "safety valve" in note.reason and "F&O no longer lists any" in note.reason
    assert "approve-deletes --mailbox alice@contoso.com --kind appointment" in note.reason
    held = [p for p in report.planned if p.action.startswith("held:")]
    assert len(held) == len(alice)
    assert any(f.item_key == "safety-valve" for f in failures(tenant))
    assert any(e.action == "deletions_held" for e in audit(tenant))
    # Still held on the next cycle (and still nothing written).
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    again = tenant.cycle(SYNC_FNO_DELETE_CHECK_MINUTES="0")
    assert tenant.writes_since(mark) == [] and again.failures

    # The operator looks first (dry run), then approves.
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**tenant.environ, **EVERY_CYCLE}.items():
            patch.setenv(name, value)
        assert (
            main(
                [
                    "approve-deletes",
                    "--mailbox",
                    "alice@contoso.com",
                    "--kind",
                    "appointment",
                    "--dry-run",
                    "--json",
                ]
            )
            == 0
        )
        preview = json.loads(capsys.readouterr().out)
        assert preview["held"] is True and preview["approved"] is False
        assert {row["vanishedIn"] for row in preview["items"]} == {"F&O"}
        assert len(preview["items"]) == len(alice)
        assert main(["approve-deletes", "--mailbox", "alice@contoso.com", "--kind", "appointment"]) == 0
        assert "approved" in capsys.readouterr().out
    tenant.advance(minutes=5)
    released = tenant.cycle(SYNC_FNO_DELETE_CHECK_MINUTES="0")
    assert released.failures == []
    assert released.counts["appointment"]["to_exchange"]["deleted"] >= 1
    assert [link for link in links(tenant) if link.mailbox == "alice@contoso.com"] == []
    assert not any(f.item_key == "safety-valve" for f in failures(tenant))
    assert any(e.action == "deletions_released" for e in audit(tenant))


def test_valve_holds_a_mass_deletion_in_outlook(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    start = tenant.now + timedelta(days=2)
    numbers = [
        add_activity(tenant, "bob@contoso.com", f"Call {i}", start + timedelta(hours=i)) for i in range(14)
    ]
    tenant.cycle()
    tenant.advance(minutes=5)
    for number in numbers[:10]:  # 10 of bob's 15 links: at least 10 and more than 20 %
        [event] = events_by_stamp(tenant, "bob@contoso.com", number)
        tenant.graph.delete_event("bob@contoso.com", event["id"])
    report = tenant.cycle()
    assert [f.mailbox for f in report.failures] == ["bob@contoso.com"]
    assert "10 of 15 linked items" in report.failures[0].reason
    assert all(tenant.activity(number) is not None for number in numbers)
    # Other mailboxes go on as usual.
    tenant.fno.update(
        "Activities",
        {"dataAreaId": "usmf", "ActivityNumber": tenant.handles["review"]},
        {"Location": "Room 9"},
    )
    tenant.advance(minutes=5)
    later = tenant.cycle()
    assert later.counts["appointment"]["to_exchange"]["updated"] == 1
    assert all(tenant.activity(number) is not None for number in numbers)


def test_a_few_deletions_pass_the_valve(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    start = tenant.now + timedelta(days=2)
    numbers = [
        add_activity(tenant, "bob@contoso.com", f"Call {i}", start + timedelta(hours=i)) for i in range(14)
    ]
    tenant.cycle()
    tenant.advance(minutes=5)
    for number in numbers[:3]:
        [event] = events_by_stamp(tenant, "bob@contoso.com", number)
        tenant.graph.delete_event("bob@contoso.com", event["id"])
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["appointment"]["to_fno"]["deleted"] == 3
    assert [tenant.activity(n) is None for n in numbers[:4]] == [True, True, True, False]


def test_dry_run_shows_deletions_and_writes_nothing(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    tenant.cycle()
    review = tenant.handles["review"]
    tenant.advance(minutes=5)
    delete_activity(tenant, review)
    mark = tenant.mark_logs()
    report = tenant.cycle(dry_run=True, SYNC_FNO_DELETE_CHECK_MINUTES="0")
    assert tenant.writes_since(mark) == []
    assert [(p.action, p.fno_key) for p in report.planned] == [("delete_in_graph", f"usmf|{review}")]
