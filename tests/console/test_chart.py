"""The chart of recent cycles, drawn from the audit log and the failure list of a week of cycles: counts per
cycle and the sync latency the pair job records on its audit entries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from simulators.sample_data import COMPANY, MAILBOXES
from sync_core.console.auth import Admin, LocalGate
from sync_core.console.local import serve_console
from sync_core.console.routes import Console
from tests.console.conftest import off_loop, screenshot
from tests.e2e.deletion_helpers import events_by_stamp
from tests.e2e.harness import Tenant, sample_tenant
from tests.ops.helpers import read


@pytest.fixture
def week(tmp_path: Path) -> Iterator[Tenant]:
    """A week of daily edits on both sides, each synced by a cycle three minutes later, ending now."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=6)
    with sample_tenant(tmp_path, start) as tenant:

        def days() -> None:
            tenant.settle()
            for day in range(6):
                tenant.advance(days=1)
                tenant.fno.update(
                    "Activities",
                    {"dataAreaId": COMPANY, "ActivityNumber": tenant.handles["review"]},
                    {"Location": f"Room {day}"},
                )
                tenant.graph.update_event(
                    "alice@contoso.com", tenant.handles["lunch"], {"subject": f"Lunch, take {day}"}
                )
                if day == 3:  # the same field edited on both sides: a conflict the policy decides
                    review = tenant.handles["review"]
                    [event] = [e for m in MAILBOXES for e in events_by_stamp(tenant, m.mail, review)]
                    tenant.fno.update(
                        "Activities",
                        {"dataAreaId": COMPANY, "ActivityNumber": review},
                        {"Purpose": "Review (F&O)"},
                    )
                    owner = next(m.mail for m in MAILBOXES if events_by_stamp(tenant, m.mail, review))
                    tenant.graph.update_event(owner, event["id"], {"subject": "Review (Outlook)"})
                tenant.advance(minutes=3)  # the sync latency of these edits: 180 seconds
                tenant.cycle()

        off_loop(days)
        yield tenant


def test_the_pair_job_records_latency_and_cycle_on_its_audit_entries(week: Tenant) -> None:
    entries = off_loop(lambda: read(week, lambda s: s.list_audit(5000)))
    edits = [e for e in entries if e.action == "update" and e.at > week.now - timedelta(days=5, minutes=30)]
    assert edits and all(e.cycle_id for e in edits)
    # Each edit waited the three minutes between it and its cycle (the stand-ins follow the tenant's clock).
    assert {e.latency_s for e in edits} == {180.0}
    assert all(isinstance(e.latency_s, float) for e in entries if e.latency_s is not None)  # numbers, no text


def test_the_chart_shows_the_last_cycles(browser: Browser, week: Tenant) -> None:
    gate = LocalGate(Admin("ops"))
    with serve_console(Console(week.settings(), gate), gate) as served:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        page = context.new_page()
        page.goto(served.url)
        page.get_by_role("link", name="Recent days").click()
        expect(page.get_by_role("heading", name="Items synced per cycle, by kind")).to_be_visible()
        synced = page.get_by_role(
            "img", name="Items synced per cycle, by kind; the table below has the numbers"
        )
        expect(synced.locator("rect")).not_to_have_count(0)
        latency = page.get_by_role(
            "img", name="Sync latency per cycle, seconds; the table below has the numbers"
        )
        expect(latency.locator("rect")).not_to_have_count(0)
        expect(latency.locator("title").filter(has_text="180 median seconds").first).to_be_attached()
        for summary in page.get_by_text("The numbers").all():
            summary.click()
        numbers = page.get_by_role("region", name="Items synced per cycle, by kind (numbers)")
        cycles = numbers.locator("tbody tr").filter(has_text="cycle")
        # The first sync and the six daily cycles (the echo cycle writes nothing; the e-mail import is per hour).
        expect(cycles).to_have_count(7)
        trouble = page.get_by_role(
            "region", name="Conflicts, failures and held deletions per cycle (numbers)"
        )
        conflict_rows = [t for t in trouble.locator("tbody tr").all_inner_texts() if "\t1\t" in t + "\t"]
        assert conflict_rows, "the conflict of day 3 is in its cycle's row"
        timings = page.get_by_role("region", name="Sync latency per cycle, seconds (numbers)")
        expect(timings.get_by_role("row").filter(has_text="180").first).to_be_visible()
        screenshot(page, "chart")
        context.close()
