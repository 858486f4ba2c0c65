"""An F&O feed saves its cursor per page: cut short after a page, it resumes there, and the
cursor never moves past a row whose work is not queued. Nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest

from sync_core.app import open_context
from sync_core.kinds import activity_feed
from sync_core.pipeline.scan import scan_fno_feed
from sync_core.runtime.keys import fno_cursor_name, parse_fno_time
from sync_core.runtime.messages import AnyMessage, ScanFnoFeed, SyncPair
from sync_core.runtime.queues import InProcessQueues
from tests.e2e.deletion_helpers import add_activity, appt_tenant, events_by_stamp
from tests.e2e.harness import Tenant

__all__ = ["appt_tenant"]
MAILBOX = "alice@contoso.com"


class Crash(Exception):
    """The process dies while queueing a page's work."""


class CrashingQueues(InProcessQueues):
    def __init__(self, item_queue: str, survive: int) -> None:
        super().__init__()
        self.item_queue, self.survive = item_queue, survive
        self.pairs: list[SyncPair] = []

    async def send(self, queue: str, messages: Sequence[AnyMessage]) -> None:
        if queue == self.item_queue:
            if self.survive == 0:
                raise Crash
            self.survive -= 1
            self.pairs.extend(m for m in messages if isinstance(m, SyncPair))
        await super().send(queue, messages)


def test_a_feed_cut_short_resumes_at_its_last_page(
    appt_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = appt_tenant
    tenant.settle()
    monkeypatch.setattr(activity_feed, "FEED_PAGE", 2)
    tenant.advance(minutes=20)  # the rows the last sync wrote are behind the overlap now
    start = (tenant.now + timedelta(days=3)).replace(hour=10, minute=0)
    numbers = []
    for n in range(7):
        tenant.advance(seconds=1)  # one edit stamp each
        numbers.append(add_activity(tenant, MAILBOX, f"Page test {n}", start + timedelta(hours=n)))
    tenant.advance(minutes=1)
    settings = tenant.settings()
    queues = CrashingQueues(settings.item_queue, survive=2)

    async def scan_until_the_crash() -> str:
        async with open_context(settings, queues, clock=lambda: tenant.now) as ctx:
            before = await ctx.store.get_cursor(fno_cursor_name("appointment"))
            with pytest.raises(Crash):
                await scan_fno_feed(ctx, ScanFnoFeed(kind="appointment"))
            after = await ctx.store.get_cursor(fno_cursor_name("appointment"))
            assert before is not None and after is not None and after.value != before.value
            return after.value

    saved = parse_fno_time(asyncio.run(scan_until_the_crash()))
    assert saved is not None
    queued = {p.fno_key for p in queues.pairs}
    assert 0 < len(queued) < len(numbers)  # two pages queued, then the crash
    for number in numbers:
        row = tenant.activity(number)
        assert row is not None
        edited = parse_fno_time(row["LastDateTimeEdited"])
        assert edited is not None
        if edited < saved:
            assert f"usmf|{number}" in queued  # the cursor moved past no row whose work was lost
    # The next cycles resume from there: every activity once in Outlook, none twice.
    for _ in range(2):
        assert tenant.cycle().failures == []
        tenant.advance(minutes=5)
    for number in numbers:
        assert len(events_by_stamp(tenant, MAILBOX, number)) == 1


def test_a_feed_over_its_time_budget_stops_at_a_page_and_the_next_scans_go_on(
    appt_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = appt_tenant
    tenant.settle()
    monkeypatch.setattr(activity_feed, "FEED_PAGE", 2)
    monkeypatch.setattr(activity_feed, "FEED_BUDGET_SECONDS", -1.0)  # every page is over the budget
    tenant.advance(minutes=20)
    start = (tenant.now + timedelta(days=4)).replace(hour=9, minute=0)
    numbers = []
    for n in range(5):
        tenant.advance(seconds=1)
        numbers.append(add_activity(tenant, MAILBOX, f"Budget test {n}", start + timedelta(hours=n)))
    tenant.advance(minutes=1)
    assert tenant.cycle().failures == []
    assert sum(len(events_by_stamp(tenant, MAILBOX, n)) for n in numbers) < len(numbers)  # stopped early
    for _ in range(6):
        tenant.advance(minutes=5)
        assert tenant.cycle().failures == []
    for number in numbers:
        assert len(events_by_stamp(tenant, MAILBOX, number)) == 1
