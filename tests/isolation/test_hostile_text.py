"""Text no encoder takes (a lone UTF-16 surrogate, bytes that are not UTF-8) in one item
never blocks its mailbox or feed. The stand-ins store Python text and could not send it; a fault layer
puts it into their answers, as Exchange and F&O do (`"\\ud800"` is legal JSON)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from simulators.sample_data import CATEGORY, COMPANY
from sync_core.runtime.keys import stamp_of
from tests.e2e.harness import Tenant
from tests.isolation.faults import FaultLayer, faulty_tenant

ALICE = "alice@contoso.com"
REPLACED = "\ufffd"


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


def _activity_of(tenant: Tenant, graph_id: str) -> dict[str, object]:
    [activity] = [a for a in tenant.appointments() if a.get("OutlookEntryId") == graph_id]
    return activity


def test_a_lone_surrogate_in_an_outlook_subject_does_not_block_the_mailbox(
    faulty: tuple[Tenant, FaultLayer, FaultLayer],
) -> None:
    tenant, graph, _fno = faulty
    # Every Graph answer that holds the marker holds a lone high surrogate there instead.
    graph.rewrite = lambda body: body.replace(b"SURROGATE", b"\\ud800")
    odd = _marked_event(tenant, "Budget SURROGATE review", days=2)
    plain = _marked_event(tenant, "Plain planning", days=3)

    report = tenant.cycle()
    assert report.failures == [], report.failures
    assert _activity_of(tenant, odd)["Purpose"] == f"Budget {REPLACED} review"
    assert _activity_of(tenant, plain)["Purpose"] == "Plain planning"

    # Later scans of that mailbox (the linked item now carried in queue messages) go on too.
    tenant.advance(minutes=5)
    tenant.graph.update_event(ALICE, odd, {"location": {"displayName": "Room 7"}})
    later = _marked_event(tenant, "Later planning", days=4)
    report = tenant.cycle()
    assert report.failures == [], report.failures
    assert _activity_of(tenant, odd)["Location"] == "Room 7"
    assert _activity_of(tenant, later)["Purpose"] == "Later planning"

    # The repaired text is stable: no echo, nothing written back and forth.
    tenant.settle()
    mark = tenant.mark_logs()
    assert tenant.cycle().failures == []
    assert tenant.writes_since(mark) == []


def test_unencodable_text_in_fno_rows_does_not_block_the_feed(
    faulty: tuple[Tenant, FaultLayer, FaultLayer],
) -> None:
    tenant, _graph, fno = faulty
    # A lone low surrogate (escaped) in one row, a byte that is no UTF-8 in another.
    fno.rewrite = lambda body: body.replace(b"SURROGATE", b"\\udc00").replace(b"BADBYTE", b"\xff")
    review, pricing = tenant.handles["review"], tenant.handles["pricing"]
    tenant.fno.update(
        "Activities", {"dataAreaId": COMPANY, "ActivityNumber": review}, {"Purpose": "Review SURROGATE"}
    )
    tenant.fno.update(
        "Activities", {"dataAreaId": COMPANY, "ActivityNumber": pricing}, {"Purpose": "Pricing BADBYTE"}
    )

    report = tenant.cycle()
    assert report.failures == [], report.failures
    assert report.counts["appointment"]["to_exchange"]["created"] == 5  # as without the odd text
    subjects = {
        stamp_of(e): e["subject"]
        for mailbox in (ALICE, "bob@contoso.com")
        for e in tenant.graph.events(mailbox)
    }
    assert subjects[f"{COMPANY}|{review}"] == f"Review {REPLACED}"
    assert subjects[f"{COMPANY}|{pricing}"] == f"Pricing {REPLACED}"
