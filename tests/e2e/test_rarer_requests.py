"""Requests the product sends less often, each end to end: the group scope, a To Do task deleted because its
activity was deleted in F&O, an attendee removed in Outlook. (docs/wire.md lists every request; a run of the
whole suite fails on a row no test sends, which is how these were found untested.)"""

from __future__ import annotations

from typing import Any

from simulators.sample_data import COMPANY
from tests.e2e.harness import Tenant

ALICE, BOB, CAROL = "alice@contoso.com", "bob@contoso.com", "carol@contoso.com"


def _graph_calls(tenant: Tenant, method: str, fragment: str) -> list[dict[str, Any]]:
    return [r for r in tenant.graph.request_log if r["method"] == method and fragment in r["path"]]


def test_a_group_scopes_the_mailboxes_through_its_member_list(tenant: Tenant) -> None:
    tenant.graph.add_group("11111111-2222-3333-4444-555555555555", [ALICE, CAROL])
    report = tenant.cycle(SYNC_MAILBOXES="", SYNC_MAILBOX_GROUP="11111111-2222-3333-4444-555555555555")
    assert report.failures == []
    [listing] = _graph_calls(tenant, "GET", "/groups/")
    assert listing["path"].endswith("/members")  # the basic list: no OData cast (group-list-members.md)
    scanned = {r["mailbox"] for r in tenant.graph.request_log if r["mailbox"]}
    assert ALICE in scanned and CAROL in scanned and BOB not in scanned


def test_an_open_task_deleted_in_fno_is_deleted_in_todo(tenant: Tenant) -> None:
    tenant.settle()
    number = tenant.handles["tasks"]["task_callback"]
    [todo] = [
        t
        for t in tenant.graph.todo.tasks(BOB)
        if any(r.get("externalId", "").endswith(number) for r in t.get("linkedResources", []))
    ]
    assert todo["status"] != "completed"
    tenant.fno.delete("Activities", {"dataAreaId": COMPANY, "ActivityNumber": number})
    tenant.advance(minutes=61)  # SYNC_FNO_DELETE_CHECK_MINUTES: F&O shows no deletions, its keys are compared
    report = tenant.cycle()
    assert report.failures == []
    assert [t for t in tenant.graph.todo.tasks(BOB) if t["id"] == todo["id"]] == []
    assert any(r["status"] == 204 for r in _graph_calls(tenant, "DELETE", "/tasks/"))


def test_an_attendee_removed_in_outlook_removes_the_parent_link(tenant: Tenant) -> None:
    tenant.settle()
    demo = next(a for a in tenant.appointments() if a["Purpose"] == "Demo for Tailspin")
    number = demo["ActivityNumber"]
    assert ("ContactPerson", "CP-0001") in {
        (p["ParentType"], p["ParentId"]) for p in tenant.parent_links(number)
    }
    event = next(e for e in tenant.graph.events("carol@contoso.com") if e["subject"] == "Demo for Tailspin")
    kept = [a for a in event["attendees"] if "fabrikam" not in a["emailAddress"]["address"].lower()]
    assert len(kept) < len(event["attendees"])
    tenant.graph.update_event("carol@contoso.com", event["id"], {"attendees": kept})
    report = tenant.cycle()
    assert report.failures == []
    assert ("ContactPerson", "CP-0001") not in {
        (p["ParentType"], p["ParentId"]) for p in tenant.parent_links(number)
    }
    assert [
        r for r in tenant.fno.request_log if r["method"] == "DELETE" and "ActivityParentLinks" in r["path"]
    ]
