"""What tasks cost in requests: an idle mailbox reads one delta per watched To Do list; the list of
lists only when due (SYNC_TODO_LISTS_REFRESH_MINUTES) or when a linked task left its list; the pair job
decides on what the feeds carried. Counted in the stand-ins' request logs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from simulators.sample_data import CATEGORY, COMPANY
from sync_core.app import open_context
from sync_core.engine.types import ActionKind
from sync_core.kinds.task import task_kind
from sync_core.pipeline.pair import sync_pair
from sync_core.runtime.messages import SyncPair
from sync_core.runtime.phase import last_slot
from sync_core.runtime.queues import InProcessQueues
from tests.e2e.harness import Tenant
from tests.e2e.test_tasks import (
    ALICE,
    BOB,
    MAILBOXES,
    _activity_titled,
    _handle,
    _key,
    _one_todo,
    _quiet,
    _task_links,
    _todo_by_key,
    _todo_titled,
)


def _settle(tenant: Tenant) -> None:
    """The first sync, then the cycle that sees its echo (and reads the lists: tasks were created)."""
    assert tenant.cycle().failures == []
    tenant.advance(minutes=5)
    assert tenant.cycle().failures == []
    tenant.advance(minutes=5)


def _todo_calls(tenant: Tenant, mark: tuple[int, int], mailbox: str) -> list[str]:
    """To Do requests of one mailbox as "METHOD what": lists, delta, task, linkedResources."""
    calls = []
    for entry in tenant.graph.request_log[mark[0] :]:
        path = entry["path"]
        prefix = f"/users/{mailbox}/todo/lists"
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :]  # ids are base64 and may hold "/": classify by the known endings
        if rest in ("", "/"):
            what = "lists"
        elif rest.endswith("/tasks/delta"):
            what = "delta"
        elif "/linkedResources" in rest:
            what = "linkedResources"
        elif rest.endswith("/tasks"):
            what = "tasks"
        elif "/tasks/" in rest:
            what = "task"
        else:
            what = "list"
        calls.append(f"{entry['method']} {what}")
    return calls


def _activity_calls(tenant: Tenant, mark: tuple[int, int]) -> list[str]:
    """F&O requests on single activities (the feed's queries excluded)."""
    return [
        f"{e['method']} {e['path'].split('ActivityNumber=')[1].strip(chr(39) + ')')}"
        for e in tenant.fno.request_log[mark[1] :]
        if e["path"].startswith("/data/Activities(")
    ]


def test_an_idle_mailbox_reads_one_delta_per_list_until_the_lists_are_due(tenant: Tenant) -> None:
    tenant.extra_env = {"SYNC_RECONCILE_HOURS": "0"}  # its listings are counted elsewhere
    _settle(tenant)
    read_at = dict.fromkeys(MAILBOXES, tenant.now - timedelta(minutes=5))  # in the echo cycle
    start, period = read_at[ALICE], timedelta(minutes=360)  # SYNC_TODO_LISTS_REFRESH_MINUTES default
    for _ in range(14):  # 7 hours in 30-minute steps
        mark = tenant.mark_logs()
        assert tenant.cycle().failures == []
        for mailbox in MAILBOXES:
            # Once a period, at the first scan after the mailbox's own slot (spread: runtime/phase.py).
            due = last_slot(tenant.now, f"todo-lists:{mailbox}", period) > read_at[mailbox]
            assert _todo_calls(tenant, mark, mailbox) == (
                ["GET lists", "GET delta"] if due else ["GET delta"]
            )
            if due:
                read_at[mailbox] = tenant.now
        tenant.advance(minutes=30)
    assert all(
        start + timedelta(minutes=30) < read <= start + period + timedelta(minutes=30)
        for read in read_at.values()
    )


@pytest.mark.parametrize(("minutes", "reads"), [("0", [1, 1, 1]), ("10", [0, 1, 0])])
def test_the_refresh_period_is_a_setting(tenant: Tenant, minutes: str, reads: list[int]) -> None:
    tenant.extra_env = {"SYNC_TODO_LISTS_REFRESH_MINUTES": minutes}
    _settle(tenant)
    seen = []
    for _ in reads:
        mark = tenant.mark_logs()
        assert tenant.cycle().failures == []
        seen.append(_todo_calls(tenant, mark, ALICE).count("GET lists"))
        tenant.advance(minutes=5)
    assert seen == reads


def test_an_fno_task_edit_is_one_conditional_patch_in_todo(tenant: Tenant) -> None:
    # Only when the administrator turned it on, and To Do honours If-Match (docs/microsoft.md).
    tenant.extra_env = {"SYNC_TODO_WRITE_WITHOUT_READ": "true"}
    tenant.graph.todo.if_match = "honour"
    _settle(tenant)
    callback = _handle(tenant, "task_callback")
    tenant.fno.update("Activities", _key(callback), {"Purpose": "Call back Litware (urgent)"})
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["task"]["to_exchange"]["updated"] == 1
    assert _one_todo(tenant, BOB, callback)["title"] == "Call back Litware (urgent)"
    # The F&O feed carried the whole row, the To Do task is as the link left it: it is patched with
    # If-Match on the etag the link holds, without reading it first (a 412 would make it read).
    assert _todo_calls(tenant, mark, BOB) == ["GET delta", "PATCH task"]
    assert _activity_calls(tenant, mark) == []
    # The echo: the delta lists the task with the version the PATCH answered, so no pair job runs.
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    assert tenant.cycle().failures == []
    assert _todo_calls(tenant, mark, BOB) == ["GET delta"]
    assert _activity_calls(tenant, mark) == []


def test_an_outlook_task_edit_reads_neither_side_again(tenant: Tenant) -> None:
    _settle(tenant)
    renewal = _todo_titled(tenant, ALICE, "Check contract renewal")
    tenant.graph.todo.update_task(ALICE, renewal["listId"], renewal["id"], {"title": "Renew contract"})
    number = _activity_titled(tenant, "Check contract renewal")["ActivityNumber"]
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["task"]["to_fno"]["updated"] == 1
    # The delta page carried the task; the activity is patched with If-Match on its etag, not read.
    assert _todo_calls(tenant, mark, ALICE) == ["GET delta"]
    assert _activity_calls(tenant, mark) == [f"PATCH {number}"]
    # The echo: the activity's new edit stamp brings it back through the feed (row carried); the row is
    # as the link left it, so the pair job reads nothing more (a change in To Do has its own delta entry).
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert tenant.writes_since(mark) == []
    assert _todo_calls(tenant, mark, ALICE) == ["GET delta"]
    assert _activity_calls(tenant, mark) == []
    _quiet(tenant)


def test_a_task_moved_while_the_list_of_lists_is_cached_is_followed_at_once(tenant: Tenant) -> None:
    _settle(tenant)
    quote_number = _handle(tenant, "task_quote")
    quote = _one_todo(tenant, ALICE, quote_number)
    # A list the cache does not know yet, and one it knows (created before the last read).
    tenant.advance(minutes=50)
    later = tenant.graph.todo.add_list(ALICE, "Later")
    tenant.extra_env = {"SYNC_TODO_LISTS_REFRESH_MINUTES": "0"}
    assert tenant.cycle().failures == []  # reads the lists: "Later" is watched from now on
    tenant.extra_env = {}
    tenant.advance(minutes=5)
    projects = tenant.graph.todo.add_list(ALICE, "Projects")
    moved = tenant.graph.todo.move_task(ALICE, quote["listId"], quote["id"], projects)
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    # The default list reported the linked task removed: the lists are read at once and the new list's
    # first round finds the task by its linkedResource.
    calls = _todo_calls(tenant, mark, ALICE)
    assert calls.count("GET lists") == 1
    assert report.counts["task"]["to_exchange"]["created"] == 0
    assert report.counts["task"]["to_fno"]["deleted"] == report.counts["task"]["to_fno"]["unlinked"] == 0
    assert tenant.activity(quote_number) is not None
    [link] = [link for link in _task_links(tenant) if link.fno_key == f"{COMPANY}|{quote_number}"]
    assert link.graph_id == f"{projects}|{moved['id']}"
    assert len(_todo_by_key(tenant, ALICE, quote_number)) == 1
    _quiet(tenant)

    # Then into the known list, still within the cache period: followed the same way.
    again = tenant.graph.todo.move_task(ALICE, projects, moved["id"], later)
    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert report.failures == []
    [link] = [link for link in _task_links(tenant) if link.fno_key == f"{COMPANY}|{quote_number}"]
    assert link.graph_id == f"{later}|{again['id']}"
    assert tenant.activity(quote_number) is not None
    # Edits in the list it now lives in reach F&O.
    tenant.graph.todo.update_task(ALICE, later, again["id"], {"title": "Send quote (later)"})
    tenant.advance(minutes=5)
    assert tenant.cycle().failures == []
    row = tenant.activity(quote_number)
    assert row is not None and row["Purpose"] == "Send quote (later)"
    assert len(_todo_by_key(tenant, ALICE, quote_number)) == 1
    _quiet(tenant)


def test_a_deleted_list_is_noticed_while_the_lists_are_cached(tenant: Tenant) -> None:
    _settle(tenant)
    quote_number = _handle(tenant, "task_quote")
    quote = _one_todo(tenant, ALICE, quote_number)
    projects = tenant.graph.todo.add_list(ALICE, "Projects")
    tenant.graph.todo.move_task(ALICE, quote["listId"], quote["id"], projects)
    assert tenant.cycle().failures == []  # followed into the new list
    tenant.advance(minutes=5)
    tenant.graph.todo.delete_list(ALICE, projects)  # its delta now answers 404
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    # The scan: both deltas (the deleted list's answers 404), then the list of lists at once. (The pair
    # job then looks for the task by its stamp in every list, as for any task gone from its list.)
    assert _todo_calls(tenant, mark, ALICE)[:3] == ["GET delta", "GET delta", "GET lists"]
    # The open task went with its list: its activity is deleted, as for a deleted task.
    assert tenant.activity(quote_number) is None
    assert not [link for link in _task_links(tenant) if link.fno_key == f"{COMPANY}|{quote_number}"]
    _quiet(tenant)


def _run_pair(tenant: Tenant, message: SyncPair) -> ActionKind:
    """A pair job in a context of its own, as a Functions worker runs it (no scan before it in-process)."""

    async def run() -> ActionKind:
        async with open_context(tenant.settings(), InProcessQueues(), clock=lambda: tenant.now) as ctx:
            return await sync_pair(ctx, message)

    return asyncio.run(run())


def test_a_pair_job_in_its_own_context_takes_the_sync_list_from_the_scan_cursor(tenant: Tenant) -> None:
    _settle(tenant)
    task = tenant.graph.todo.add_task(ALICE, {"title": "Import me", "categories": [CATEGORY]})
    graph_id = f"{tenant.graph.todo.default_list_id(ALICE)}|{task['id']}"
    mark = tenant.mark_logs()
    action = _run_pair(tenant, SyncPair(kind="task", mailbox=ALICE, graph_id=graph_id))
    assert action is ActionKind.CREATE_IN_FNO
    assert _activity_titled(tenant, "Import me")["ResponsibleWorkerPersonnelNumber"] == "000101"
    assert "GET lists" not in _todo_calls(tenant, mark, ALICE)
    # The activity F&O answered the POST with is used as is: not read back.
    assert [c for c in _activity_calls(tenant, mark) if c.startswith("GET")] == []


async def _from_row(tenant: Tenant, key: str, row: dict[str, Any]) -> tuple[Any, int]:
    async with open_context(tenant.settings(), InProcessQueues(), clock=lambda: tenant.now) as ctx:
        before = len(tenant.fno.request_log)
        item = await task_kind().mapping.fno_item_from_row(ctx, key, row)
        return item, len(tenant.fno.request_log) - before


def test_fno_item_from_row_is_load_fno_without_a_request_and_reads_an_incomplete_row(tenant: Tenant) -> None:
    number = _handle(tenant, "task_quote")
    key = f"{COMPANY}|{number}"
    row = tenant.activity(number)
    assert row is not None
    item, requests = asyncio.run(_from_row(tenant, key, row))
    assert requests == 0
    assert (item.key, item.version, dict(item.row)) == (key, row["LastDateTimeEdited"], row)
    # A row missing a mapped field (e.g. read with a $select) is not trusted: that field would read as
    # its default. Nor is a row of another activity.
    partial = {k: v for k, v in row.items() if k != "OutlookText"}
    item, requests = asyncio.run(_from_row(tenant, key, partial))
    assert requests == 1 and item.row.get("OutlookText") == row.get("OutlookText")
    other = tenant.activity(_handle(tenant, "task_callback"))
    assert other is not None
    item, requests = asyncio.run(_from_row(tenant, key, other))
    assert requests == 1 and item.row["ActivityNumber"] == number


def test_a_new_task_marked_in_todo_is_read_once(tenant: Tenant) -> None:
    """Only the pair job reads it (for its linkedResource, which delta does not send); the scan looks
    for a moved task only when one may have moved."""
    _settle(tenant)
    tenant.graph.todo.add_task(ALICE, {"title": "Book the venue", "categories": [CATEGORY]})
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["task"]["to_fno"]["created"] == 1
    assert _todo_calls(tenant, mark, ALICE) == ["GET delta", "GET task", "POST linkedResources"]
    row = _activity_titled(tenant, "Book the venue")
    [task] = _todo_by_key(tenant, ALICE, row["ActivityNumber"])
    assert task["title"] == "Book the venue"
    _quiet(tenant)
