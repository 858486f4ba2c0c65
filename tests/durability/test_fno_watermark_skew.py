"""The F&O feeds tolerate skewed clocks and long transactions: a row that becomes readable
minutes after the edit stamp F&O gave it is still read, a row pushed past a page boundary while a feed pages
is read by the next cycle, and the wider re-read window costs an idle cycle nothing.

The reconciliation is switched off in the cycles under test: what is checked is that the feeds themselves
read these rows, not that the backstop finds them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.graph import contacts as graph_contacts
from simulators.sample_contacts import PRIVATE_FOLDER
from simulators.sample_data import CATEGORY, COMPANY
from sync_core.kinds.task_todo import stamp_of as task_stamp_of
from sync_core.pipeline.local_queue import SqliteQueues
from sync_core.runtime.keys import feed_watermark, fno_key, stamp_of
from sync_core.runtime.queues import AnyMessage
from sync_core.runtime.report import CycleReport
from tests.e2e.deletion_helpers import fno_time
from tests.e2e.harness import Tenant, sample_tenant

ALICE = "alice@contoso.com"


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as value:
        value.settle()  # the last scans began five minutes ago: that is each feed's watermark now
        yield value


def _cycle(tenant: Tenant) -> CycleReport:
    return tenant.cycle(SYNC_RECONCILE_HOURS="0")  # no backstop: the feeds must read the rows themselves


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _late_appointment(tenant: Tenant, purpose: str, edited: datetime, day: int = 2) -> str:
    start = tenant.now.replace(minute=0, second=0, microsecond=0) + timedelta(days=day)
    record = {
        "dataAreaId": COMPANY,
        "Category": "Appointment",
        "Purpose": purpose,
        "StartDateTime": fno_time(start),
        "EndDateTime": fno_time(start + timedelta(hours=1)),
        "ResponsibleWorkerPersonnelNumber": "000101",
        "KeepSynchronized": "Yes",
        "AllDay": "No",
        "LastDateTimeEdited": _stamp(edited),  # kept by the stand-in: committed now, stamped back then
    }
    return str(tenant.fno.add("Activities", record)["ActivityNumber"])


def _events(tenant: Tenant, number: str) -> list[dict[str, Any]]:
    key = fno_key(COMPANY, number)
    return [e for e in tenant.graph.events(ALICE) if stamp_of(e) == key]


def test_rows_committed_late_with_older_edit_stamps_reach_outlook(tenant: Tenant) -> None:
    # Twelve minutes before now, seven before the feeds' watermark: beyond the old two-minute margin.
    edited = tenant.now - timedelta(minutes=12)
    number = _late_appointment(tenant, "Review committed late", edited)
    task = tenant.fno.add(
        "Activities",
        {
            "dataAreaId": COMPANY,
            "Category": "Task",
            "Purpose": "Task committed late",
            "StartDateTime": fno_time(tenant.now + timedelta(days=1)),
            "EndDateTime": fno_time(tenant.now + timedelta(days=2)),
            "ResponsibleWorkerPersonnelNumber": "000101",
            "KeepSynchronized": "Yes",
            "ActivityStatus": "NotStarted",
            "LastDateTimeEdited": _stamp(edited),
        },
    )
    tenant.fno.add(
        "ContactPersons",
        {
            "dataAreaId": COMPANY,
            "ContactPersonId": "CP-0900",
            "FirstName": "Nadia",
            "LastName": "Late",
            "PrimaryEmailAddress": "nadia.late@northwind.com",
            "AssociatedPartyNumber": "000000103",
            "ContactPersonResponsiblePersonnelNumber": "000101",
            "MicrosoftOutlookCategories": CATEGORY,
            "LastEditDateTime": _stamp(edited),
        },
    )

    report = _cycle(tenant)
    assert report.failures == []
    assert len(_events(tenant, number)) == 1
    task_key = fno_key(COMPANY, str(task["ActivityNumber"]))
    assert [t["title"] for t in tenant.graph.todo.tasks(ALICE) if task_stamp_of(t) == task_key] == [
        "Task committed late"
    ]
    [contact] = [
        c
        for c in graph_contacts.list_contacts(tenant.graph, ALICE, PRIVATE_FOLDER)
        if c.get("displayName") == "Nadia Late"
    ]
    assert stamp_of(contact) == fno_key(COMPANY, "CP-0900")

    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    assert _cycle(tenant).failures == []
    assert tenant.writes_since(mark) == []


def test_a_row_pushed_past_a_page_boundary_is_read_by_the_next_cycle(tenant: Tenant) -> None:
    """F&O pages by position: a row edited while the feed pages moves to the end, and the row behind it
    slips into the page already read. The watermark holds at the moved row's first stamp."""
    base = tenant.now - timedelta(minutes=14, seconds=30)  # older than every other row in the window
    numbers = [
        _late_appointment(tenant, f"Paged {n}", base + timedelta(seconds=30 * n), day=2 + n) for n in range(4)
    ]
    tenant.fno.page_size = 2
    moved: list[str] = []

    def after_first_page(entry: dict[str, Any]) -> None:
        query = str(entry.get("query", ""))
        first_page = "$skiptoken" not in query and "'Appointment'" in query and "$orderby" in query
        if entry["path"] == "/data/Activities" and first_page and not moved:
            # A user edits the first row just read, before the feed asks for the next page.
            tenant.fno.update(
                "Activities", {"dataAreaId": COMPANY, "ActivityNumber": numbers[0]}, {"Location": "Room 2"}
            )
            moved.append(numbers[0])

    tenant.fno.request_log = _HookedLog(tenant.fno.request_log, after_first_page)
    assert _cycle(tenant).failures == []
    assert moved == [numbers[0]]
    assert _events(tenant, numbers[2]) == []  # slipped past the page boundary: not read in this cycle

    tenant.advance(minutes=5)
    assert _cycle(tenant).failures == []
    for number in numbers:
        assert len(_events(tenant, number)) == 1, number


def test_idle_cycles_inside_the_overlap_queue_nothing_and_write_nothing(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cycle re-reads the last ten minutes of F&O edits (the first sync's and its echo's among them):
    the scan drops them by version, so no pair job runs and nothing is written."""
    sent: list[AnyMessage] = []
    original = SqliteQueues.send

    async def counting(self: SqliteQueues, queue: str, messages: Sequence[AnyMessage]) -> None:
        if queue == tenant.settings().item_queue:
            sent.extend(messages)
        await original(self, queue, messages)

    monkeypatch.setattr(SqliteQueues, "send", counting)
    for _ in range(3):
        mark = tenant.mark_logs()
        report = _cycle(tenant)
        assert report.failures == []
        assert tenant.writes_since(mark) == []
        assert sent == []
        tenant.advance(minutes=5)


def test_the_watermark_never_runs_ahead_of_what_the_next_read_can_see() -> None:
    started = datetime.fromisoformat("2026-03-20T09:30:00+00:00")
    overlap = 600
    assert feed_watermark(None, started, overlap) == started  # idle: the window moves on with time
    assert feed_watermark(started - timedelta(hours=1), started, overlap) == started
    ahead = started + timedelta(minutes=3)  # F&O's clock three minutes ahead of ours
    assert feed_watermark(ahead, started, overlap) == ahead
    wrong = started + timedelta(days=400)  # one row stamped by a wrong clock does not blind the feed
    assert feed_watermark(wrong, started, overlap) == started + timedelta(seconds=overlap)
    held = started - timedelta(minutes=20)
    assert feed_watermark(ahead, started, overlap, held=held) == held


class _HookedLog(list[dict[str, Any]]):
    """The F&O stand-in's request log, calling `hook` with each entry as it is logged (after the answer
    was made, before the next request is read)."""

    def __init__(self, entries: list[dict[str, Any]], hook: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(entries)
        self._hook = hook

    def append(self, entry: dict[str, Any]) -> None:
        super().append(entry)
        self._hook(entry)
