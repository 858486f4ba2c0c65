"""Sample tasks for the sandbox and the end-to-end tests: F&O task activities and To Do tasks of the
sample mailboxes (alice in W. Europe, bob in Hawaii UTC-10, carol in Tonga UTC+13).

Call after `sample_data.seed`, which creates the users and workers. Due dates are laid out around
`now`, in each owner's own zone, as a person would type them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simulators.fno.state import FnoState
from simulators.graph.state import GraphState
from simulators.sample_data import CATEGORY, COMPANY

# Sample mailbox -> (personnel number, Windows zone as in mailboxSettings, IANA zone)
OWNERS = {
    "alice@contoso.com": ("000101", "W. Europe Standard Time", "Europe/Berlin"),
    "bob@contoso.com": ("000102", "Hawaiian Standard Time", "Pacific/Honolulu"),
    "carol@contoso.com": ("000103", "Tonga Standard Time", "Pacific/Tongatapu"),
}
FNO_TASKS = 5  # task activities seeded in F&O, 4 of them marked
TODO_TASKS = 3  # To Do tasks seeded, 2 of them marked


def _local(mailbox: str, day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(OWNERS[mailbox][2]))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _todo_date(mailbox: str, day: date) -> dict[str, str]:
    return {"dateTime": f"{day.isoformat()}T00:00:00.0000000", "timeZone": OWNERS[mailbox][1]}


def seed_tasks(graph: GraphState, fno: FnoState, now: datetime) -> dict[str, Any]:
    """Fill both stand-ins with tasks; returns handles (activity numbers, To Do task ids) for the tests."""
    handles: dict[str, Any] = {}

    def activity(mailbox: str, handle: str, purpose: str, due: date, **extra: Any) -> None:
        owner = OWNERS[mailbox][0]
        record = {
            "dataAreaId": COMPANY,
            "Category": "Task",
            "Purpose": purpose,
            "OutlookText": f"{purpose}.\nSee the customer file.",
            # As F&O's form fills them: start of the working day, due at its end, in the owner's zone.
            "StartDateTime": _iso(_local(mailbox, due - timedelta(days=2), 8)),
            "EndDateTime": _iso(_local(mailbox, due, 17)),
            "ResponsibleWorkerPersonnelNumber": owner,
            "KeepSynchronized": "Yes",
            "ActivityStatus": "NotStarted",
            "Priority": "Normal",
        }
        record.update(extra)
        handles[handle] = str(fno.add("Activities", record)["ActivityNumber"])

    def today(mailbox: str) -> date:
        return now.astimezone(ZoneInfo(OWNERS[mailbox][2])).date()

    alice, bob, carol = OWNERS
    activity(
        alice,
        "task_quote",
        "Send quote to Fabrikam",
        today(alice) + timedelta(days=3),
        Priority="High",
        ActivityStatus="InProgress",
        Reminder="Yes",
        ReminderDate=_iso(_local(alice, today(alice) + timedelta(days=3), 9)),
        OutlookCategories="Customer",
    )
    activity(bob, "task_callback", "Call back Litware", today(bob) + timedelta(days=1))
    activity(
        carol,
        "task_demo",
        "Prepare Tailspin demo",
        today(carol) + timedelta(days=5),
        ActivityStatus="Waiting",
    )
    activity(
        alice,
        "task_rooms",
        "Book meeting rooms",
        today(alice) - timedelta(days=2),
        ActivityStatus="Completed",
        Closed="Yes",
        CompletedPercentage=100,
    )
    activity(
        bob,
        "task_internal",
        "Internal follow-up (not synced)",
        today(bob) + timedelta(days=4),
        KeepSynchronized="No",
    )

    handles["todo_renewal"] = graph.todo.add_task(
        alice,
        {
            "title": "Check contract renewal",
            "body": {"contentType": "text", "content": "Terms end next quarter."},
            "importance": "high",
            "dueDateTime": _todo_date(alice, today(alice) + timedelta(days=4)),
            "categories": [CATEGORY],
        },
    )["id"]
    handles["todo_samples"] = graph.todo.add_task(
        carol,
        {
            "title": "Order samples",
            "status": "inProgress",
            "dueDateTime": _todo_date(carol, today(carol) + timedelta(days=1)),
            "isReminderOn": True,
            "reminderDateTime": {
                "dateTime": _local(carol, today(carol) + timedelta(days=1), 8, 30)
                .replace(tzinfo=None)
                .isoformat(),
                "timeZone": OWNERS[carol][1],
            },
            "categories": [CATEGORY],
        },
    )["id"]
    handles["todo_errand"] = graph.todo.add_task(bob, {"title": "Personal errand (not marked)"})["id"]
    return handles
