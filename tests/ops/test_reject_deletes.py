"""`reject-deletes`: the administrator keeps both sides of a held mass deletion; the vanished sides come
back and the deletion is not asked again."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from sync_core.pipeline.valve import VALVE_ITEM
from tests.e2e.deletion_helpers import add_activity, appt_tenant, events_by_stamp, failures, links
from tests.e2e.harness import Tenant
from tests.ops.helpers import command, read

__all__ = ["appt_tenant"]  # the fixture
BOB = "bob@contoso.com"


def _held_outlook_deletion(tenant: Tenant) -> list[str]:
    """10 of bob's 15 linked appointments deleted in Outlook: the valve holds."""
    start = tenant.now + timedelta(days=2)
    numbers = [add_activity(tenant, BOB, f"Call {i}", start + timedelta(hours=i)) for i in range(14)]
    tenant.cycle()
    tenant.advance(minutes=5)
    for number in numbers[:10]:
        [event] = events_by_stamp(tenant, BOB, number)
        tenant.graph.delete_event(BOB, event["id"])
    report = tenant.cycle()
    assert [f.mailbox for f in report.failures] == [BOB]
    return numbers


def test_reject_keeps_both_sides_and_is_not_asked_again(
    appt_tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = appt_tenant
    numbers = _held_outlook_deletion(tenant)
    argv = ["reject-deletes", "--mailbox", BOB, "--kind", "appointment", "--json", "--actor", "ops-rita"]
    assert command(tenant, *argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rejected"] and not result["approved"] and result["rejectedBy"] == "ops-rita"
    assert result["restored"] == 10 and {row["vanishedIn"] for row in result["items"]} == {"Exchange"}
    assert not [f for f in failures(tenant) if f.item_key == VALVE_ITEM]
    [entry] = [e for e in read(tenant, lambda s: s.list_audit()) if e.action == "deletions-rejected"]
    assert (entry.mailbox, entry.detail["actor"], entry.detail["items"]) == (BOB, "ops-rita", 10)
    assert "Call" not in json.dumps(entry.detail)  # no subject in the audit log

    for _ in range(3):  # the full round recreates the events; their echo; then all quiet
        tenant.advance(minutes=5)
        report = tenant.cycle()
        assert not report.failures
    assert all(tenant.activity(number) is not None for number in numbers)  # nothing deleted in F&O
    assert all(len(events_by_stamp(tenant, BOB, number)) == 1 for number in numbers)  # each back once
    assert len([link for link in links(tenant) if link.mailbox == BOB]) == 15
    assert report.writes == 0


def test_reject_without_a_hold_changes_nothing(
    appt_tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = appt_tenant
    tenant.settle()
    before = sorted(link.fno_key for link in links(tenant))
    assert command(tenant, "reject-deletes", "--mailbox", BOB, "--kind", "appointment") == 0
    assert "nothing is held" in capsys.readouterr().out
    assert sorted(link.fno_key for link in links(tenant)) == before
    assert not [e for e in read(tenant, lambda s: s.list_audit()) if e.action == "deletions-rejected"]
