"""A change on one side of a settled pair is written to the other side without reading it first, with
`If-Match` on the version the link holds; when the other side changed meanwhile the write is refused
(412, nothing written) and the pair job reads it and merges, so no edit is lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from simulators.graph.todo import IfMatchMode
from simulators.sample_data import COMPANY
from sync_core.app import open_context
from sync_core.engine.types import ActionKind
from sync_core.pipeline.pair import sync_pair
from sync_core.runtime.messages import CarriedGraphItem, SyncPair
from sync_core.runtime.queues import InProcessQueues
from tests.e2e.harness import Tenant
from tests.e2e.test_tasks import BOB, _one_todo

ALICE = "alice@contoso.com"


def _graph_calls(tenant: Tenant, mark: tuple[int, int], method: str, part: str) -> list[dict[str, Any]]:
    return [r for r in tenant.graph.request_log[mark[0] :] if r["method"] == method and part in r["path"]]


def _fno_calls(tenant: Tenant, mark: tuple[int, int], method: str, prefix: str) -> list[dict[str, Any]]:
    return [
        r for r in tenant.fno.request_log[mark[1] :] if r["method"] == method and r["path"].startswith(prefix)
    ]


def _event(tenant: Tenant, subject: str) -> dict[str, Any]:
    [event] = [e for e in tenant.graph.events(ALICE) if e.get("subject") == subject]
    return event


def test_an_fno_edit_is_one_conditional_patch_in_outlook(tenant: Tenant) -> None:
    tenant.settle()
    key = {"dataAreaId": COMPANY, "ActivityNumber": tenant.handles["review"]}
    tenant.fno.update("Activities", key, {"Purpose": "Quarterly review (moved)"})
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["appointment"]["to_exchange"]["updated"] == 1
    event = _event(tenant, "Quarterly review (moved)")
    assert _graph_calls(tenant, mark, "GET", "/events/") == []  # not read first
    [patch] = _graph_calls(tenant, mark, "PATCH", "/events/")
    assert patch["status"] == 200 and patch["if_match"].startswith('W/"')
    # The link holds the new change key: the delta echo of this write queues nothing.
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    again = tenant.cycle()
    assert again.failures == [] and _graph_calls(tenant, mark, "PATCH", "/events/") == []
    assert tenant.graph.get_event(ALICE, event["id"]) is not None


def test_an_outlook_edit_is_one_conditional_patch_in_fno(tenant: Tenant) -> None:
    tenant.settle()
    tenant.graph.update_event(ALICE, tenant.handles["lunch"], {"subject": "Lunch with Litware (moved)"})
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["appointment"]["to_fno"]["updated"] == 1
    assert _fno_calls(tenant, mark, "GET", "/data/Activities(") == []  # not read first
    [patch] = _fno_calls(tenant, mark, "PATCH", "/data/Activities(")
    assert patch["status"] == 204 and patch["if_match"].startswith('W/"')
    assert any(a["Purpose"] == "Lunch with Litware (moved)" for a in tenant.appointments())
    # F&O answered 204 without the new etag; the feed's echo of the write brings it to the link, so the
    # next Outlook edit is conditional again, not read first.
    tenant.advance(minutes=5)
    assert tenant.cycle().failures == []
    tenant.advance(minutes=5)
    tenant.graph.update_event(ALICE, tenant.handles["lunch"], {"subject": "Lunch with Litware (again)"})
    mark = tenant.mark_logs()
    assert tenant.cycle().failures == []
    assert _fno_calls(tenant, mark, "GET", "/data/Activities(") == []
    [patch] = _fno_calls(tenant, mark, "PATCH", "/data/Activities(")
    assert patch["status"] == 204 and patch["if_match"] != ""
    assert any(a["Purpose"] == "Lunch with Litware (again)" for a in tenant.appointments())


def test_edits_on_both_sides_in_one_cycle_are_merged_after_a_refused_write(tenant: Tenant) -> None:
    """Both feeds report the pair; whichever job runs first writes conditionally to a side that changed
    since the last sync: 412, it reads that side and merges. Both edits end up on both sides."""
    tenant.settle()
    number = tenant.handles["review"]
    tenant.fno.update(
        "Activities", {"dataAreaId": COMPANY, "ActivityNumber": number}, {"Purpose": "Review, new title"}
    )
    [before] = [e for e in tenant.graph.events(ALICE) if e.get("subject") == "Quarterly review with Fabrikam"]
    tenant.graph.update_event(ALICE, before["id"], {"location": {"displayName": "Room 7"}})
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    refused = [r for r in tenant.graph.request_log[mark[0] :] if r["status"] == 412] + [
        r for r in tenant.fno.request_log[mark[1] :] if r["status"] == 412
    ]
    assert refused, "one job wrote to a side that had changed: its conditional write was refused"
    event = tenant.graph.get_event(ALICE, before["id"])
    assert event is not None and event["subject"] == "Review, new title"
    assert event["location"]["displayName"] == "Room 7"
    activity = tenant.activity(number)
    assert activity is not None and activity["Purpose"] == "Review, new title"
    assert activity["Location"] == "Room 7"


def test_a_task_status_from_outlook_reads_the_activity_first(tenant: Tenant) -> None:
    """Reopening or completing depends on the percentage F&O holds now: that write is never blind."""
    tenant.settle()
    synced = [
        (todo_list["id"], task["id"])
        for todo_list in tenant.graph.todo.lists(ALICE)
        for task in tenant.graph.todo.tasks(ALICE, todo_list["id"])
        if task.get("status") == "notStarted" and tenant.settings().category in (task.get("categories") or [])
    ]
    list_id, task_id = synced[0]
    tenant.graph.todo.update_task(ALICE, list_id, task_id, {"status": "completed"})
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["task"]["to_fno"]["updated"] == 1
    assert _fno_calls(tenant, mark, "GET", "/data/Activities(")  # read before writing
    [patch] = _fno_calls(tenant, mark, "PATCH", "/data/Activities(")
    assert "if_match" not in patch


def test_an_fno_edit_to_an_event_deleted_meanwhile_is_not_lost_in_a_failure(tenant: Tenant) -> None:
    """The conditional PATCH answers 404: the pair job reads Exchange, finds the event gone and leaves the
    deletion to the deletion check, as without the assumption; nothing is recreated, nothing fails."""
    tenant.settle()
    number = tenant.handles["review"]
    [event] = [e for e in tenant.graph.events(ALICE) if e.get("subject") == "Quarterly review with Fabrikam"]
    tenant.fno.update(
        "Activities", {"dataAreaId": COMPANY, "ActivityNumber": number}, {"Purpose": "Review, new title"}
    )
    tenant.graph.delete_event(ALICE, event["id"])
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    # Whichever job runs first (the F&O feed's pair with its conditional PATCH, or the deletion check's),
    # nothing is written to the gone event and nothing is recreated.
    assert all(p["status"] == 404 for p in _graph_calls(tenant, mark, "PATCH", "/events/"))
    assert _graph_calls(tenant, mark, "POST", "/events") == []
    assert all(e.get("subject") != "Review, new title" for e in tenant.graph.events(ALICE))


def test_with_write_without_read_off_the_other_side_is_read_first(tenant: Tenant) -> None:
    tenant.settle()
    key = {"dataAreaId": COMPANY, "ActivityNumber": tenant.handles["review"]}
    tenant.fno.update("Activities", key, {"Purpose": "Quarterly review (moved)"})
    mark = tenant.mark_logs()
    report = tenant.cycle(SYNC_WRITE_WITHOUT_READ="false")
    assert report.failures == []
    assert len(_graph_calls(tenant, mark, "GET", "/events/")) == 1
    [patch] = _graph_calls(tenant, mark, "PATCH", "/events/")
    assert "if_match" not in patch
    assert _event(tenant, "Quarterly review (moved)")


# ---- what the services document (docs/microsoft.md, "Conditional writes") ----------------------------------


def _todo_requests(tenant: Tenant, mark: tuple[int, int], mailbox: str) -> list[dict[str, Any]]:
    """Reads and writes of single tasks (the delta rounds left out)."""
    prefix = f"/users/{mailbox}/todo/lists/"
    return [
        r
        for r in tenant.graph.request_log[mark[0] :]
        if r["path"].startswith(prefix) and "/tasks/" in r["path"] and not r["path"].endswith("/tasks/delta")
    ]


def _task(tenant: Tenant, mailbox: str, name: str) -> dict[str, Any]:
    return _one_todo(tenant, mailbox, str(tenant.handles["tasks"][name]))


def _task_activity_key(tenant: Tenant, name: str) -> dict[str, str]:
    return {"dataAreaId": COMPANY, "ActivityNumber": str(tenant.handles["tasks"][name])}


@pytest.mark.parametrize("mode", ["honour", "ignore", "reject"])
def test_by_default_a_todo_task_is_read_before_it_is_written_so_no_edit_is_lost(
    tenant: Tenant, mode: IfMatchMode
) -> None:
    """Whatever To Do does with If-Match (Microsoft does not say), the default sends none: the task is read,
    both edits are merged, and the user's newer edit of the same field wins as the conflict policy says."""
    tenant.graph.todo.if_match = mode
    tenant.settle()
    tenant.fno.update("Activities", _task_activity_key(tenant, "task_callback"), {"Purpose": "From F&O"})
    tenant.advance(minutes=1)
    task = _task(tenant, BOB, "task_callback")
    tenant.graph.todo.update_task(
        BOB, task["listId"], task["id"], {"title": "From To Do", "importance": "high"}
    )
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    requests = _todo_requests(tenant, mark, BOB)
    assert all("if_match" not in r and r["status"] < 400 for r in requests), requests
    after = _task(tenant, BOB, "task_callback")
    activity = tenant.activity(str(tenant.handles["tasks"]["task_callback"]))
    assert activity is not None
    assert (after["title"], after["importance"]) == ("From To Do", "high")
    assert activity["Purpose"] == "From To Do"


def test_with_todo_write_without_read_a_changed_task_is_refused_and_merged(tenant: Tenant) -> None:
    """The administrator turned it on and To Do honours If-Match: the blind write is refused (412), the
    task is read and both edits land on both sides."""
    tenant.graph.todo.if_match = "honour"
    tenant.extra_env = {"SYNC_TODO_WRITE_WITHOUT_READ": "true"}
    tenant.settle()
    tenant.fno.update("Activities", _task_activity_key(tenant, "task_callback"), {"Purpose": "From F&O"})
    task = _task(tenant, BOB, "task_callback")
    tenant.graph.todo.update_task(BOB, task["listId"], task["id"], {"importance": "high"})
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    refused = [r for r in tenant.graph.request_log[mark[0] :] if r["status"] == 412] + [
        r for r in tenant.fno.request_log[mark[1] :] if r["status"] == 412
    ]
    assert refused, "one job wrote conditionally to a side that had changed"
    after = _task(tenant, BOB, "task_callback")
    assert (after["title"], after["importance"]) == ("From F&O", "high")


def test_with_todo_write_without_read_a_400_to_if_match_reads_and_writes_plainly(tenant: Tenant) -> None:
    """Should To Do refuse the header itself (400), the pair job reads the task and writes without it: one
    request more, no failure, and nothing that fails for good."""
    tenant.graph.todo.if_match = "reject"
    tenant.extra_env = {"SYNC_TODO_WRITE_WITHOUT_READ": "true"}
    tenant.settle()
    tenant.fno.update("Activities", _task_activity_key(tenant, "task_callback"), {"Purpose": "From F&O"})
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    calls = [(r["method"], r["status"], "if_match" in r) for r in _todo_requests(tenant, mark, BOB)]
    assert calls == [("PATCH", 400, True), ("GET", 200, False), ("PATCH", 200, False)]
    assert _task(tenant, BOB, "task_callback")["title"] == "From F&O"
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    assert tenant.cycle().failures == []
    assert tenant.writes_since(mark) == []


async def _sync_outlook_change(tenant: Tenant, event_id: str) -> ActionKind:
    """The pair job of an Outlook change as the mailbox feed queues it: the event carried, F&O assumed."""
    async with open_context(tenant.settings(), InProcessQueues(), clock=lambda: tenant.now) as ctx:
        kind = ctx.kinds["appointment"]
        mailbox = await ctx.mailbox(ALICE)
        assert mailbox is not None
        event = await kind.graph_side.get(ctx, mailbox, event_id)
        assert event is not None
        carried = CarriedGraphItem(
            id=event.id, item=dict(event.item), version=event.version, stamp=event.stamp
        )
        message = SyncPair(
            kind="appointment", mailbox=ALICE, graph_id=event_id, graph_item=carried, observed_at=tenant.now
        )
        return await sync_pair(ctx, message)


@pytest.mark.parametrize("status", [400, 409, 412])
def test_a_stale_fno_etag_answered_with_any_refusal_makes_the_pair_job_read_the_row(
    tenant: Tenant, status: int
) -> None:
    """F&O documents no status for a stale `@odata.etag` (OData says 412): 400 and 409 are read again too."""
    tenant.fno.stale_etag_status = status
    tenant.settle()
    number = tenant.handles["review"]
    tenant.fno.update(
        "Activities", {"dataAreaId": COMPANY, "ActivityNumber": number}, {"Purpose": "Review, new"}
    )
    [event] = [e for e in tenant.graph.events(ALICE) if e.get("subject") == "Quarterly review with Fabrikam"]
    tenant.graph.update_event(ALICE, event["id"], {"location": {"displayName": "Room 7"}})
    mark = tenant.mark_logs()
    assert asyncio.run(_sync_outlook_change(tenant, event["id"])) is ActionKind.UPDATE
    calls = [
        (r["method"], r["status"], "if_match" in r)
        for r in tenant.fno.request_log[mark[1] :]
        if r["path"].startswith("/data/Activities(")
    ]
    assert calls[0] == ("PATCH", status, True)  # the conditional write, refused: nothing written
    assert ("PATCH", 204, False) in calls[1:]  # after reading the row, written plainly
    activity = tenant.activity(number)
    assert activity is not None and (activity["Purpose"], activity["Location"]) == ("Review, new", "Room 7")
    after = tenant.graph.get_event(ALICE, event["id"])
    assert after is not None and after["subject"] == "Review, new"
