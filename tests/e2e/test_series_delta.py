"""Series in the calendar delta as public reports describe it (bare occurrences, the master listed, a
cancelled occurrence not reported; simulators/graph/delta.py): nothing is cleared, nothing is missed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from simulators.sample_data import CATEGORY
from sync_core.kinds.appointment_series import SeriesReads
from sync_core.kinds.events_feed import changes_of
from sync_core.runtime.context import Mailbox, SyncContext
from tests.e2e.deletion_helpers import appt_tenant, instances
from tests.e2e.harness import Tenant

__all__ = ["appt_tenant"]
MAILBOX = "alice@contoso.com"
SUBJECT = "Series review"


@pytest.fixture
def reported(appt_tenant: Tenant) -> Tenant:
    appt_tenant.graph.bare_occurrences_in_delta = True
    appt_tenant.extra_env["SYNC_RECONCILE_HOURS"] = "0"  # what is seen, the delta and its reads saw
    return appt_tenant


def _series(tenant: Tenant) -> dict[str, Any]:
    return tenant.graph.add_event(
        MAILBOX,
        {
            "subject": SUBJECT,
            "body": {"contentType": "text", "content": "Agenda: the numbers"},
            "location": {"displayName": "Room 7"},
            "start": {"dateTime": "2026-03-24T14:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2026-03-24T15:00:00", "timeZone": "W. Europe Standard Time"},
            "categories": [CATEGORY],
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]},
                "range": {"type": "numbered", "startDate": "2026-03-24", "numberOfOccurrences": 4},
            },
        },
    )


def _occurrence_rows(tenant: Tenant) -> list[dict[str, Any]]:
    return [
        a
        for a in tenant.appointments()
        if a.get("RecurrenceState") in ("Occurrence", "Exception") and a["OriginalStartDate"] >= "2026-03-24"
    ]


def _instance_reads(tenant: Tenant, mark: tuple[int, int]) -> list[dict[str, Any]]:
    return [
        r for r in tenant.graph.request_log[mark[0] :] if r["method"] == "GET" and "/instances" in r["path"]
    ]


def test_cancelled_occurrence_is_seen_through_the_series_instances(reported: Tenant) -> None:
    tenant = reported
    master = _series(tenant)
    assert tenant.cycle().failures == []
    assert len(_occurrence_rows(tenant)) == 4
    second = instances(tenant, MAILBOX, master["id"])[1]
    tenant.advance(minutes=5)
    tenant.graph.delete_event(MAILBOX, second["id"])  # the delta will not say so
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["appointment"]["to_fno"]["deleted"] == 1
    assert len(_instance_reads(tenant, mark)) == 1  # one listing of the series, not a full one
    assert [a["OriginalStartDate"] for a in _occurrence_rows(tenant)].count(second["originalStart"]) == 0


def test_bare_occurrences_never_clear_fields(reported: Tenant) -> None:
    tenant = reported
    master = _series(tenant)
    tenant.cycle()
    before = {a["ActivityNumber"]: a for a in _occurrence_rows(tenant)}
    assert {(a["Purpose"], a["Location"], a["OutlookText"]) for a in before.values()} == {
        (SUBJECT, "Room 7", "Agenda: the numbers")
    }
    tenant.advance(minutes=5)
    # A cancelled occurrence makes the delta report the master with every occurrence left, bare.
    tenant.graph.delete_event(MAILBOX, instances(tenant, MAILBOX, master["id"])[3]["id"])
    mark = tenant.mark_logs()
    assert tenant.cycle().failures == []
    after = {a["ActivityNumber"]: a for a in _occurrence_rows(tenant)}
    assert len(after) == 3
    assert all(after[n] == before[n] for n in after)  # nothing written to the occurrences left
    assert [w["method"] for w in tenant.writes_since(mark)] == ["DELETE"]


async def test_a_bare_occurrence_is_never_carried_to_the_pair_job() -> None:
    """Not yet read whole (its master not listed before it): the change carries no item, so the pair job
    reads the occurrence instead of mapping the missing subject, body and location as empty."""
    master = {"id": "M", "type": "seriesMaster", "categories": [CATEGORY]}

    async def get_event(_mailbox: str, event_id: str) -> dict[str, Any] | None:
        return master if event_id == "M" else None

    ctx = cast(
        SyncContext,
        SimpleNamespace(
            graph=SimpleNamespace(get_event=get_event), settings=SimpleNamespace(category=CATEGORY)
        ),
    )
    mailbox = cast(Mailbox, SimpleNamespace(address=MAILBOX))
    bare = {
        "id": "O1",
        "type": "occurrence",
        "seriesMasterId": "M",
        "start": {"dateTime": "2026-03-24T13:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-24T14:00:00", "timeZone": "UTC"},
    }
    changes = await changes_of(ctx, mailbox, "O1", bare, SeriesReads(ctx, mailbox, "appointment"))
    assert [(c.graph_id, c.marked, c.item, c.version) for c in changes] == [
        ("M", True, None, None),
        ("O1", True, None, None),
    ]
