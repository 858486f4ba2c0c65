"""First run on existing data: unlinked items present on both sides are matched, never duplicated."""

from __future__ import annotations

from datetime import timedelta

from simulators.sample_data import CATEGORY
from sync_core.runtime.keys import stamp_of
from tests.e2e.deletion_helpers import add_activity, add_event, appt_tenant, links
from tests.e2e.harness import Tenant

__all__ = ["appt_tenant"]


def test_activity_copied_by_hand_into_outlook_is_linked_not_duplicated(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    start = (tenant.now + timedelta(days=6)).replace(hour=14, minute=30)
    number = add_activity(tenant, "alice@contoso.com", "Board meeting", start, Location="HQ")
    hand_made = add_event(tenant, "alice@contoso.com", "Board meeting", start, categories=[])
    report = tenant.cycle()
    assert report.failures == []
    same = [e for e in tenant.graph.events("alice@contoso.com") if e["subject"] == "Board meeting"]
    assert [e["id"] for e in same] == [hand_made["id"]]  # no second event
    assert CATEGORY in same[0]["categories"]  # marked now: it is synced from here on
    assert same[0]["location"]["displayName"] == "HQ"
    assert any(
        link.fno_key == f"usmf|{number}" and link.graph_id == hand_made["id"] for link in links(tenant)
    )
    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    tenant.cycle()
    assert tenant.writes_since(mark) == []


def test_event_marked_in_outlook_finds_the_existing_activity(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    start = (tenant.now + timedelta(days=8)).replace(hour=8, minute=0)
    number = add_activity(tenant, "bob@contoso.com", "Site visit", start, KeepSynchronized="No")
    event = add_event(tenant, "bob@contoso.com", "Site visit", start)
    report = tenant.cycle()
    assert report.failures == []
    visits = [a for a in tenant.appointments() if a["Purpose"] == "Site visit"]
    assert [a["ActivityNumber"] for a in visits] == [number]
    assert visits[0]["KeepSynchronized"] == "Yes"
    assert (
        stamp_of(tenant.graph.get_event("bob@contoso.com", event["id"]) or {}) is None
    )  # not written to stamp
    assert any(link.graph_id == event["id"] for link in links(tenant))


def test_a_different_minute_is_a_different_appointment(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    start = (tenant.now + timedelta(days=6)).replace(hour=14, minute=30)
    add_activity(tenant, "alice@contoso.com", "Board meeting", start)
    add_event(tenant, "alice@contoso.com", "Board meeting", start + timedelta(minutes=1), categories=[])
    tenant.cycle()
    same = [e for e in tenant.graph.events("alice@contoso.com") if e["subject"] == "Board meeting"]
    assert len(same) == 2  # the strict key did not match: the activity got its own event


def test_events_made_by_the_product_for_other_activities_are_never_matched(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    start = (tenant.now + timedelta(days=6)).replace(hour=10, minute=0)
    first = add_activity(tenant, "carol@contoso.com", "Weekly sync", start)
    tenant.cycle()
    second = add_activity(tenant, "carol@contoso.com", "Weekly sync", start)  # a genuine second activity
    tenant.advance(minutes=5)
    tenant.cycle()
    stamped = {stamp_of(e) for e in tenant.graph.events("carol@contoso.com") if e["subject"] == "Weekly sync"}
    assert stamped == {f"usmf|{first}", f"usmf|{second}"}
