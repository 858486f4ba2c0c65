"""`resync`, `retry`, `approve-deletes` and `contacts add` against the sample tenant."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync_core.d365.errors import FnoError
from sync_core.kinds.appointment import AppointmentWrites
from sync_core.pipeline import reconcile
from sync_core.runtime.keys import exchange_cursor_name
from tests.e2e.deletion_helpers import appt_tenant, delete_activity, links, update_activity
from tests.e2e.harness import Tenant
from tests.ops.helpers import ALICE, CAROL, command, read

__all__ = ["appt_tenant"]  # the fixture


def test_resync_of_a_settled_mailbox_creates_nothing_twice_and_syncs_a_change(
    appt_tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = appt_tenant
    tenant.settle()
    before = sorted((link.fno_key, link.graph_id) for link in links(tenant))
    events, activities = len(tenant.graph.events(ALICE)), len(tenant.appointments())
    assert command(tenant, "resync", "--mailbox", ALICE, "--kind", "appointment", "--actor", "ops") == 0
    assert "nothing is created twice" in capsys.readouterr().out
    assert read(tenant, lambda s: s.get_cursor(exchange_cursor_name("appointment", ALICE))) is None
    update_activity(tenant, tenant.handles["review"], {"Purpose": "Review, changed meanwhile"})
    mark = tenant.mark_logs()
    tenant.cycle()
    # The one change is written (to Outlook); the full round wrote nothing else and made nothing twice.
    writes = tenant.writes_since(mark)
    assert [w["method"] for w in writes] == ["PATCH"], writes
    assert any(e["subject"] == "Review, changed meanwhile" for e in tenant.graph.events(ALICE))
    assert sorted((link.fno_key, link.graph_id) for link in links(tenant)) == before
    assert (len(tenant.graph.events(ALICE)), len(tenant.appointments())) == (events, activities)
    # Both sides were read in full: a new delta token, and the reconciliation ran (its time moved on).
    assert read(tenant, lambda s: s.get_cursor(exchange_cursor_name("appointment", ALICE))) is not None
    ran = read(tenant, lambda s: s.get_cursor(reconcile.cursor_name("appointment", ALICE)))
    assert ran is not None and not ran.value.startswith("2000-")
    assert any(
        e.action == "resync-requested" and e.detail["actor"] == "ops"
        for e in read(tenant, lambda s: s.list_audit())
    )


def test_retry_sends_failed_items_again_now(
    appt_tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = appt_tenant

    async def unavailable(self: AppointmentWrites, *args: Any, **kwargs: Any) -> Any:
        raise FnoError(503, "Service unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(AppointmentWrites, "create_in_fno", unavailable)
        tenant.cycle()  # alice's Outlook appointment cannot reach F&O within its attempts
    failed = [f for f in read(tenant, lambda s: s.list_failures()) if f.waiting_for_retry]
    assert {f.mailbox for f in failed} == {ALICE, CAROL}
    waiting = [f for f in failed if f.mailbox == ALICE]
    tenant.cycle()  # not due yet (5 minutes of backoff): still missing
    assert not any(a["Purpose"] == "Lunch with Litware" for a in tenant.appointments())

    assert command(tenant, "retry", "--mailbox", ALICE, "--actor", "ops") == 0
    out = capsys.readouterr().out
    assert f"{len(waiting)} failed item(s) of {ALICE} are sent again" in out
    tenant.cycle()
    assert any(a["Purpose"] == "Lunch with Litware" for a in tenant.appointments())
    left = read(tenant, lambda s: s.list_failures())
    assert {f.mailbox for f in left} == {CAROL}  # only alice's were asked for
    assert not any(a["Purpose"] == "Demo for Tailspin" for a in tenant.appointments())
    entry = next(e for e in read(tenant, lambda s: s.list_audit()) if e.action == "retry-requested")
    assert entry.detail["actor"] == "ops" and entry.detail["items"] == len(waiting)


def test_approve_deletes_shows_subject_date_and_side_and_records_who(
    appt_tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = appt_tenant
    tenant.settle()
    alice = [link for link in links(tenant) if link.mailbox == ALICE]
    for link in alice:
        delete_activity(tenant, link.fno_key.split("|", 1)[1])
    tenant.cycle(SYNC_FNO_DELETE_CHECK_MINUTES="0")  # all of alice's F&O sides gone: held
    argv = ["approve-deletes", "--mailbox", ALICE, "--kind", "appointment"]
    assert command(tenant, *argv, "--dry-run") == 0
    shown = capsys.readouterr().out
    # The command runs on the real clock, later than the tenant's: the rule for past items applies.
    assert "would unlink (both sides kept) (vanished in F&O): 2026-" in shown
    assert "Quarterly review with Fabrikam" in shown and "(no subject)" not in shown
    assert command(tenant, *argv, "--json", "--actor", "ops-carl") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["approved"] and result["approvedBy"] == "ops-carl"
    assert all(row["subject"] and row["date"] for row in result["items"])
    [entry] = [e for e in read(tenant, lambda s: s.list_audit()) if e.action == "deletions-approved"]
    assert (entry.mailbox, entry.kind, entry.detail["actor"]) == (ALICE, "appointment", "ops-carl")
    assert "Quarterly" not in json.dumps(entry.detail)  # no subject in the audit log


def test_contacts_add_refuses_a_mailbox_out_of_scope_and_an_unknown_contact(
    appt_tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = appt_tenant
    tenant.cycle()
    assert command(tenant, "contacts", "add", "--mailbox", "nobody@contoso.com", "--contact", "CP-0001") == 2
    assert "nobody@contoso.com is not in scope" in capsys.readouterr().out
    assert command(tenant, "contacts", "add", "--mailbox", "dave@contoso.com", "--contact", "CP-0001") == 2
    assert "is skipped by the sync (no F&O worker" in capsys.readouterr().out
    assert command(tenant, "contacts", "add", "--mailbox", ALICE, "--contact", "CP-9999") == 2
    assert "no contact person usmf|CP-9999 in F&O" in capsys.readouterr().out
    assert read(tenant, lambda s: s.list_contact_entries()) == []
    assert command(tenant, "contacts", "add", "--mailbox", ALICE, "--contact", "CP-0001") == 0
    assert [e.contact_key for e in read(tenant, lambda s: s.list_contact_entries(ALICE))] == ["usmf|CP-0001"]
