"""The console in a real browser over the sample tenant: the overview's states, approving a held deletion,
pausing a mailbox, and the chart. Each test saves the screenshot docs/console.md shows."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect

from sync_core.runtime.keys import exchange_cursor_name
from tests.console.conftest import ADMIN, Running, off_loop, screenshot
from tests.e2e.deletion_helpers import add_activity, events_by_stamp
from tests.e2e.harness import Tenant
from tests.ops.helpers import command, read

ALICE, BOB, CAROL, DAVE = "alice@contoso.com", "bob@contoso.com", "carol@contoso.com", "dave@contoso.com"


def _hold_bobs_deletions(tenant: Tenant) -> list[str]:
    """10 of bob's appointments deleted in Outlook at once: the safety valve holds them."""
    start = tenant.now + timedelta(days=2)
    numbers = [
        add_activity(tenant, BOB, f"Call {i} with Tailspin", start + timedelta(hours=i)) for i in range(14)
    ]
    off_loop(tenant.cycle)
    tenant.advance(minutes=5)
    for number in numbers[:10]:
        [event] = events_by_stamp(tenant, BOB, number)
        tenant.graph.delete_event(BOB, event["id"])
    off_loop(tenant.cycle)
    return numbers


def _row_state(page: Page, mailbox: str) -> str:
    row = page.locator("#mailboxes tbody tr", has=page.get_by_role("link", name=mailbox, exact=True))
    return row.locator("td").first.inner_text().strip()


def test_overview_lists_the_sandbox_mailboxes_with_their_states(page: Page, console: Running) -> None:
    tenant = console.tenant
    _hold_bobs_deletions(tenant)
    assert off_loop(lambda: command(tenant, "pause", "--mailbox", CAROL, "--actor", "ops")) == 0
    page.goto(console.root + "/")
    expect(page.get_by_role("heading", name="Mailboxes", level=1)).to_be_visible()
    expect(page.get_by_text(f"Signed in as {ADMIN}")).to_be_visible()
    states = {m: _row_state(page, m) for m in (ALICE, BOB, CAROL, DAVE)}
    assert states[ALICE] == "ok"
    assert states[BOB] == "deletions held"
    assert states[CAROL] == "paused"
    assert states[DAVE].startswith("skipped")
    assert "F&O entities: as required" in page.locator("#health + ul").inner_text()
    bob = page.locator("#mailboxes tbody tr", has=page.get_by_role("link", name=BOB, exact=True))
    assert "⚠10" in bob.inner_text()  # the held deletions, in the appointment column
    page.get_by_label("Filter mailboxes").fill("held")
    expect(page.locator("#mailboxes tbody tr:visible")).to_have_count(1)
    page.get_by_label("Filter mailboxes").fill("")
    screenshot(page, "overview")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    screenshot(page, "narrow")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400  # the table scrolls inside its region, the page does not


def test_a_held_deletion_approved_in_the_browser_shows_in_the_audit(page: Page, console: Running) -> None:
    tenant = console.tenant
    _hold_bobs_deletions(tenant)
    page.goto(console.root + "/")
    page.get_by_role("link", name=BOB, exact=True).click()
    expect(page.get_by_role("heading", name="Held deletions")).to_be_visible()
    held = page.get_by_role("region", name="Held appointment deletions")
    expect(held.locator("tbody tr")).to_have_count(10)
    expect(held).to_contain_text("Call 0 with Tailspin")
    expect(held).to_contain_text("Exchange")
    screenshot(page, "mailbox")
    page.once("dialog", lambda dialog: dialog.accept())  # "Approve these appointment deletions?"
    page.get_by_role("button", name="Approve these appointment deletions").click()
    expect(page.get_by_role("status")).to_contain_text(f"approved by {ADMIN}")
    entries = [
        e
        for e in off_loop(lambda: read(tenant, lambda s: s.list_audit()))
        if e.action == "deletions-approved"
    ]
    assert [(e.mailbox, e.kind, e.detail["actor"]) for e in entries] == [(BOB, "appointment", ADMIN)]
    page.get_by_role("link", name=f"Back to {BOB}").click()
    audit = page.get_by_role("region", name="Audit table")
    expect(audit).to_contain_text("deletions-approved")
    expect(audit).to_contain_text(f"actor: {ADMIN}")
    tenant.advance(minutes=5)
    report = off_loop(tenant.cycle)  # the approval is applied: the activities of the deleted events go too
    assert report.counts["appointment"]["to_fno"]["deleted"] == 10


def test_a_mailbox_paused_in_the_browser_is_not_scanned_next_cycle(page: Page, console: Running) -> None:
    tenant = console.tenant
    cursor = off_loop(
        lambda: read(tenant, lambda s: s.get_cursor(exchange_cursor_name("appointment", ALICE)))
    )
    page.goto(console.root + "/mailbox?m=" + ALICE)
    page.get_by_label("Reason").fill("mailbox moves to another tenant")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_contain_text("paused alice@contoso.com")
    tenant.graph.update_event(ALICE, tenant.handles["lunch"], {"subject": "Lunch, moved while paused"})
    tenant.advance(minutes=5)
    report = off_loop(tenant.cycle)
    assert f"paused by an operator: {ADMIN}" in report.skipped_mailboxes[ALICE]
    assert (
        off_loop(lambda: read(tenant, lambda s: s.get_cursor(exchange_cursor_name("appointment", ALICE))))
        == cursor
    )
    assert all(a["Purpose"] != "Lunch, moved while paused" for a in tenant.appointments())
    page.get_by_role("link", name=f"Back to {ALICE}").click()
    expect(page.get_by_text(re.compile(f"Paused by {re.escape(ADMIN)}"))).to_be_visible()
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_contain_text("resumed alice@contoso.com")
    actions = [
        (e.action, e.detail.get("actor"))
        for e in off_loop(lambda: read(tenant, lambda s: s.list_audit(mailbox=ALICE)))
    ]
    assert ("paused", ADMIN) in actions and ("resumed", ADMIN) in actions
