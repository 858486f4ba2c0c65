"""The chart of recent days, drawn from the audit log and the failure list of a week of cycles."""

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


@pytest.fixture
def week(tmp_path: Path) -> Iterator[Tenant]:
    """A week of daily edits on both sides, one cycle a day, ending now."""
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
                tenant.cycle()

        off_loop(days)
        yield tenant


def test_the_chart_shows_the_last_days(browser: Browser, week: Tenant) -> None:
    gate = LocalGate(Admin("ops"))
    with serve_console(Console(week.settings(), gate), gate) as served:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        page = context.new_page()
        page.goto(served.url)
        page.get_by_role("link", name="Recent days").click()
        expect(page.get_by_role("heading", name="Items synced per day, by kind")).to_be_visible()
        synced = page.get_by_role(
            "img", name="Items synced per day, by kind; the table below has the numbers"
        )
        expect(synced.locator("rect")).not_to_have_count(0)
        for summary in page.get_by_text("The numbers").all():
            summary.click()
        numbers = page.get_by_role("region", name="Items synced per day, by kind (numbers)")
        today = datetime.now(UTC).date().isoformat()
        expect(numbers.get_by_role("row", name=today)).to_be_visible()
        rows = numbers.locator("tbody tr")
        expect(rows).to_have_count(14)
        trouble = page.get_by_role("region", name="Conflicts, failures and held deletions per day (numbers)")
        expect(trouble.get_by_role("row", name=today)).to_be_visible()
        assert "1" in trouble.locator("tbody tr").nth(10).inner_text()  # day 3 of 6: the conflict
        screenshot(page, "chart")
        context.close()
