"""An item whose required field is missing or unreadable is a recorded failure of that
item alone, with nothing written on either side; the rest of its mailbox syncs.

The stand-ins always send `start` and `end`; a fault layer takes them out of (or garbles them in) their
answers, wherever the item appears (delta pages, single reads, $batch answers)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.sample_data import CATEGORY, COMPANY
from sync_core.app import open_store
from sync_core.runtime.keys import stamp_of
from sync_core.state.base import Failure
from tests.e2e.harness import WRITE_METHODS, Tenant
from tests.isolation.faults import FaultLayer, edit_items, faulty_tenant

ALICE = "alice@contoso.com"


@pytest.fixture
def faulty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Tenant, FaultLayer, FaultLayer]]:
    with faulty_tenant(tmp_path, monkeypatch) as layers:
        yield layers


def _marked_event(tenant: Tenant, subject: str, days: int) -> str:
    start = (tenant.now + timedelta(days=days)).replace(hour=15, minute=0, second=0, microsecond=0)
    stamp = "%Y-%m-%dT%H:%M:%S.0000000"
    event = tenant.graph.add_event(
        ALICE,
        {
            "subject": subject,
            "start": {"dateTime": start.strftime(stamp), "timeZone": "UTC"},
            "end": {"dateTime": (start + timedelta(hours=1)).strftime(stamp), "timeZone": "UTC"},
            "categories": [CATEGORY],
        },
    )
    return str(event["id"])


def _recorded(tenant: Tenant) -> list[Failure]:
    async def read() -> list[Failure]:
        store = open_store(tenant.settings())
        try:
            return await store.list_failures()
        finally:
            await store.close()

    return asyncio.run(read())


def _writes_naming(tenant: Tenant, mark: tuple[int, int], ident: str) -> list[dict[str, Any]]:
    return [r for r in tenant.writes_since(mark) if r["method"] in WRITE_METHODS and ident in r["path"]]


def test_an_outlook_event_without_end_or_with_an_unreadable_start_fails_alone(
    faulty: tuple[Tenant, FaultLayer, FaultLayer],
) -> None:
    tenant, graph, _fno = faulty
    no_end = _marked_event(tenant, "Strategy offsite planning", days=2)
    bad_start = _marked_event(tenant, "Quarterly numbers walkthrough", days=3)
    good = _marked_event(tenant, "Regular planning", days=4)

    def garble_start(event: dict[str, Any]) -> None:
        event["start"] = {**event["start"], "dateTime": "not-a-date"}

    graph.rewrite = lambda body: edit_items(
        edit_items(body, no_end, lambda event: event.pop("end", None)), bad_start, garble_start
    )
    mark = tenant.mark_logs()
    report = tenant.cycle()

    # One recorded failure per malformed event, naming the field and never the content.
    failed = {f.graph_id: f for f in report.failures}
    assert set(failed) == {no_end, bad_start}, report.failures
    assert all(f.kind == "appointment" and f.mailbox == ALICE for f in failed.values())
    assert "'end'" in failed[no_end].reason and "'start'" in failed[bad_start].reason
    assert not any("planning" in f.reason or "walkthrough" in f.reason for f in failed.values())
    assert {f.item_key for f in _recorded(tenant)} >= {no_end, bad_start}
    # Nothing written on either side for them: no activity, no stamp, no write naming the event.
    linked = {a.get("OutlookEntryId") for a in tenant.appointments()}
    assert no_end not in linked and bad_start not in linked
    purposes = {a.get("Purpose") for a in tenant.appointments()}
    assert "Strategy offsite planning" not in purposes and "Quarterly numbers walkthrough" not in purposes
    assert _writes_naming(tenant, mark, no_end) == [] and _writes_naming(tenant, mark, bad_start) == []
    for graph_id in (no_end, bad_start):
        event = tenant.graph.get_event(ALICE, graph_id)
        assert event is not None and stamp_of(event) is None
    # The rest of the mailbox synced.
    assert good in linked
    assert report.counts["appointment"]["to_fno"]["created"] == 3  # the good one and the two seeded


def test_an_fno_appointment_without_end_fails_alone(faulty: tuple[Tenant, FaultLayer, FaultLayer]) -> None:
    tenant, _graph, fno = faulty
    review = tenant.handles["review"]
    fno.rewrite = lambda body: edit_items(body, review, lambda row: row.pop("EndDateTime", None))
    mark = tenant.mark_logs()
    report = tenant.cycle()

    [failure] = report.failures
    assert (failure.kind, failure.mailbox, failure.fno_key) == ("appointment", ALICE, f"{COMPANY}|{review}")
    assert "'EndDateTime'" in failure.reason
    # Not created in Outlook, the activity not written; the other activities reached Outlook.
    assert all(stamp_of(e) != f"{COMPANY}|{review}" for e in tenant.graph.events(ALICE))
    assert _writes_naming(tenant, mark, review) == []
    assert report.counts["appointment"]["to_exchange"]["created"] == 4
