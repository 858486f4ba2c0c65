"""The canonical task and its two field maps: exact round trips of dates, statuses and reminders in
far-apart zones and across DST changes, read back the way To Do answers (through the stand-in's own
storage rules), plus hostile input."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.graph.todo import StoredTask, apply_fields, render_task
from sync_core.model.task import (
    EMPTY_DATE,
    STATUSES,
    Task,
    content_hash,
    from_record,
    is_closed,
    task_activity_fields,
    task_from_activity,
    task_from_todo,
    to_record,
    todo_date,
    todo_fields,
)

CATEGORY = "D365 Sync"
# (mailbox zone name as mailboxSettings gives it, the zone)
ZONES = [
    ("UTC", ZoneInfo("UTC")),
    ("W. Europe Standard Time", ZoneInfo("Europe/Berlin")),  # DST on 29 March 2026 and 25 October 2026
    ("Tonga Standard Time", ZoneInfo("Pacific/Tongatapu")),  # UTC+13
    ("Hawaiian Standard Time", ZoneInfo("Pacific/Honolulu")),  # UTC-10
    ("Line Islands Standard Time", ZoneInfo("Pacific/Kiritimati")),  # UTC+14
    ("Chatham Islands Standard Time", ZoneInfo("Pacific/Chatham")),  # +12:45 / +13:45
    ("America/Havana", ZoneInfo("America/Havana")),  # DST starts at midnight: 00:00 does not exist
    ("America/Santiago", ZoneInfo("America/Santiago")),  # DST ends at midnight: 00:00 happens twice
]
DST_DAYS = [date(2026, 3, 29), date(2026, 3, 30), date(2026, 10, 25), date(2026, 3, 8), date(2026, 4, 5)]


def _todo_read_back(written: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Create the task in the stand-in's To Do storage and render it as Graph answers."""
    task = StoredTask(
        key=b"k" * 16,
        fields={
            "title": "",
            "importance": "normal",
            "status": "notStarted",
            "isReminderOn": False,
            "categories": [],
        },
        created=now,
        modified=now,
        body_modified=now,
    )
    apply_fields(task, written, now, creating=True)
    return render_task(task)


def _fno_read_back(written: dict[str, Any]) -> dict[str, Any]:
    row = {"StartDateTime": EMPTY_DATE, "EndDateTime": EMPTY_DATE, "ReminderDate": EMPTY_DATE, "Closed": "No"}
    row.update(written)
    return row


@pytest.mark.parametrize(("zone_name", "zone"), ZONES, ids=[z[0] for z in ZONES])
@pytest.mark.parametrize("day", DST_DAYS, ids=str)
def test_due_date_round_trips_without_shifting_the_day(zone_name: str, zone: ZoneInfo, day: date) -> None:
    task = Task(title="Call", start=day - timedelta(days=1), due=day)
    now = datetime(2026, 3, 20, tzinfo=UTC)
    written = todo_fields(task, time_zone=zone, time_zone_name=zone_name, sync_category=CATEGORY)
    assert written["dueDateTime"] == {
        "dateTime": f"{day.isoformat()}T00:00:00.0000000",
        "timeZone": zone_name,
    }
    answer = _todo_read_back(written, now)
    assert answer["dueDateTime"]["timeZone"] == "UTC"
    assert task_from_todo(answer, sync_category=CATEGORY, time_zone=zone) == task
    # F&O gets the UTC instant of that local midnight and reads back the same date.
    fields = task_activity_fields(task, time_zone=zone)
    assert task_from_activity(_fno_read_back(fields), sync_category=CATEGORY, time_zone=zone) == task


def test_due_date_reads_graph_answers_as_observed() -> None:
    hawaii, kiritimati = ZoneInfo("Pacific/Honolulu"), ZoneInfo("Pacific/Kiritimati")
    # Written as 24 October in UTC-10 and in UTC+14, Graph answers 10:00 UTC on the 24th and on the 23rd.
    assert todo_date({"dateTime": "2024-10-24T10:00:00.0000000", "timeZone": "UTC"}, hawaii) == date(
        2024, 10, 24
    )
    assert todo_date({"dateTime": "2024-10-23T10:00:00.0000000", "timeZone": "UTC"}, kiritimati) == date(
        2024, 10, 24
    )
    # Midnight in the zone the value names means that date, whatever the mailbox zone.
    assert todo_date({"dateTime": "2024-10-24T00:00:00.0000000", "timeZone": "UTC"}, kiritimati) == date(
        2024, 10, 24
    )
    assert todo_date(
        {"dateTime": "2020-08-25T04:00:00.0000000", "timeZone": "UTC"}, ZoneInfo("America/New_York")
    ) == date(2020, 8, 25)
    # A task typed by the user a few hours off the mailbox's zone still lands on the intended day.
    assert todo_date({"dateTime": "2026-03-28T22:00:00.0000000", "timeZone": "UTC"}, ZoneInfo("UTC")) == date(
        2026, 3, 29
    )
    garbage: Any
    for garbage in (None, "2024-01-01", {"dateTime": "soon"}, {"dateTime": None}, {"timeZone": "UTC"}, []):
        assert todo_date(garbage, hawaii) is None


@pytest.mark.parametrize("status", STATUSES)
def test_every_status_round_trips_both_ways(status: str) -> None:
    zone = ZoneInfo("Pacific/Tongatapu")
    task = Task(title="Status", status=status)  # type: ignore[arg-type]
    written = todo_fields(task, time_zone=zone, time_zone_name="Tonga Standard Time", sync_category=CATEGORY)
    answer = _todo_read_back(written, datetime(2026, 3, 20, 23, tzinfo=UTC))
    assert task_from_todo(answer, sync_category=CATEGORY, time_zone=zone).status == status
    assert ("completedDateTime" in answer) == (status == "completed")
    fields = task_activity_fields(task, time_zone=zone)
    member = {"waitingOnOthers": "Waiting"}.get(status, status[0].upper() + status[1:])
    assert fields["ActivityStatus"] == member
    assert fields["Closed"] == ("Yes" if status == "completed" else "No")
    assert ("CompletedPercentage" in fields) == (status == "completed")
    assert task_from_activity(_fno_read_back(fields), sync_category=CATEGORY, time_zone=zone).status == status


def test_closed_activity_is_completed_and_reopening_resets_a_full_percentage() -> None:
    zone = ZoneInfo("UTC")
    closed = {"ActivityStatus": "InProgress", "Closed": "Yes", "CompletedPercentage": 100}
    assert task_from_activity(closed, sync_category=CATEGORY, time_zone=zone).status == "completed"
    assert (
        is_closed(closed)
        and is_closed({"ActivityStatus": "Completed"})
        and not is_closed({"ActivityStatus": 1})
    )
    reopened = Task(status="inProgress")
    assert task_activity_fields(reopened, time_zone=zone, fields=["status"], current=closed) == {
        "ActivityStatus": "InProgress",
        "Closed": "No",
        "CompletedPercentage": 0,
    }
    # A percentage the user set stays.
    half = {"CompletedPercentage": "50.0"}
    assert "CompletedPercentage" not in task_activity_fields(
        reopened, time_zone=zone, fields=["status"], current=half
    )


def test_reminder_is_an_exact_instant_and_off_means_none() -> None:
    zone = ZoneInfo("Pacific/Honolulu")
    at = datetime(2026, 3, 29, 18, 45, 59, tzinfo=UTC)
    task = Task(reminder_on=True, reminder_at=at)
    assert task.reminder_at == datetime(2026, 3, 29, 18, 45, tzinfo=UTC)
    answer = _todo_read_back(
        todo_fields(task, time_zone=zone, time_zone_name="Hawaiian Standard Time", sync_category=CATEGORY),
        datetime(2026, 3, 20, tzinfo=UTC),
    )
    assert answer["reminderDateTime"] == {"dateTime": "2026-03-29T18:45:00.0000000", "timeZone": "UTC"}
    assert task_from_todo(answer, sync_category=CATEGORY, time_zone=zone) == task
    fields = task_activity_fields(task, time_zone=zone)
    assert (fields["Reminder"], fields["ReminderDate"]) == ("Yes", "2026-03-29T18:45:00Z")
    # Switched off: the stale time either side keeps does not count.
    off_fno = task_from_activity(
        {"Reminder": "No", "ReminderDate": "2026-01-01T10:00:00Z"}, sync_category=CATEGORY, time_zone=zone
    )
    off_todo = task_from_todo(
        {"isReminderOn": False, "reminderDateTime": {"dateTime": "2026-02-01T10:00:00", "timeZone": "UTC"}},
        sync_category=CATEGORY,
        time_zone=zone,
    )
    assert off_fno == off_todo == Task()
    # On without a usable time cannot be shown anywhere: read as off.
    assert (
        task_from_activity(
            {"Reminder": "Yes", "ReminderDate": EMPTY_DATE}, sync_category=CATEGORY, time_zone=zone
        )
        == Task()
    )


def test_fields_map_both_ways() -> None:
    zone = ZoneInfo("Europe/Berlin")
    row = {
        "Purpose": "  Send   quote ",
        "OutlookText": "Line 1\r\nLine 2  ",
        "StartDateTime": "2026-03-27T07:00:00Z",
        "EndDateTime": "2026-03-29T22:30:00Z",  # 00:30 on the 30th in Berlin (summer time)
        "ActivityStatus": "Waiting",
        "Priority": "High",
        "OutlookCategories": "Customer;D365 Sync; customer ;Urgent",
    }
    task = task_from_activity(row, sync_category=CATEGORY, time_zone=zone)
    assert task == Task(
        title="Send quote",
        body="Line 1\nLine 2",
        start=date(2026, 3, 27),
        due=date(2026, 3, 30),
        status="waitingOnOthers",
        importance="high",
        categories=("Customer", "Urgent"),
    )
    todo = todo_fields(task, time_zone=zone, time_zone_name="W. Europe Standard Time", sync_category=CATEGORY)
    assert todo["categories"] == ["Customer", "Urgent", CATEGORY]
    assert todo["body"] == {"contentType": "text", "content": "Line 1\nLine 2"}
    assert (todo["importance"], todo["status"], todo["title"]) == ("high", "waitingOnOthers", "Send quote")
    html = {"body": {"contentType": "html", "content": "<p>Line 1</p><p>Line 2</p>"}, "title": "x"}
    assert task_from_todo(html, sync_category=CATEGORY, time_zone=zone).body == "Line 1\n\nLine 2"
    # Clearing a date sends an explicit null to To Do and F&O's empty date.
    cleared = Task(title="x")
    assert todo_fields(
        cleared, time_zone=zone, time_zone_name="UTC", sync_category=CATEGORY, fields=["due"]
    ) == {"dueDateTime": None}
    assert task_activity_fields(cleared, time_zone=zone, fields=["due"]) == {"EndDateTime": EMPTY_DATE}


def test_hostile_values_take_defaults() -> None:
    zone = ZoneInfo("UTC")
    row: dict[str, Any] = {
        "Purpose": 42,
        "OutlookText": "x" * 200_000,
        "StartDateTime": "garbage",
        "EndDateTime": "0001-01-01T00:00:00Z",
        "ActivityStatus": "Exploded",
        "Priority": {"x": 1},
        "Reminder": "maybe",
        "OutlookCategories": None,
        "Closed": 7,
    }
    task = task_from_activity(row, sync_category=CATEGORY, time_zone=zone)
    assert (task.title, task.start, task.due, task.status, task.importance) == (
        "",
        None,
        None,
        "notStarted",
        "normal",
    )
    assert len(task.body) <= 64_000
    item: dict[str, Any] = {
        "title": None,
        "status": "done",
        "importance": 3,
        "dueDateTime": {"dateTime": "2026-13-45T00:00:00", "timeZone": "Mars/Olympus"},
        "categories": "not a list",
        "body": [],
    }
    assert task_from_todo(item, sync_category=CATEGORY, time_zone=zone) == Task()
    # An unknown zone name is read as UTC rather than failing the item.
    odd = {"dueDateTime": {"dateTime": "2026-03-29T00:00:00.0000000", "timeZone": "Customized Time Zone"}}
    assert task_from_todo(odd, sync_category=CATEGORY, time_zone=zone).due == date(2026, 3, 29)
    with pytest.raises(ValueError, match="unknown task fields"):
        todo_fields(Task(), time_zone=zone, time_zone_name="UTC", sync_category=CATEGORY, fields=["subject"])


def test_record_form_and_hash() -> None:
    task = Task(
        title="T",
        due=date(2026, 3, 29),
        reminder_on=True,
        reminder_at=datetime(2026, 3, 29, 8, tzinfo=UTC),
        categories=("b", "A"),
    )
    record = to_record(task)
    assert record["due"] == "2026-03-29" and record["reminder_at"] == "2026-03-29T08:00:00Z"
    assert record["categories"] == ["A", "b"]
    assert from_record(record) == task
    assert from_record({**record, "from_a_newer_version": 1}) == task
    assert content_hash(record) == content_hash(to_record(from_record(record)))
    assert content_hash(record) != content_hash({**record, "status": "completed"})


zones = st.sampled_from(ZONES)
dates = st.one_of(st.none(), st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)))
tasks = st.builds(
    Task,
    title=st.text(max_size=30),
    body=st.text(max_size=100),
    start=dates,
    due=dates,
    status=st.sampled_from(STATUSES),
    importance=st.sampled_from(["low", "normal", "high"]),
    reminder_on=st.booleans(),
    reminder_at=st.one_of(
        st.none(),
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2080, 1, 1), timezones=st.just(UTC)),
    ),
    categories=st.lists(st.text(min_size=1, max_size=10), max_size=3).map(tuple),
)


@given(task=tasks, zone=zones)
def test_any_task_survives_both_round_trips(task: Task, zone: tuple[str, ZoneInfo]) -> None:
    zone_name, tz = zone
    written = todo_fields(task, time_zone=tz, time_zone_name=zone_name, sync_category=CATEGORY)
    answer = _todo_read_back(written, datetime(2026, 3, 20, tzinfo=UTC))
    assert task_from_todo(answer, sync_category=CATEGORY, time_zone=tz) == task
    fields = task_activity_fields(task, time_zone=tz)
    assert task_from_activity(_fno_read_back(fields), sync_category=CATEGORY, time_zone=tz) == task
    assert from_record(to_record(task)) == task
