"""Tasks both ways, end to end over real HTTP against both stand-ins (docs/spec.md §3.2, §4): F&O task
activities <-> Microsoft To Do, in mailboxes in UTC+1/+2 (DST), UTC-10, UTC+13 and UTC."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from simulators.sample_data import CATEGORY, COMPANY
from sync_core.kinds.task_todo import APPLICATION_NAME
from sync_core.model.task import STATUSES
from sync_core.state.base import Link
from sync_core.state.sqlite import SqliteStateStore
from sync_core.state.tables import TableStateStore
from tests.e2e.harness import Tenant, sample_tenant
from tests.e2e.test_functions import _full_cycle
from tests.e2e.test_functions import azure_tenant as azure_tenant  # the fixture, shared
from tests.instance_run import run as run_functions

ROOT = Path(__file__).resolve().parents[2]
ALICE, BOB, CAROL, DAVE = "alice@contoso.com", "bob@contoso.com", "carol@contoso.com", "dave@contoso.com"
MAILBOXES = (ALICE, BOB, CAROL)
FNO_STATUS = {
    "notStarted": "NotStarted",
    "inProgress": "InProgress",
    "completed": "Completed",
    "waitingOnOthers": "Waiting",
    "deferred": "Deferred",
}


def _handle(tenant: Tenant, name: str) -> str:
    return str(tenant.handles["tasks"][name])


def _todo_by_key(tenant: Tenant, mailbox: str, number: str) -> list[dict[str, Any]]:
    key = f"{COMPANY}|{number}"
    return [
        t
        for t in tenant.graph.todo.tasks(mailbox)
        if any(
            r["externalId"] == key and r["applicationName"] == APPLICATION_NAME for r in t["linkedResources"]
        )
    ]


def _one_todo(tenant: Tenant, mailbox: str, number: str) -> dict[str, Any]:
    found = _todo_by_key(tenant, mailbox, number)
    assert len(found) == 1, found
    return found[0]


def _todo_titled(tenant: Tenant, mailbox: str, title: str) -> dict[str, Any]:
    [found] = [t for t in tenant.graph.todo.tasks(mailbox) if t["title"] == title]
    return found


def _task_activities(tenant: Tenant) -> list[dict[str, Any]]:
    return [a for a in tenant.fno.all("Activities") if a.get("Category") == "Task"]


def _activity_titled(tenant: Tenant, title: str) -> dict[str, Any]:
    [found] = [a for a in _task_activities(tenant) if a["Purpose"] == title]
    return found


def _key(number: str) -> dict[str, str]:
    return {"dataAreaId": COMPANY, "ActivityNumber": number}


def _local_day(graph_time: dict[str, str], zone: str) -> date:
    """The date To Do's UTC answer stands for in the mailbox zone (it is midnight there)."""
    assert graph_time["timeZone"] == "UTC"
    local = datetime.fromisoformat(graph_time["dateTime"][:19]).replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    assert (local.hour, local.minute) == (0, 0)
    return local.date()


def _midnight_z(day: date, zone: str) -> str:
    return (
        datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(zone))
        .astimezone(UTC)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
    )


def _task_links(tenant: Tenant) -> list[Link]:
    async def read() -> list[Link]:
        store = SqliteStateStore(tenant.settings().state_dir / "state.sqlite3")
        try:
            links: list[Link] = []
            for mailbox in (*MAILBOXES, DAVE):
                links.extend(await store.list_links("task", mailbox))
            return links
        finally:
            await store.close()

    return asyncio.run(read())


def _quiet(tenant: Tenant) -> None:
    """A further cycle writes no task anywhere: no To Do write request, no F&O task activity touched
    (a PATCH would move LastDateTimeEdited). Other kinds' writes are their own tests' business."""
    mark = tenant.mark_logs()
    before = {a["ActivityNumber"]: a for a in _task_activities(tenant)}
    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert report.failures == []
    todo_writes = [w for w in tenant.writes_since(mark) if "/todo/" in w["path"]]
    assert todo_writes == []
    assert {a["ActivityNumber"]: a for a in _task_activities(tenant)} == before
    assert all(v == 0 for d in report.counts["task"].values() for k, v in d.items() if k != "unchanged")


def test_first_cycle_creates_tasks_both_ways(tenant: Tenant) -> None:
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["task"]["to_exchange"]["created"] == 4
    assert report.counts["task"]["to_fno"]["created"] == 2

    # F&O -> To Do: into the owner's default list, with the category and a linkedResource back to F&O.
    quote_number = _handle(tenant, "task_quote")
    quote = _one_todo(tenant, ALICE, quote_number)
    assert quote["listId"] == tenant.graph.todo.default_list_id(ALICE)
    assert quote["title"] == "Send quote to Fabrikam"
    assert sorted(quote["categories"]) == sorted([CATEGORY, "Customer"])
    assert (quote["status"], quote["importance"]) == ("inProgress", "high")
    [resource] = quote["linkedResources"]
    assert resource["externalId"] == f"{COMPANY}|{quote_number}"
    d365_url = tenant.environ["D365_URL"]
    assert resource["webUrl"].startswith(f"{d365_url}/?cmp=USMF&mi=display:smmActivities&q=")
    assert quote_number in resource["webUrl"] and quote_number in resource["displayName"]
    activity = tenant.activity(quote_number)
    assert activity is not None
    due = datetime.fromisoformat(activity["EndDateTime"].replace("Z", "+00:00")).astimezone(
        ZoneInfo("Europe/Berlin")
    )
    assert _local_day(quote["dueDateTime"], "Europe/Berlin") == due.date()
    assert quote["isReminderOn"] is True
    assert quote["reminderDateTime"]["dateTime"][:19] == activity["ReminderDate"][:19]
    assert activity["OutlookEntryId"] == "todo:" + quote["id"]

    assert _one_todo(tenant, BOB, _handle(tenant, "task_callback"))["status"] == "notStarted"
    assert _one_todo(tenant, CAROL, _handle(tenant, "task_demo"))["status"] == "waitingOnOthers"
    rooms = _one_todo(tenant, ALICE, _handle(tenant, "task_rooms"))
    assert rooms["status"] == "completed" and "completedDateTime" in rooms
    assert _todo_by_key(tenant, BOB, _handle(tenant, "task_internal")) == []  # not marked in F&O

    # To Do -> F&O: owned by the mailbox's worker, dates as local midnight, linkedResource added.
    renewal = _activity_titled(tenant, "Check contract renewal")
    assert (renewal["ResponsibleWorkerPersonnelNumber"], renewal["KeepSynchronized"]) == ("000101", "Yes")
    assert (renewal["Priority"], renewal["ActivityStatus"], renewal["Closed"]) == ("High", "NotStarted", "No")
    assert renewal["OutlookText"] == "Terms end next quarter."
    renewal_todo = _todo_titled(tenant, ALICE, "Check contract renewal")
    day = _local_day(renewal_todo["dueDateTime"], "Europe/Berlin")
    assert renewal["EndDateTime"] == _midnight_z(day, "Europe/Berlin")
    assert [r["externalId"] for r in renewal_todo["linkedResources"]] == [
        f"{COMPANY}|{renewal['ActivityNumber']}"
    ]
    samples = _activity_titled(tenant, "Order samples")
    assert (samples["ResponsibleWorkerPersonnelNumber"], samples["ActivityStatus"]) == (
        "000103",
        "InProgress",
    )
    samples_todo = _todo_titled(tenant, CAROL, "Order samples")
    assert samples["EndDateTime"] == _midnight_z(
        _local_day(samples_todo["dueDateTime"], "Pacific/Tongatapu"), "Pacific/Tongatapu"
    )
    assert samples["Reminder"] == "Yes"
    assert samples["ReminderDate"][:16] == samples_todo["reminderDateTime"]["dateTime"][:16]
    # Not marked in To Do: stays out of F&O.
    assert not [a for a in _task_activities(tenant) if a["Purpose"].startswith("Personal errand")]
    assert len(_task_links(tenant)) == 6

    _quiet(tenant)


def test_updates_flow_both_ways_without_echo(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    callback = _handle(tenant, "task_callback")
    tenant.fno.update(
        "Activities", _key(callback), {"Purpose": "Call back Litware (urgent)", "Priority": "High"}
    )
    renewal = _todo_titled(tenant, ALICE, "Check contract renewal")
    tenant.graph.todo.update_task(
        ALICE,
        renewal["listId"],
        renewal["id"],
        {
            "body": {
                "contentType": "html",
                "content": "<p>Terms end <b>next</b> quarter.</p><p>Call legal.</p>",
            }
        },
    )
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["task"]["to_exchange"]["updated"] == 1
    assert report.counts["task"]["to_fno"]["updated"] == 1
    todo = _one_todo(tenant, BOB, callback)
    assert (todo["title"], todo["importance"]) == ("Call back Litware (urgent)", "high")
    assert (
        _activity_titled(tenant, "Check contract renewal")["OutlookText"]
        == "Terms end next quarter.\n\nCall legal."
    )
    _quiet(tenant)


@pytest.mark.parametrize("status", STATUSES)
def test_status_round_trips_both_ways(tenant: Tenant, status: str) -> None:
    tenant.cycle()
    # F&O -> To Do
    tenant.advance(minutes=5)
    demo = _handle(tenant, "task_demo")
    patch: dict[str, Any] = {"ActivityStatus": FNO_STATUS[status]}
    tenant.fno.update("Activities", _key(demo), patch)
    assert tenant.cycle().failures == []
    expected = "waitingOnOthers" if status == "waitingOnOthers" else status
    assert _one_todo(tenant, CAROL, demo)["status"] == expected
    activity = tenant.activity(demo)
    assert activity is not None
    assert activity["Closed"] == "No"  # F&O's own record is left as its user made it: no write back
    _quiet(tenant)
    # To Do -> F&O, from another status.
    samples = _todo_titled(tenant, CAROL, "Order samples")
    tenant.graph.todo.update_task(CAROL, samples["listId"], samples["id"], {"status": status})
    assert tenant.cycle().failures == []
    row = _activity_titled(tenant, "Order samples")
    assert row["ActivityStatus"] == FNO_STATUS[status]
    assert row["Closed"] == ("Yes" if status == "completed" else "No")
    if status == "completed":
        assert float(row["CompletedPercentage"]) == 100
    _quiet(tenant)


def test_completing_in_fno_by_closing_completes_in_todo_and_reopening_reopens(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    callback = _handle(tenant, "task_callback")
    tenant.fno.update("Activities", _key(callback), {"Closed": "Yes", "CompletedPercentage": 100})
    assert tenant.cycle().failures == []
    todo = _one_todo(tenant, BOB, callback)
    assert todo["status"] == "completed"
    _quiet(tenant)
    tenant.graph.todo.update_task(BOB, todo["listId"], todo["id"], {"status": "notStarted"})
    assert tenant.cycle().failures == []
    row = tenant.activity(callback)
    assert row is not None
    assert (row["ActivityStatus"], row["Closed"], float(row["CompletedPercentage"])) == (
        "NotStarted",
        "No",
        0,
    )
    _quiet(tenant)


def test_a_task_completed_since_the_last_sync_outlives_its_deleted_partner(tenant: Tenant) -> None:
    """The engine decides on the survivor as read when the deletion goes ahead, not on the snapshot: a task
    completed in To Do while its activity was deleted in F&O stays in To Do, unmarked."""
    tenant.cycle()
    tenant.advance(minutes=5)
    demo = _handle(tenant, "task_demo")
    todo = _one_todo(tenant, CAROL, demo)
    tenant.graph.todo.update_task(CAROL, todo["listId"], todo["id"], {"status": "completed"})
    tenant.fno.delete("Activities", _key(demo))
    tenant.advance(minutes=60)  # F&O lists no deletions: the check compares the keys it still returns
    report = tenant.cycle()
    assert report.failures == []
    [kept] = [t for t in tenant.graph.todo.tasks(CAROL) if t["id"] == todo["id"]]
    assert kept["status"] == "completed" and CATEGORY not in kept["categories"]
    assert report.counts["task"]["to_exchange"] == {
        **report.counts["task"]["to_exchange"],
        "unlinked": 1,
        "deleted": 0,
    }
    assert not [link for link in _task_links(tenant) if link.fno_key.endswith(demo)]
    _quiet(tenant)


ZONES = {
    ALICE: ("000101", "Europe/Berlin", "W. Europe Standard Time"),  # springs forward on 29 March 2026
    BOB: ("000102", "Pacific/Honolulu", "Hawaiian Standard Time"),  # UTC-10
    CAROL: ("000103", "Pacific/Tongatapu", "Tonga Standard Time"),  # UTC+13
    DAVE: ("000104", "UTC", "UTC"),
}


def test_due_dates_are_exact_across_zones_and_a_dst_change(tenant: Tenant) -> None:
    # Give dave (UTC) a worker, so a UTC mailbox takes part too.
    tenant.fno.add("Workers", {"PersonnelNumber": "000104", "Name": "Dave", "PrimaryContactEmail": DAVE})
    days = (date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30))
    for mailbox, (personnel, zone, zone_name) in ZONES.items():
        for day in days:
            # F&O side: due at 17:00 local, as F&O's form would have it.
            end = datetime.combine(day, datetime.min.time().replace(hour=17), tzinfo=ZoneInfo(zone))
            tenant.fno.add(
                "Activities",
                {
                    "dataAreaId": COMPANY,
                    "Category": "Task",
                    "Purpose": f"F&O due {day} {mailbox}",
                    "EndDateTime": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "ResponsibleWorkerPersonnelNumber": personnel,
                    "KeepSynchronized": "Yes",
                },
            )
            # To Do side: a date typed in the mailbox's own zone.
            tenant.graph.todo.add_task(
                mailbox,
                {
                    "title": f"To Do due {day} {mailbox}",
                    "dueDateTime": {"dateTime": f"{day}T00:00:00", "timeZone": zone_name},
                    "categories": [CATEGORY],
                },
            )
    report = tenant.cycle()
    assert report.failures == []
    for mailbox, (_, zone, _name) in ZONES.items():
        for day in days:
            todo = _todo_titled(tenant, mailbox, f"F&O due {day} {mailbox}")
            assert _local_day(todo["dueDateTime"], zone) == day
            row = _activity_titled(tenant, f"To Do due {day} {mailbox}")
            assert row["EndDateTime"] == _midnight_z(day, zone)
    _quiet(tenant)

    # Move every date across the DST change on both sides; they land on exactly the new day.
    for mailbox, (_, zone, zone_name) in ZONES.items():
        for day in days:
            new_day = day + timedelta(days=2)
            todo = _todo_titled(tenant, mailbox, f"To Do due {day} {mailbox}")
            tenant.graph.todo.update_task(
                mailbox,
                todo["listId"],
                todo["id"],
                {"dueDateTime": {"dateTime": f"{new_day}T00:00:00", "timeZone": zone_name}},
            )
            row = _activity_titled(tenant, f"F&O due {day} {mailbox}")
            tenant.fno.update(
                "Activities", _key(row["ActivityNumber"]), {"EndDateTime": _midnight_z(new_day, zone)}
            )
    report = tenant.cycle()
    assert report.failures == []
    for mailbox, (_, zone, _name) in ZONES.items():
        for day in days:
            new_day = day + timedelta(days=2)
            assert (
                _local_day(_todo_titled(tenant, mailbox, f"F&O due {day} {mailbox}")["dueDateTime"], zone)
                == new_day
            )
            assert _activity_titled(tenant, f"To Do due {day} {mailbox}")["EndDateTime"] == _midnight_z(
                new_day, zone
            )
    _quiet(tenant)


def test_task_moved_to_another_list_stays_linked_without_duplicates(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    quote_number = _handle(tenant, "task_quote")
    quote = _one_todo(tenant, ALICE, quote_number)
    projects = tenant.graph.todo.add_list(ALICE, "Projects")
    moved = tenant.graph.todo.move_task(ALICE, quote["listId"], quote["id"], projects)
    assert moved["id"] != quote["id"]
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["task"]["to_exchange"]["created"] == 0
    assert report.counts["task"]["to_fno"]["deleted"] == report.counts["task"]["to_fno"]["unlinked"] == 0
    assert tenant.activity(quote_number) is not None
    [link] = [link for link in _task_links(tenant) if link.fno_key == f"{COMPANY}|{quote_number}"]
    assert link.graph_id == f"{projects}|{moved['id']}"
    _quiet(tenant)

    # Edits in the new list reach F&O; F&O edits reach the moved task.
    tenant.graph.todo.update_task(ALICE, projects, moved["id"], {"title": "Send quote (revised)"})
    assert tenant.cycle().failures == []
    row = tenant.activity(quote_number)
    assert row is not None and row["Purpose"] == "Send quote (revised)"
    tenant.advance(minutes=5)
    tenant.fno.update("Activities", _key(quote_number), {"Priority": "Low"})
    assert tenant.cycle().failures == []
    assert _one_todo(tenant, ALICE, quote_number)["importance"] == "low"
    assert len(_todo_by_key(tenant, ALICE, quote_number)) == 1
    _quiet(tenant)


def test_move_found_through_the_f_and_o_feed_before_the_delta(tenant: Tenant) -> None:
    """The F&O side changes while the task moved: the pair job finds the task by its linkedResource."""
    tenant.cycle()
    tenant.advance(minutes=5)
    demo = _handle(tenant, "task_demo")
    todo = _one_todo(tenant, CAROL, demo)
    target = tenant.graph.todo.add_list(CAROL, "Later")
    tenant.graph.todo.move_task(CAROL, todo["listId"], todo["id"], target)
    tenant.fno.update("Activities", _key(demo), {"Purpose": "Prepare Tailspin demo v2"})
    tenant.graph.expire_delta_tokens(CAROL)  # and the delta token is lost as well: a full resync
    report = tenant.cycle()
    assert report.failures == []
    [moved] = _todo_by_key(tenant, CAROL, demo)
    assert moved["title"] == "Prepare Tailspin demo v2" and moved["listId"] == target
    assert report.counts["task"]["to_exchange"]["created"] == 0
    _quiet(tenant)


def test_crash_after_creating_the_todo_task_never_duplicates(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = SqliteStateStore.save_link
    crashed: list[str] = []

    async def crash(self: SqliteStateStore, link: Link) -> Link:
        if link.kind == "task" and not link.graph_id.startswith("pending:") and not crashed:
            crashed.append(link.fno_key)
            raise RuntimeError("worker died between creating the To Do task and saving its link")
        return await original(self, link)

    monkeypatch.setattr(SqliteStateStore, "save_link", crash)
    tenant.cycle(SYNC_MAX_ATTEMPTS="1")  # no retry in this cycle: the next one must repair it
    assert crashed
    monkeypatch.setattr(SqliteStateStore, "save_link", original)
    tenant.advance(minutes=5)
    assert tenant.cycle().failures == []
    for mailbox, handle in (
        (ALICE, "task_quote"),
        (BOB, "task_callback"),
        (CAROL, "task_demo"),
        (ALICE, "task_rooms"),
    ):
        assert len(_todo_by_key(tenant, mailbox, _handle(tenant, handle))) == 1
    assert len(_task_links(tenant)) == 6
    _quiet(tenant)


def test_unmark_relink_and_deletions(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    # Unmarking in To Do unmarks in F&O and deletes nothing.
    callback = _handle(tenant, "task_callback")
    todo = _one_todo(tenant, BOB, callback)
    tenant.graph.todo.update_task(BOB, todo["listId"], todo["id"], {"categories": []})
    report = tenant.cycle()
    assert report.counts["task"]["to_fno"]["unlinked"] == 1
    row = tenant.activity(callback)
    assert row is not None and row["KeepSynchronized"] == "No"
    # Marking it again in F&O links the same To Do task again (found by F&O's OutlookEntryId).
    tenant.advance(minutes=5)
    tenant.fno.update("Activities", _key(callback), {"KeepSynchronized": "Yes"})
    assert tenant.cycle().failures == []
    [again] = _todo_by_key(tenant, BOB, callback)
    assert again["id"] == todo["id"] and CATEGORY in again["categories"]

    # Deleting an open task in To Do deletes the activity; a completed one is kept and unmarked.
    tenant.advance(minutes=5)
    tenant.graph.todo.delete_task(BOB, again["listId"], again["id"])
    rooms = _handle(tenant, "task_rooms")
    rooms_todo = _one_todo(tenant, ALICE, rooms)
    tenant.graph.todo.delete_task(ALICE, rooms_todo["listId"], rooms_todo["id"])
    report = tenant.cycle()
    assert report.failures == []
    assert tenant.activity(callback) is None
    kept = tenant.activity(rooms)
    assert kept is not None and kept["KeepSynchronized"] == "No" and kept["Closed"] == "Yes"
    assert report.counts["task"]["to_fno"]["deleted"] == 1
    _quiet(tenant)


def test_configured_list_is_created_and_only_it_imports(tenant: Tenant) -> None:
    tenant.extra_env = {"SYNC_TODO_LIST": "Dynamics 365"}
    report = tenant.cycle()
    assert report.failures == []
    for mailbox in MAILBOXES:
        names = [lst["displayName"] for lst in tenant.graph.todo.lists(mailbox)]
        assert names.count("Dynamics 365") == 1
    target = next(lst["id"] for lst in tenant.graph.todo.lists(ALICE) if lst["displayName"] == "Dynamics 365")
    assert _one_todo(tenant, ALICE, _handle(tenant, "task_quote"))["listId"] == target
    # Marked tasks in the default list are not imported when another list is configured.
    assert report.counts["task"]["to_fno"]["created"] == 0
    tenant.graph.todo.add_task(ALICE, {"title": "From the sync list", "categories": [CATEGORY]}, target)
    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert report.counts["task"]["to_fno"]["created"] == 1
    assert _activity_titled(tenant, "From the sync list")["ResponsibleWorkerPersonnelNumber"] == "000101"
    _quiet(tenant)


def test_expired_delta_tokens_resync_without_writes(tenant: Tenant) -> None:
    tenant.cycle()
    for mailbox in MAILBOXES:
        tenant.graph.expire_delta_tokens(mailbox)
    _quiet(tenant)
    assert sum(len(tenant.graph.todo.tasks(m)) for m in MAILBOXES) == 7


def test_dry_run_plans_tasks_and_writes_nothing(tenant: Tenant) -> None:
    mark = tenant.mark_logs()
    before = _task_activities(tenant)
    report = tenant.cycle(dry_run=True)
    assert [w for w in tenant.writes_since(mark) if "/todo/" in w["path"]] == []
    assert _task_activities(tenant) == before
    planned = [p.action for p in report.planned if p.kind == "task"]
    assert planned.count("create_in_graph") == 4 and planned.count("create_in_fno") == 2


@pytest.fixture
def live_tenant(tmp_path: Path) -> Iterator[Tenant]:
    """`run --once` runs on the real clock, so the sample data is laid out around the real today."""
    with sample_tenant(tmp_path, now=datetime.now(UTC)) as tenant:
        yield tenant


def test_run_once_syncs_tasks_both_ways(live_tenant: Tenant) -> None:
    tenant = live_tenant
    env = {**os.environ, **tenant.environ, "PYTHONPATH": str(ROOT)}

    def run_once() -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "sync_core", "run", "--once", "--json"],
            cwd=tenant.settings().state_dir.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert (
            "Send quote" not in done.stderr and "Order samples" not in done.stderr
        )  # no personal data in logs
        report: dict[str, Any] = json.loads(done.stdout)
        return report

    first = run_once()
    assert first["counts"]["task"]["to_exchange"]["created"] == 4
    assert first["counts"]["task"]["to_fno"]["created"] == 2
    mark = tenant.mark_logs()
    second = run_once()
    assert second["counts"]["task"]["to_exchange"]["created"] == 0
    assert tenant.writes_since(mark) == []


@pytest.mark.azurite
def test_functions_sync_tasks_through_azure_queues_and_tables(azure_tenant: Tenant) -> None:
    """Timer -> scan queue -> item queue on Azurite, links in Azure Tables: tasks both ways."""
    tenant = azure_tenant
    run_functions(_full_cycle(tenant))

    async def task_links() -> list[Link]:
        settings = tenant.settings()
        store = TableStateStore.from_connection_string(
            settings.storage_connection, prefix=settings.table_prefix
        )
        try:
            found: list[Link] = []
            for mailbox in MAILBOXES:
                found.extend(await store.list_links("task", mailbox))
            return found
        finally:
            await store.close()

    assert len(asyncio.run(task_links())) == 6
    assert len(_todo_by_key(tenant, ALICE, _handle(tenant, "task_quote"))) == 1
    samples = _todo_titled(tenant, CAROL, "Order samples")
    assert _activity_titled(tenant, "Order samples")["ResponsibleWorkerPersonnelNumber"] == "000103"

    # Completing in To Do completes the activity in F&O on the next run of the Functions.
    tenant.graph.todo.update_task(CAROL, samples["listId"], samples["id"], {"status": "completed"})
    run_functions(_full_cycle(tenant))
    row = _activity_titled(tenant, "Order samples")
    assert (row["ActivityStatus"], row["Closed"], float(row["CompletedPercentage"])) == (
        "Completed",
        "Yes",
        100,
    )

    # And a cycle with nothing new writes no task anywhere.
    mark = tenant.mark_logs()
    before = _task_activities(tenant)
    run_functions(_full_cycle(tenant))
    assert [w for w in tenant.writes_since(mark) if "/todo/" in w["path"]] == []
    assert _task_activities(tenant) == before


def test_a_crafted_linked_resource_cannot_claim_another_workers_activity(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    quote_number = _handle(tenant, "task_quote")  # alice's activity
    before = tenant.activity(quote_number)
    crafted = tenant.graph.todo.add_task(
        BOB,
        {
            "title": "Hijack",
            "categories": [CATEGORY],
            "linkedResources": [
                {
                    "applicationName": APPLICATION_NAME,
                    "externalId": f"{COMPANY}|{quote_number}",
                    "webUrl": "x",
                }
            ],
        },
    )
    report = tenant.cycle()
    assert report.failures == []
    assert tenant.activity(quote_number) == before
    hijack = _activity_titled(tenant, "Hijack")
    assert hijack["ResponsibleWorkerPersonnelNumber"] == "000102"  # imported as bob's own task instead
    [task] = [t for t in tenant.graph.todo.tasks(BOB) if t["id"] == crafted["id"]]
    assert [r["externalId"] for r in task["linkedResources"]] == [f"{COMPANY}|{hijack['ActivityNumber']}"]
    _quiet(tenant)


def test_new_tasks_cost_no_full_list_reads_and_legacy_entry_ids_are_ignored(tenant: Tenant) -> None:
    """Finding a partner reads every list only when there is reason to (a claim or our own entry id): an
    F&O task carrying an old Outlook add-in EntryID in OutlookEntryId is simply created in To Do."""
    legacy = tenant.fno.add(
        "Activities",
        {
            "dataAreaId": COMPANY,
            "Category": "Task",
            "Purpose": "Legacy task",
            "ResponsibleWorkerPersonnelNumber": "000102",
            "KeepSynchronized": "Yes",
            "OutlookEntryId": "00000000D0E1F2A3B4C5D6E7F8091A2B3C4D5E6F0700" + "A" * 60,
        },
    )["ActivityNumber"]
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    full_reads = [
        r
        for r in tenant.graph.request_log[mark[0] :]
        if r["method"] == "GET" and r["path"].endswith("/tasks")
    ]
    assert full_reads == []
    assert len(_todo_by_key(tenant, BOB, legacy)) == 1
    row = tenant.activity(legacy)
    assert row is not None and row["OutlookEntryId"].startswith("todo:")
    _quiet(tenant)
