"""Both sides changed since the last sync: field-by-field merge, the policy decides, the audit keeps both values."""

from __future__ import annotations

import pytest

from tests.e2e.deletion_helpers import appt_tenant, audit, events_by_stamp, update_activity
from tests.e2e.harness import Tenant

__all__ = ["appt_tenant"]


def _edit_both(tenant: Tenant, *, fno_first: bool) -> str:
    tenant.cycle()
    review = tenant.handles["review"]
    [event] = events_by_stamp(tenant, "alice@contoso.com", review)

    def fno_edit() -> None:
        update_activity(tenant, review, {"Location": "Room F&O", "Purpose": "Review (F&O title)"})

    def graph_edit() -> None:
        tenant.graph.update_event(
            "alice@contoso.com",
            event["id"],
            {"location": {"displayName": "Room Outlook"}, "importance": "high"},
        )

    tenant.advance(minutes=1)
    (fno_edit if fno_first else graph_edit)()
    tenant.advance(minutes=1)
    (graph_edit if fno_first else fno_edit)()
    tenant.advance(minutes=1)
    return str(event["id"])


@pytest.mark.parametrize(
    ("policy", "fno_first", "winner"),
    [
        ("newest", True, "Room Outlook"),  # Outlook edited last
        ("newest", False, "Room F&O"),
        ("d365", True, "Room F&O"),
        ("exchange", False, "Room Outlook"),
    ],
)
def test_field_changed_on_both_sides_is_decided_by_policy(
    appt_tenant: Tenant, policy: str, fno_first: bool, winner: str
) -> None:
    tenant = appt_tenant
    event_id = _edit_both(tenant, fno_first=fno_first)
    report = tenant.cycle(SYNC_CONFLICT_POLICY=policy)
    assert report.failures == [] and report.conflicts == 1
    event = tenant.graph.get_event("alice@contoso.com", event_id)
    activity = tenant.activity(tenant.handles["review"])
    assert event is not None and activity is not None
    # The contested field has the winner's value on both sides ...
    assert event["location"]["displayName"] == activity["Location"] == winner
    # ... and fields changed on one side only are merged, whatever the policy.
    assert event["subject"] == activity["Purpose"] == "Review (F&O title)"
    assert event["importance"] == "high" and activity["Priority"] == "High"
    [entry] = [e for e in audit(tenant) if e.detail.get("conflicts")]
    [conflict] = entry.detail["conflicts"]
    assert conflict["field"] == "location"
    assert (conflict["fno"], conflict["exchange"]) == ("Room F&O", "Room Outlook")
    assert conflict["winner"] == ("fno" if winner == "Room F&O" else "graph")
    assert policy in conflict["why"]
    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    tenant.cycle(SYNC_CONFLICT_POLICY=policy)
    assert tenant.writes_since(mark) == []


def test_every_decision_is_audited(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    tenant.cycle()
    entries = audit(tenant)
    assert {e.action for e in entries} >= {"create_in_graph", "create_in_fno"}
    assert all(e.detail.get("reason") for e in entries)
