"""E-mail import end to end over real HTTP against both stand-ins (docs/spec.md §3.3, §3.5)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

from simulators.fno.errors import bad_request
from simulators.sample_data import COMPANY
from sync_core.model.text import BODY_LIMIT, TRUNCATION_MARKER
from sync_core.runtime.keys import STAMP_PROPERTY_ID, stamp_of
from sync_core.state.sqlite import SqliteStateStore
from tests.e2e.harness import Tenant

IMPORT, IMPORTED, FAILED = "D365 Import", "D365 Imported", "D365 Import failed"
ALICE, CAROL, DAVE = "alice@contoso.com", "carol@contoso.com", "dave@contoso.com"


def _events(tenant: Tenant) -> list[dict[str, Any]]:
    return [a for a in tenant.fno.all("Activities") if a.get("Category") == "Event"]


def _event(tenant: Tenant, entry: str) -> dict[str, Any]:
    [found] = [a for a in _events(tenant) if a["OutlookEntryId"] == entry]
    return found


def _links(tenant: Tenant, number: str) -> list[tuple[str, str, str]]:
    """Parent links, primary first."""
    rows = [(p["ParentType"], p["ParentId"], p["IsPrimaryLink"]) for p in tenant.parent_links(number)]
    return sorted(rows, key=lambda row: (row[2] != "Yes", row))


def _message(tenant: Tenant, mailbox: str, message_id: str) -> dict[str, Any]:
    [found] = [m for m in tenant.graph.messages(mailbox) if m["id"] == message_id]
    return found


def _deliver(tenant: Tenant, mailbox: str, folder: str = "inbox", **fields: Any) -> str:
    fields.setdefault("receivedDateTime", "2026-03-19T08:15:00Z")
    fields.setdefault("categories", [IMPORT])
    return str(tenant.graph.add_message(mailbox, fields, folder=folder)["id"])


def _who(address: str) -> dict[str, Any]:
    return {"emailAddress": {"address": address, "name": address}}


def test_marked_messages_in_any_folder_become_event_activities(tenant: Tenant) -> None:
    handles = tenant.handles["email"]
    report = tenant.cycle()

    assert report.failures == []
    # order, terms, intro (delivered twice: one activity), demo follow-up; the newsletter is not marked.
    assert report.counts["email"]["to_fno"]["created"] == 4
    assert report.counts["email"]["to_exchange"]["updated"] == 1  # the second delivery: category only
    assert len(_events(tenant)) == 4

    order = _event(tenant, "<order-4711.1@fabrikam.com>")
    assert order["Purpose"] == "Order 4711: delivery dates"
    assert order["ResponsibleWorkerPersonnelNumber"] == "000101"
    assert order["KeepSynchronized"] == "No"
    received = _message(tenant, ALICE, handles["order"])["receivedDateTime"]
    assert order["StartDateTime"] == order["EndDateTime"] == received
    # HTML became readable text (BeautifulSoup), no markup left.
    assert order["OutlookText"] == (
        "Hi Alice,\n\nplease confirm the delivery dates:\n\n- Pallet 1: 3 April\n- Pallet 2: 7 April\n\n"
        "Thanks,\nJane"
    )
    # Association: sender (a contact person with a quote in her address) first and primary, then the
    # customer in Cc; the owner (To) and the colleague bob@contoso.com (tenant domain) are left out.
    assert _links(tenant, order["ActivityNumber"]) == [
        ("ContactPerson", "CP-0001", "Yes"),
        ("Customer", "US-001", "No"),
    ]
    # Sent by the owner to a vendor (twice: primary address and a PartyContactsV3 address) and its contact.
    terms = _event(tenant, "<terms-2026@contoso.com>")
    assert terms["OutlookText"] == "Dear Litware team,\nattached our terms for 2026."
    assert _links(tenant, terms["ActivityNumber"]) == [
        ("Vendor", "V-0042", "Yes"),
        ("ContactPerson", "CP-0002", "No"),
    ]
    intro = _event(tenant, "<intro-77@tailspin.com>")
    assert _links(tenant, intro["ActivityNumber"]) == [("BusRel", "PR-007", "Yes")]
    demo = _event(tenant, "<demo-followup@example.org>")
    assert demo["ResponsibleWorkerPersonnelNumber"] == "000103"
    assert _links(tenant, demo["ActivityNumber"]) == [("BusRel", "PR-007", "Yes")]  # Cc in upper case

    # Category swapped, other categories kept, and the product's stamp names the activity.
    message = _message(tenant, ALICE, handles["order"])
    assert message["categories"] == ["Customer", IMPORTED]
    assert stamp_of(message) == f"{COMPANY}|{order['ActivityNumber']}"
    for name in ("intro", "intro_again"):
        again = _message(tenant, ALICE, handles[name])
        assert again["categories"] == [IMPORTED]
        assert stamp_of(again) == f"{COMPANY}|{intro['ActivityNumber']}"
    assert _message(tenant, ALICE, handles["newsletter"])["categories"] == ["Blue category"]
    # Least change: the product's PATCHes carry the category list and its own stamp, nothing else.
    patches = tenant.graph.message_patches(ALICE)
    assert patches and all(set(p) == {"categories", "singleValueExtendedProperties"} for p in patches)
    assert all(p["singleValueExtendedProperties"][0]["id"] == STAMP_PROPERTY_ID for p in patches)


def test_second_cycle_writes_nothing(tenant: Tenant) -> None:
    tenant.cycle()
    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert tenant.writes_since(mark) == []
    assert report.writes == 0 and report.failures == []


def test_copy_to_another_folder_and_remarking_never_duplicate(tenant: Tenant) -> None:
    handles = tenant.handles["email"]
    tenant.cycle()
    before = len(_events(tenant))
    # A copy of an imported message, marked again by the user, and a copy made before import.
    copy = tenant.graph.copy_message(ALICE, handles["order"], handles["folders"]["projects"])
    tenant.graph.update_message(ALICE, copy["id"], {"categories": [IMPORT]})
    tenant.graph.update_message(ALICE, handles["order"], {"categories": ["Customer", IMPORT]})
    fresh = _deliver(
        tenant,
        ALICE,
        subject="Fresh",
        internetMessageId="<fresh@fabrikam.com>",
        sender=_who("orders@fabrikam.com"),
    )
    fresh_copy = tenant.graph.copy_message(ALICE, fresh, "archive")["id"]

    report = tenant.cycle()
    assert report.failures == []
    assert len(_events(tenant)) == before + 1
    assert report.counts["email"]["to_fno"]["created"] == 1
    assert report.counts["email"]["to_exchange"]["updated"] == 3
    fresh_activity = _event(tenant, "<fresh@fabrikam.com>")
    for message_id in (copy["id"], handles["order"], fresh, fresh_copy):
        assert IMPORTED in _message(tenant, ALICE, message_id)["categories"]
    assert stamp_of(_message(tenant, ALICE, fresh_copy)) == f"{COMPANY}|{fresh_activity['ActivityNumber']}"


def test_crash_after_create_before_category_swap_imports_once(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync_core.email_import import graph as email_graph

    real_write = email_graph.write_categories

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("worker died")

    monkeypatch.setattr(email_graph, "write_categories", crash)
    tenant.cycle(SYNC_MAX_ATTEMPTS="1")
    assert len(_events(tenant)) == 4  # created, then "crashed" before the swap (and before the retry)
    monkeypatch.setattr(email_graph, "write_categories", real_write)

    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert len(_events(tenant)) == 4
    assert report.counts["email"]["to_fno"]["created"] == 0
    fno_writes = [w for w in tenant.writes_since(mark) if "Activities" in w.get("path", "")]
    assert fno_writes == []
    message = _message(tenant, ALICE, tenant.handles["email"]["order"])
    assert message["categories"] == ["Customer", IMPORTED]


def test_crash_before_the_claim_was_updated_and_lost_state_find_the_activity(tenant: Tenant) -> None:
    tenant.cycle()
    handles = tenant.handles["email"]
    order = _event(tenant, "<order-4711.1@fabrikam.com>")
    # Lose the whole state store (or crash between "created in F&O" and "claim saved"), then re-mark.
    state_db = tenant.settings().state_dir / "state.sqlite3"
    state_db.unlink()
    tenant.graph.update_message(ALICE, handles["order"], {"categories": [IMPORT]})
    # Without the stamp too: only internetMessageId in OutlookEntryId can find it.
    tenant.graph.update_message(
        ALICE, handles["order"], {"singleValueExtendedProperties": [{"id": STAMP_PROPERTY_ID, "value": None}]}
    )
    report = tenant.cycle()
    assert report.failures == []
    assert len([a for a in _events(tenant) if a["OutlookEntryId"] == order["OutlookEntryId"]]) == 1
    assert stamp_of(_message(tenant, ALICE, handles["order"])) == f"{COMPANY}|{order['ActivityNumber']}"
    assert _links(tenant, order["ActivityNumber"]) == [
        ("ContactPerson", "CP-0001", "Yes"),
        ("Customer", "US-001", "No"),
    ]


def test_pending_claim_left_by_a_crash_is_taken_over_after_the_timeout(tenant: Tenant) -> None:
    from sync_core.email_import import claims

    async def leave_claim() -> None:
        store = SqliteStateStore(tenant.settings().state_dir / "state.sqlite3")
        try:
            await claims.claim(store, COMPANY, "<order-4711.1@fabrikam.com>", tenant.now, None)
        finally:
            await store.close()

    asyncio.run(leave_claim())
    first = tenant.cycle(SYNC_MAX_ATTEMPTS="2")
    # A fresh claim may belong to a live worker: the order waits (retried, reported), nothing is duplicated.
    assert [f.reason for f in first.failures] == [
        "another worker changed this pair at the same time; retried"
    ]
    assert [a for a in _events(tenant) if a["OutlookEntryId"] == "<order-4711.1@fabrikam.com>"] == []
    tenant.advance(minutes=11)
    second = tenant.cycle()
    assert second.failures == []
    assert len([a for a in _events(tenant) if a["OutlookEntryId"] == "<order-4711.1@fabrikam.com>"]) == 1


def test_no_worker_and_rejected_records_get_the_failure_category_with_a_reason(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan = _deliver(
        tenant, DAVE, subject="Quote", internetMessageId="<q@x.com>", sender=_who("orders@fabrikam.com")
    )
    rejected = _deliver(
        tenant, CAROL, subject="Rejected", internetMessageId="<r@x.com>", categories=[IMPORT, "VIP"]
    )
    insert = tenant.fno.insert

    def reject(entity: Any, body: dict[str, Any], *, company: str) -> dict[str, Any]:
        if body.get("OutlookEntryId") == "<r@x.com>":
            raise bad_request("Field 'Purpose' must be filled in.")
        return insert(entity, body, company=company)

    monkeypatch.setattr(tenant.fno, "insert", reject)
    report = tenant.cycle()

    assert _message(tenant, DAVE, orphan)["categories"] == [FAILED]
    assert _message(tenant, CAROL, rejected)["categories"] == ["VIP", FAILED]
    reasons = {f.graph_id: f.reason for f in report.failures}
    assert set(reasons) == {orphan, rejected}
    assert "no F&O worker" in reasons[orphan]
    assert reasons[rejected].startswith("F&O answered 400") and "Purpose" in reasons[rejected]
    assert all(f.kind == "email" for f in report.failures)
    # The rest of the cycle went on.
    assert report.counts["email"]["to_fno"]["created"] == 4

    # Visible from the command line, and nothing is retried next cycle (the import category is gone).
    env = {**tenant.environ, "PATH": "/usr/bin:/bin"}
    listed = subprocess.run(
        [sys.executable, "-m", "sync_core", "failures"], env=env, capture_output=True, text=True, check=False
    )
    assert "no F&O worker" in listed.stdout and "Purpose" in listed.stdout
    mark = tenant.mark_logs()
    again = tenant.cycle()
    assert again.failures == [] and tenant.writes_since(mark) == []


PARTY_SETS = (
    "/data/ContactPersons",
    "/data/CustomersV3",
    "/data/VendorsV2",
    "/data/Prospects",
    "/data/PartyContactsV3",
)


def _calls(tenant: Tenant, mark: tuple[int, int]) -> tuple[int, int]:
    """(all F&O calls, party lookups) since `mark`."""
    calls = tenant.fno.request_log[mark[1] :]
    return len(calls), sum(1 for c in calls if c["method"] == "GET" and c["path"] in PARTY_SETS)


def test_fifty_recipients_cost_few_odata_calls_and_quotes_never_widen_a_filter(tenant: Tenant) -> None:
    tenant.cycle()
    mark = tenant.mark_logs()
    tenant.cycle()
    idle_calls, idle_lookups = _calls(tenant, mark)  # what the other kinds cost in a cycle

    crowd = [_who(f"guest{i:02d}@example.net") for i in range(45)]
    crowd += [_who("jane.o'brien@fabrikam.com"), _who("orders@fabrikam.com"), _who("*@litware.com")]
    crowd += [_who("o'brien@example.com"), _who("x' or PrimaryEmailAddress ne 'y@z.com")]
    assert len(crowd) == 50
    for n in range(3):
        _deliver(
            tenant,
            ALICE,
            subject=f"Big meeting {n}",
            internetMessageId=f"<big-{n}@contoso.com>",
            sender=_who("alice@contoso.com"),
            toRecipients=crowd,
        )
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    calls, lookups = _calls(tenant, mark)
    # 50 addresses: one query per entity set per chunk of 20 (5 sets x 3 chunks), once for all three
    # messages (cached for the cycle); per message a lookup by identity, a create and two link creates.
    assert lookups - idle_lookups <= 15, lookups - idle_lookups
    assert calls - idle_calls <= 15 + 3 * 4, calls - idle_calls
    for n in range(3):
        activity = _event(tenant, f"<big-{n}@contoso.com>")
        # Only the exact matches: the wildcard and the injection attempt matched nothing.
        assert _links(tenant, activity["ActivityNumber"]) == [
            ("ContactPerson", "CP-0001", "Yes"),
            ("Customer", "US-001", "No"),
        ]


def test_very_large_bodies_are_cut_with_a_marker(tenant: Tenant) -> None:
    paragraph = "<p>" + "word " * 2000 + "</p>"
    _deliver(
        tenant,
        ALICE,
        subject="Huge",
        internetMessageId="<huge@x.com>",
        body={"contentType": "html", "content": "<html><body>" + paragraph * 40 + "</body></html>"},
    )
    report = tenant.cycle()
    assert report.failures == []
    text = _event(tenant, "<huge@x.com>")["OutlookText"]
    assert len(text) <= BODY_LIMIT and text.endswith(TRUNCATION_MARKER)


def test_dry_run_plans_imports_and_writes_nothing(tenant: Tenant) -> None:
    mark = tenant.mark_logs()
    links_before = len(tenant.fno.all("ActivityParentLinks"))
    report = tenant.cycle(dry_run=True)
    assert [w for w in tenant.writes_since(mark) if "/messages" in w["path"]] == []
    assert len(tenant.fno.all("ActivityParentLinks")) == links_before
    assert sum(1 for p in report.planned if p.kind == "email") == 5
    assert _events(tenant) == []
    # The real run afterwards imports.
    assert tenant.cycle().counts["email"]["to_fno"]["created"] == 4
