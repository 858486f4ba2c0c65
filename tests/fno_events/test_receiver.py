"""The receiver: a data event becomes the pair message the F&O feed would queue for its row, read with one
GET; duplicates, deletions, foreign entities and garbage (docs/fno-events.md)."""

from __future__ import annotations

import json

import pytest

from simulators.fno.events import DataEvents
from simulators.sample_data import COMPANY
from sync_core.fno_events.event import BadEvent, parse
from sync_core.runtime.messages import ScanFnoFeed, ScanMailbox, SyncPair
from tests.e2e.harness import Tenant
from tests.fno_events.helpers import ALICE, body_of, emitted, receive_bodies

Settled = tuple[Tenant, DataEvents, list[bytes]]


def _key(number: str) -> dict[str, str]:
    return {"dataAreaId": COMPANY, "ActivityNumber": number}


def test_an_edit_queues_the_pair_the_feed_would_with_the_row_read_once(settled: Settled) -> None:
    tenant, events, bodies = settled
    number = tenant.handles["review"]
    new = emitted(
        tenant, events, bodies, lambda: tenant.fno.update("Activities", _key(number), {"Purpose": "Moved"})
    )
    assert len(new) == 1
    assert json.loads(new[0])["MessageName"] == "OnExternalUpdated"
    mark = len(tenant.fno.request_log)
    outcomes, queued = receive_bodies(tenant, new)
    assert outcomes[0].pairs == 1 and outcomes[0].ignored == []
    (pair,) = queued[tenant.settings().item_queue]
    assert isinstance(pair, SyncPair)
    assert (pair.kind, pair.mailbox, pair.fno_key) == ("appointment", ALICE, f"{COMPANY}|{number}")
    assert pair.fno_row is not None and pair.fno_row["Purpose"] == "Moved"  # carried: no second read
    reads = [r for r in tenant.fno.request_log[mark:] if r["path"].startswith("/data/Activities")]
    assert [(r["method"], r["path"]) for r in reads] == [("GET", "/data/Activities")]
    assert f"ActivityNumber eq '{number}'" in reads[0]["query"]


def test_a_duplicate_event_syncs_once(settled: Settled) -> None:
    tenant, events, bodies = settled
    number = tenant.handles["review"]
    new = emitted(
        tenant, events, bodies, lambda: tenant.fno.update("Activities", _key(number), {"Purpose": "Twice"})
    )
    graph_mark = len(tenant.graph.request_log)
    first, _ = receive_bodies(tenant, new, run=True)
    late, _ = receive_bodies(tenant, new, run=True)  # delivered again, in a later batch
    # The late copy finds the row as its link now holds it: dropped by version, as the feed drops an echo.
    assert [o.pairs for o in first + late] == [1, 0]
    writes = [r for r in tenant.graph.request_log[graph_mark:] if r["method"] == "PATCH"]
    assert len(writes) == 1  # the second pair job finds the link as the first left it


def test_an_unchanged_row_queues_nothing(settled: Settled) -> None:
    """An event for a row exactly as its link holds it (the echo of our own write) is dropped by version."""
    tenant, _events, _bodies = settled
    number = tenant.handles["review"]
    body = body_of(
        InputParameters=[
            {
                "key": "Target",
                "value": {
                    "Attributes": [
                        {"key": "mserp_dataareaid", "value": COMPANY},
                        {"key": "mserp_activitynumber", "value": number},
                    ]
                },
            }
        ]
    )
    outcomes, queued = receive_bodies(tenant, [body])
    assert outcomes[0].pairs == 0 and queued[tenant.settings().item_queue] == []


def test_a_deleted_activity_goes_through_the_mailboxs_deletion_check(settled: Settled) -> None:
    tenant, events, bodies = settled
    number = tenant.handles["review"]
    new = emitted(tenant, events, bodies, lambda: tenant.fno.delete("Activities", _key(number)))
    assert json.loads(new[0])["MessageName"] == "OnExternalDeleted"
    mark = len(tenant.fno.request_log)
    _outcomes, queued = receive_bodies(tenant, new)
    assert len(tenant.fno.request_log) == mark  # a delete is not read
    assert queued[tenant.settings().scan_queue] == [
        ScanMailbox(
            kind="appointment", mailbox=ALICE, cycle_id=queued[tenant.settings().scan_queue][0].cycle_id
        )
    ]
    events_before = {e["id"] for e in tenant.graph.events(ALICE)}
    receive_bodies(tenant, new, run=True)  # the scan runs the deletion check, then the pair deletes
    gone = events_before - {e["id"] for e in tenant.graph.events(ALICE)}
    assert len(gone) == 1


def test_a_contact_person_event_queues_the_contact_feed_scans(settled: Settled) -> None:
    tenant, events, bodies = settled
    key = {"dataAreaId": COMPANY, "ContactPersonId": "CP-0002"}
    new = emitted(
        tenant, events, bodies, lambda: tenant.fno.update("ContactPersons", key, {"FirstName": "Kenji"})
    )
    _outcomes, queued = receive_bodies(tenant, new)
    scans = queued[tenant.settings().scan_queue]
    assert {s.kind for s in scans if isinstance(s, ScanFnoFeed)} == {"contact", "shared_contact"}


GARBAGE = [
    b"",
    b"\xff\xfe not json",
    b"[1, 2, 3]",
    b"{" * 5000,
    b"{}",
    body_of(MessageName="Assign"),
    body_of(PrimaryEntityName="mserp_custcustomerv3entity"),
    body_of(PrimaryEntityName=None),
    body_of(InputParameters="Target"),
    body_of(InputParameters=[{"key": "Target", "value": "no entity"}]),
    body_of(
        InputParameters=[
            {
                "key": "Target",
                "value": {
                    "Attributes": [
                        {"key": "mserp_dataareaid", "value": "usmf"},
                        {"key": "mserp_activitynumber", "value": "A\x00B"},
                    ]
                },
            }
        ]
    ),
    body_of(
        InputParameters=[
            {
                "key": "Target",
                "value": {
                    "Attributes": [
                        {"key": "mserp_dataareaid", "value": 7},
                        {"key": "mserp_activitynumber", "value": "ACT-1"},
                    ]
                },
            }
        ]
    ),
    b'{"MessageName": "OnExternalUpdated", "x": "' + b"a" * 600_000 + b'"}',
]


def test_garbage_and_foreign_events_are_ignored_without_a_request(settled: Settled) -> None:
    tenant, _, _ = settled
    for body in GARBAGE:
        with pytest.raises(BadEvent):
            parse(body)
    mark = len(tenant.fno.request_log)
    outcomes, queued = receive_bodies(tenant, GARBAGE)
    assert all(o.ignored and o.pairs == o.scans == 0 for o in outcomes)
    assert len(tenant.fno.request_log) == mark
    assert all(not messages for messages in queued.values())


def test_an_event_without_a_key_queues_the_activity_feeds(settled: Settled) -> None:
    """InputParameters are dropped from a message over 256 KB (use-webhooks.md): the feeds look instead."""
    tenant, _, _ = settled
    _outcomes, queued = receive_bodies(tenant, [body_of(InputParameters=None)])
    assert {s.kind for s in queued[tenant.settings().scan_queue] if isinstance(s, ScanFnoFeed)} == {
        "appointment",
        "task",
    }


def test_the_key_may_come_from_the_primary_field(settled: Settled) -> None:
    number = settled[0].handles["review"]
    body = body_of(
        InputParameters=[
            {
                "key": "Target",
                "value": {"Attributes": [{"key": "mserp_primaryfield", "value": f"{COMPANY}|{number}"}]},
            }
        ]
    )
    event = parse(body)
    assert (event.company, event.number, event.operation) == (COMPANY, number, "update")


def test_a_batch_reads_its_activities_in_one_query_and_queues_each_row_and_feed_once(
    settled: Settled,
) -> None:
    tenant, events, bodies = settled
    review, pricing = tenant.handles["review"], tenant.handles["pricing"]
    contact = {"dataAreaId": COMPANY, "ContactPersonId": "CP-0001"}

    def edits() -> None:
        tenant.fno.update("Activities", _key(review), {"Purpose": "One"})
        tenant.fno.update("Activities", _key(review), {"Purpose": "Two"})
        tenant.fno.update("Activities", _key(pricing), {"Purpose": "Three"})
        tenant.fno.update("ContactPersons", contact, {"FirstName": "Janet"})
        tenant.fno.update("ContactPersons", contact, {"FirstName": "Janette"})

    new = emitted(tenant, events, bodies, edits)
    assert len(new) == 5
    mark = len(tenant.fno.request_log)
    outcomes, queued = receive_bodies(tenant, new)
    assert len([r for r in tenant.fno.request_log[mark:] if r["path"] == "/data/Activities"]) == 1
    pairs = [p for p in queued[tenant.settings().item_queue] if isinstance(p, SyncPair)]
    assert sorted(str(p.fno_key) for p in pairs) == sorted([f"{COMPANY}|{review}", f"{COMPANY}|{pricing}"])
    rows = {p.fno_key: p.fno_row for p in pairs}
    assert (rows[f"{COMPANY}|{review}"] or {}).get("Purpose") == "Two"  # the row as it is now
    scans = [s for s in queued[tenant.settings().scan_queue] if isinstance(s, ScanFnoFeed)]
    assert sorted(s.kind for s in scans) == ["contact", "shared_contact"]
    assert [o.pairs for o in outcomes] == [1, 0, 1, 0, 0] and [o.scans for o in outcomes] == [0, 0, 0, 2, 0]
