"""`pause` / `resume` against the sample tenant, through the local runner."""

from __future__ import annotations

import pytest

from simulators.sample_data import COMPANY
from sync_core.pipeline.retry import PARKED
from sync_core.runtime.keys import exchange_cursor_name
from tests.e2e.deletion_helpers import appt_tenant, update_activity
from tests.e2e.harness import Tenant
from tests.ops.helpers import ALICE, BOB, command, read

__all__ = ["appt_tenant"]  # the fixture


def _purpose(tenant: Tenant, number: str) -> str:
    row = tenant.activity(number)
    assert row is not None
    return str(row["Purpose"])


def _subject_in_outlook(tenant: Tenant, mailbox: str, number: str) -> str:
    stamp = f"{COMPANY}|{number}"
    [event] = [
        e for e in tenant.graph.events(mailbox) if stamp in str(e.get("singleValueExtendedProperties"))
    ]
    return str(event["subject"])


def test_a_paused_mailbox_is_left_alone_and_catches_up_on_resume(
    appt_tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = appt_tenant
    tenant.settle()
    review, pricing, lunch = (tenant.handles[h] for h in ("review", "pricing", "lunch"))
    assert command(tenant, "pause", "--mailbox", ALICE, "--reason", "new worker", "--actor", "ops-ann") == 0
    assert "paused alice@contoso.com" in capsys.readouterr().out
    cursor = read(tenant, lambda s: s.get_cursor(exchange_cursor_name("appointment", ALICE)))

    # Meanwhile both sides change, for alice (paused) and bob (not).
    update_activity(tenant, review, {"Purpose": "Review moved by F&O"})
    tenant.graph.update_event(ALICE, lunch, {"subject": "Lunch moved in Outlook"})
    update_activity(tenant, pricing, {"Purpose": "Pricing call, new agenda"})
    report = tenant.cycle()

    assert "paused by an operator: ops-ann" in report.skipped_mailboxes[ALICE]
    assert _subject_in_outlook(tenant, BOB, pricing) == "Pricing call, new agenda"  # bob syncs on
    assert _subject_in_outlook(tenant, ALICE, review) != "Review moved by F&O"
    assert all(a["Purpose"] != "Lunch moved in Outlook" for a in tenant.appointments())
    # The F&O feed's pair message for alice waits on the work list; her delta token did not move.
    parked = [f for f in read(tenant, lambda s: s.list_failures()) if f.mailbox == ALICE]
    assert [(f.item_key, f.reason) for f in parked] == [(f"{COMPANY}|{review}", PARKED)]
    assert read(tenant, lambda s: s.get_cursor(exchange_cursor_name("appointment", ALICE))) == cursor
    tenant.advance(hours=12)  # however long the pause lasts, nothing of alice's is sent
    tenant.cycle()
    assert _subject_in_outlook(tenant, ALICE, review) != "Review moved by F&O"

    assert command(tenant, "resume", "--mailbox", ALICE, "--actor", "ops-bob") == 0
    assert "sends the 1 item(s) that waited" in capsys.readouterr().out
    record = read(tenant, lambda s: s.get_mailbox(ALICE))
    assert record is not None and not record.paused and not record.paused_by
    tenant.cycle()
    assert _subject_in_outlook(tenant, ALICE, review) == "Review moved by F&O"
    assert any(a["Purpose"] == "Lunch moved in Outlook" for a in tenant.appointments())
    assert [f for f in read(tenant, lambda s: s.list_failures()) if f.mailbox == ALICE] == []
    audit = [(e.action, e.mailbox, e.detail.get("actor")) for e in read(tenant, lambda s: s.list_audit())]
    assert ("paused", ALICE, "ops-ann") in audit and ("resumed", ALICE, "ops-bob") in audit


def test_pause_of_an_unknown_mailbox_is_refused_with_exit_2(
    appt_tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = appt_tenant
    tenant.cycle()
    assert command(tenant, "pause", "--mailbox", "nobody@contoso.com") == 2
    assert "nobody@contoso.com is not known" in capsys.readouterr().out
    assert read(tenant, lambda s: s.get_mailbox("nobody@contoso.com")) is None
    assert command(tenant, "resume", "--mailbox", ALICE) == 0
    assert "not paused; nothing changed" in capsys.readouterr().out
