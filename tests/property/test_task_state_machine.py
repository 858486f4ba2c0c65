"""The sync state machine for To Do tasks: F&O Activities of Category Task <-> To Do tasks of the mailbox.

The same machinery as the appointment machine (tests/property/pipeline_machine.py): random creates, edits
(both sides between two syncs: conflicts), marks, unmarks, deletions and moves between To Do lists, random
interleavings of sync cycles, duplicated and reordered queue messages and crashes at every write point.
After the system quiets down (a clean cycle that writes nothing on either side):
- every linked pair is marked on both sides and equal in the task kind's canonical record;
- every marked task in scope is linked, exactly once on each side (no two To Do tasks carry one F&O key,
  no two activities were made from one To Do task, no claims left behind);
- no edit is lost (one side: its last value; both sides: one of the two);
- the safety valve is never bypassed.

CI runs the default profile (derandomized, a few dozen examples); `HYPOTHESIS_PROFILE=long` many more.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from sync_core.kinds.task import task_kind
from sync_core.kinds.task_todo import stamp_of
from sync_core.model.task import is_closed, task_from_activity, task_from_todo, to_record
from sync_core.runtime.kind import Kind
from sync_core.runtime.report import CycleReport
from tests.property.pipeline_machine import (
    CATEGORY,
    COMPANY,
    MAILBOX,
    START,
    WORKER,
    Faults,
    PipelineMachine,
)

TITLES = ("Call back", "Send quote", "Order samples")
ZONE_NAME = "W. Europe Standard Time"  # the mailbox's zone (PipelineMachine's user)
ZONE = ZoneInfo("Europe/Berlin")
FNO_STATUS = {"notStarted": "NotStarted", "inProgress": "InProgress", "completed": "Completed"}
FNO_PRIORITY = {"low": "Low", "normal": "Normal", "high": "High"}
FIELDS = ["title", "due", "status", "importance"]


def _fno_instant(day: date, hour: int) -> str:
    """A local time of the mailbox zone as F&O keeps it (UTC), as F&O's form fills a task's dates."""
    return datetime.combine(day, time(hour), tzinfo=ZONE).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _todo_date(day: date) -> dict[str, str]:
    return {"dateTime": f"{day.isoformat()}T00:00:00.0000000", "timeZone": ZONE_NAME}


class TaskMachine(PipelineMachine):
    KIND = "task"

    def __init__(self) -> None:
        super().__init__()
        self.default_list = self.graph.todo.default_list_id(MAILBOX)
        self.other_list = self.graph.todo.add_list(MAILBOX, "Errands")  # tasks there are not imported

    def kinds(self) -> dict[str, Kind]:
        return {"task": task_kind()}

    # ---- the tenant as users see it -------------------------------------------------------------------
    def activities(self) -> list[dict[str, Any]]:
        return [a for a in self.fno.all("Activities") if a.get("Category") == "Task"]

    def todos(self) -> list[dict[str, Any]]:
        lists = (self.default_list, self.other_list)
        return [t for t in self.graph.todo.tasks(MAILBOX) if t["listId"] in lists]

    @staticmethod
    def graph_id(task: dict[str, Any]) -> str:
        return f"{task['listId']}|{task['id']}"

    def todo_marked(self, task: dict[str, Any]) -> bool:
        """Marked as the product reads it: the category, in the sync list unless it carries our stamp."""
        return CATEGORY in task["categories"] and (
            task["listId"] == self.default_list or stamp_of(task) is not None
        )

    def in_scope(self, record: dict[str, Any]) -> bool:
        """Open tasks always; completed ones dated inside the window's past part (kinds/task.py RULES.in_scope)."""
        day = record["due"] or record["start"]
        if record["status"] != "completed" or day is None:
            return True
        first = (self.now.astimezone(UTC) - timedelta(days=self.settings.window_days_back)).date()
        return date.fromisoformat(day) >= first

    def deletes(self) -> int:
        graph = sum(
            r["method"] == "DELETE" and "/todo/lists/" in r["path"] and "/tasks/" in r["path"]
            for r in self.graph.request_log
        )
        fno = sum(
            r["method"] == "DELETE" and r["path"].startswith("/data/Activities(")
            for r in self.fno.request_log
        )
        return int(graph + fno)

    def valve_snapshot(self) -> int:
        return self.deletes()

    def _checked_cycle(self, faults: Faults) -> CycleReport:
        # A completed task is history: sync never deletes it, on either side (engine/rules.py).
        completed = self._items(completed_only=True)
        report = super()._checked_cycle(faults)
        assert not completed - self._items(), f"sync deleted completed tasks: {completed - self._items()}"
        return report

    def _items(self, *, completed_only: bool = False) -> set[str]:
        fno = {f"fno:{a['ActivityNumber']}" for a in self.activities() if not completed_only or is_closed(a)}
        graph = {
            f"graph:{self.graph_id(t)}"
            for t in self.todos()
            if not completed_only or t.get("status") == "completed"
        }
        return fno | graph

    def valve_deleted(self, before: Any) -> int:
        return self.deletes() - int(before)

    @staticmethod
    def _key(row: dict[str, Any]) -> dict[str, str]:
        return {"dataAreaId": row["dataAreaId"], "ActivityNumber": row["ActivityNumber"]}

    # ---- a tenant with some synced data to start from --------------------------------------------------
    @initialize(
        fno_items=st.lists(st.tuples(st.sampled_from(TITLES), st.integers(-3, 12)), max_size=3),
        todo_items=st.lists(st.tuples(st.sampled_from(TITLES), st.integers(-3, 12)), max_size=3),
    )
    def existing_data(self, fno_items: list[tuple[str, int]], todo_items: list[tuple[str, int]]) -> None:
        for title, day in fno_items:
            self.create_in_fno(title, day, True)
        for title, day in todo_items:
            self.create_in_todo(title, day, True, False)
        self.quiesce()

    # ---- rules: users on both sides -------------------------------------------------------------------
    @rule(title=st.sampled_from(TITLES), day=st.integers(-3, 12), marked=st.booleans())
    def create_in_fno(self, title: str, day: int, marked: bool) -> None:
        self._tick()
        due = (START + timedelta(days=day)).date()
        self.fno.add(
            "Activities",
            {
                "dataAreaId": COMPANY,
                "Category": "Task",
                "Purpose": title,
                "StartDateTime": _fno_instant(due - timedelta(days=2), 8),
                "EndDateTime": _fno_instant(due, 17),
                "ResponsibleWorkerPersonnelNumber": WORKER,
                "KeepSynchronized": "Yes" if marked else "No",
                "ActivityStatus": "NotStarted",
                "Priority": "Normal",
            },
        )

    @rule(
        title=st.sampled_from(TITLES), day=st.integers(-3, 12), marked=st.booleans(), elsewhere=st.booleans()
    )
    def create_in_todo(self, title: str, day: int, marked: bool, elsewhere: bool) -> None:
        self._tick()
        due = (START + timedelta(days=day)).date()
        self.graph.todo.add_task(
            MAILBOX,
            {"title": title, "dueDateTime": _todo_date(due), "categories": [CATEGORY] if marked else []},
            list_ref=self.other_list if elsewhere else None,
        )

    @precondition(lambda self: bool(self.activities()))
    @rule(pick=st.integers(0, 1000), fld=st.sampled_from(FIELDS), choice=st.integers(0, 2))
    def edit_in_fno(self, pick: int, fld: str, choice: int) -> None:
        rows = self.activities()
        row = rows[pick % len(rows)]
        value = self._tick()
        if fld == "title":
            value = f"{row['Purpose']} {value}"
            patch: dict[str, Any] = {"Purpose": value}
        elif fld == "due":
            due = task_from_activity(row, sync_category=CATEGORY, time_zone=ZONE).due or START.date()
            value = (due + timedelta(days=1)).isoformat()
            patch = {"EndDateTime": _fno_instant(date.fromisoformat(value), 17)}
        elif fld == "status":
            value = list(FNO_STATUS)[choice]
            completed = value == "completed"
            patch = {"ActivityStatus": FNO_STATUS[value], "Closed": "Yes" if completed else "No"}
            patch["CompletedPercentage"] = 100 if completed else 0
        else:
            value = list(FNO_PRIORITY)[choice]
            patch = {"Priority": FNO_PRIORITY[value]}
        self.fno.update("Activities", self._key(row), patch)
        self._record(f"fno:{COMPANY}|{row['ActivityNumber']}", fld, "fno", value)

    @precondition(lambda self: bool(self.todos()))
    @rule(pick=st.integers(0, 1000), fld=st.sampled_from(FIELDS), choice=st.integers(0, 2))
    def edit_in_todo(self, pick: int, fld: str, choice: int) -> None:
        tasks = self.todos()
        task = tasks[pick % len(tasks)]
        value = self._tick()
        if fld == "title":
            value = f"{task['title']} {value}"
            patch: dict[str, Any] = {"title": value}
        elif fld == "due":
            due = task_from_todo(task, sync_category=CATEGORY, time_zone=ZONE).due or START.date()
            value = (due + timedelta(days=1)).isoformat()
            patch = {"dueDateTime": _todo_date(date.fromisoformat(value))}
        elif fld == "status":
            value = list(FNO_STATUS)[choice]
            patch = {"status": value}
        else:
            value = list(FNO_PRIORITY)[choice]
            patch = {"importance": value}
        self.graph.todo.update_task(MAILBOX, task["listId"], task["id"], patch)
        self._record(f"graph:{self.graph_id(task)}", fld, "graph", value)

    @precondition(lambda self: bool(self.activities()))
    @rule(pick=st.integers(0, 1000), marked=st.booleans())
    def mark_in_fno(self, pick: int, marked: bool) -> None:
        rows = self.activities()
        row = rows[pick % len(rows)]
        self._tick()
        self.fno.update("Activities", self._key(row), {"KeepSynchronized": "Yes" if marked else "No"})
        self._forget_pair(f"fno:{COMPANY}|{row['ActivityNumber']}")

    @precondition(lambda self: bool(self.todos()))
    @rule(pick=st.integers(0, 1000), marked=st.booleans())
    def mark_in_todo(self, pick: int, marked: bool) -> None:
        tasks = self.todos()
        task = tasks[pick % len(tasks)]
        self._tick()
        categories = [c for c in task["categories"] if c != CATEGORY] + ([CATEGORY] if marked else [])
        self.graph.todo.update_task(MAILBOX, task["listId"], task["id"], {"categories": categories})
        self._forget_pair(f"graph:{self.graph_id(task)}")

    @precondition(lambda self: bool(self.todos()))
    @rule(pick=st.integers(0, 1000))
    def move_in_todo(self, pick: int) -> None:
        """The user drags a task to the other list: it gets a new id there (To Do has no immutable ids)."""
        tasks = self.todos()
        task = tasks[pick % len(tasks)]
        self._tick()
        target = self.other_list if task["listId"] == self.default_list else self.default_list
        moved = self.graph.todo.move_task(MAILBOX, task["listId"], task["id"], target)
        edits = self.model.edits.pop(f"graph:{self.graph_id(task)}", None)
        if edits is not None:
            self.model.edits[f"graph:{target}|{moved['id']}"] = edits
        if stamp_of(task) is None:
            self._forget_pair(f"graph:{self.graph_id(task)}")  # unstamped: in or out of the sync list

    @precondition(lambda self: bool(self.activities()))
    @rule(pick=st.integers(0, 1000))
    def delete_in_fno(self, pick: int) -> None:
        rows = self.activities()
        row = rows[pick % len(rows)]
        self._tick()
        self._forget_pair(f"fno:{COMPANY}|{row['ActivityNumber']}")
        self.fno.delete("Activities", self._key(row))

    @precondition(lambda self: bool(self.todos()))
    @rule(pick=st.integers(0, 1000))
    def delete_in_todo(self, pick: int) -> None:
        tasks = self.todos()
        task = tasks[pick % len(tasks)]
        self._tick()
        self._forget_pair(f"graph:{self.graph_id(task)}")
        self.graph.todo.delete_task(MAILBOX, task["listId"], task["id"])

    @precondition(lambda self: len(self.activities()) >= 2)
    @rule()
    def fno_loses_everything(self) -> None:
        """A side that suddenly lists nothing (lost permissions, a wrong company): the valve's case."""
        self._tick()
        for row in self.activities():
            self._forget_pair(f"fno:{COMPANY}|{row['ActivityNumber']}")
            self.fno.delete("Activities", self._key(row))

    # ---- the invariants after a quiet cycle ---------------------------------------------------------------
    def check_converged(self) -> None:
        activities = {f"{COMPANY}|{a['ActivityNumber']}": a for a in self.activities()}
        todos = {self.graph_id(t): t for t in self.todos()}
        links = self.links()
        assert not [link for link in links if "pending:" in link.fno_key + link.graph_id], (
            "claims left behind"
        )
        assert len({link.fno_key for link in links}) == len(links), "an activity linked twice"
        assert len({link.graph_id for link in links}) == len(links), "a To Do task linked twice"
        for link in links:
            activity, task = activities.get(link.fno_key), todos.get(link.graph_id)
            if activity is None or task is None:
                assert self.held(), f"{link}: one side gone, yet the valve does not hold its deletion"
                continue
            fno = to_record(task_from_activity(activity, sync_category=CATEGORY, time_zone=ZONE))
            graph = to_record(task_from_todo(task, sync_category=CATEGORY, time_zone=ZONE))
            if not (self.in_scope(fno) or self.in_scope(graph)):
                continue
            assert activity["KeepSynchronized"] == "Yes" and self.todo_marked(task), (link, activity, task)
            assert fno == graph, (link.fno_key, fno, graph)
            final = {
                "title": str(graph["title"]),
                "due": str(graph["due"] or ""),
                "status": str(graph["status"]),
                "importance": str(graph["importance"]),
            }
            self._check_edits(link, final, frozenset({"title"}))
        linked_fno = {link.fno_key for link in links}
        linked_graph = {link.graph_id for link in links}
        for key, activity in activities.items():
            record = to_record(task_from_activity(activity, sync_category=CATEGORY, time_zone=ZONE))
            if activity["KeepSynchronized"] == "Yes" and self.in_scope(record):
                assert key in linked_fno, f"marked task activity {key} not linked"
        for graph_id, task in todos.items():
            record = to_record(task_from_todo(task, sync_category=CATEGORY, time_zone=ZONE))
            if self.todo_marked(task) and self.in_scope(record):
                assert graph_id in linked_graph, f"marked To Do task {task['title']!r} not linked"
        stamps = [stamp_of(t) for t in todos.values() if stamp_of(t)]
        assert len(stamps) == len(set(stamps)), "two To Do tasks carry the same F&O key"
        entries = [a["OutlookEntryId"] for a in activities.values() if a.get("OutlookEntryId")]
        assert len(entries) == len(set(entries)), "two activities were made from one To Do task"


class TaskMachineTest(TaskMachine):
    def teardown(self) -> None:
        try:
            self.quiesce()
        finally:
            super().teardown()


# CI: a few dozen derandomized runs (the whole tests/property stays within about two minutes); the long
# profile explores many more, and longer ones.
_PROFILE = settings.default
assert _PROFILE is not None
_LONG = _PROFILE.max_examples >= 1000
TaskMachineTest.TestCase.settings = settings(
    parent=_PROFILE,
    max_examples=500 if _LONG else 30,
    stateful_step_count=40 if _LONG else 20,
)
TestTaskStateMachine = TaskMachineTest.TestCase


def test_task_marked_again_outside_the_sync_list() -> None:
    """Was a product bug: a To Do task carrying the product's linkedResource, unlinked (unmarked in F&O, so
    sync removed its category) and marked again by the user in a list other than the sync list was never
    queued (the scan counted only the sync list's tasks as marked; graph_view counts the stamp). The scan
    now reads such a task for its stamp (TodoFeed._stamped_elsewhere, kinds/todo_feed.py)."""
    machine = TaskMachine()
    try:
        machine.existing_data([("Call back", 5)], [])
        machine.move_in_todo(0)
        machine.quiesce()
        machine.mark_in_fno(0, False)
        machine.quiesce()
        machine.mark_in_todo(0, True)
        machine.quiesce()
        [task] = machine.todos()
        assert CATEGORY in task["categories"]
        assert [link.graph_id for link in machine.links()] == [machine.graph_id(task)], "not linked again"
    finally:
        machine.teardown()


def test_edits_made_while_unmarked_survive_marking_again() -> None:
    """As for appointments (pipeline/unlinked_base.py): unmarked in F&O, edited on both sides, marked again
    on either side; the model's check after the sync quietens down says no edit was lost."""
    for remark_in_fno in (True, False):
        machine = TaskMachine()
        try:
            machine.existing_data([("Call back", 1)], [])
            machine.mark_in_fno(0, False)
            machine.sync_cycle(1, False, None, False)
            machine.edit_in_todo(0, "title", 0)
            machine.edit_in_fno(0, "importance", 2)
            if remark_in_fno:
                machine.mark_in_fno(0, True)
            else:
                machine.mark_in_todo(0, True)
            machine.quiesce()
        finally:
            machine.teardown()


def test_unlink_retried_after_a_crash_drops_the_link() -> None:
    """Was a product bug (found by the long run): unmarked in To Do, the pair job unmarked the activity and
    kept the pair's record for a later re-link (pipeline/unlinked_base.py), then crashed before dropping
    the link. Every retry then failed on the record already kept (an insert of an existing cursor), so the
    link stayed, with both sides unmarked, for good. The record is now replaced."""
    machine = TaskMachine()
    try:
        machine.existing_data([("Call back", 1)], [])
        machine.mark_in_todo(0, False)
        # Write 1: the activity's KeepSynchronized = No; write 2: the link's deletion (the worker dies).
        machine.sync_cycle(0, False, 2, False)
        machine.quiesce()
        assert machine.links() == [], "the unlinked pair is still linked"
    finally:
        machine.teardown()


def test_task_created_in_todo_and_deleted_before_the_next_round() -> None:
    """Was a product bug (found by the long run): sync creates a To Do task from F&O (after the cycle's
    delta round), the user deletes it before the list's next round. Delta lists what changed since the
    round that issued its token, so a task created and deleted in between is neither listed nor reported
    removed: the link stayed and the activity lived on until the periodic reconciliation
    (SYNC_RECONCILE_HOURS). The scan cursor now names the tasks created since the last round, and the
    next scan looks for each one its round did not list (TodoFeed._follow_moves, kinds/todo_feed.py)."""
    machine = TaskMachine()
    try:
        machine.existing_data([("Call back", 1)], [])
        machine.create_in_fno("Send quote", 3, True)
        machine.sync_cycle(0, False, None, False)  # creates the To Do task after the round
        [created] = [t for t in machine.todos() if t["title"] == "Send quote"]
        machine.graph.todo.delete_task(MAILBOX, created["listId"], created["id"])
        machine.quiesce()
        assert [a["Purpose"] for a in machine.activities()] == ["Call back"], "the partner was not deleted"
    finally:
        machine.teardown()


def test_task_created_in_todo_whose_create_died_and_deleted_before_the_next_round() -> None:
    """Was a product bug (found by the long run, shrunk): the worker dies right after To Do made the task
    (write 1: the claim, write 2: the POST, which lands), before the task was noted for the next scan. The
    retry finds the task by its stamp and links it, but the note was never made: deleted by the user before
    its list's next delta round, the task was never reported removed and the activity lived on. Finishing
    an earlier create now does what the create had left undone (TaskPartners.find_graph_partner)."""
    machine = TaskMachine()
    try:
        machine.existing_data([], [])
        machine.create_in_fno("Call back", 0, True)
        machine.sync_cycle(0, False, 2, True)
        machine.delete_in_todo(0)
        machine.quiesce()
        assert machine.activities() == [], "the partner was not deleted"
    finally:
        machine.teardown()


def test_task_whose_create_died_is_found_again_after_an_unlink() -> None:
    """The same crash as above: the activity's OutlookEntryId (written after the POST) is written when the
    retry links the task, so after an unmark in F&O and marking it again the task is linked again, not made
    a second time (without it the pair job thought the activity was never sent to To Do)."""
    machine = TaskMachine()
    try:
        machine.existing_data([], [])
        machine.create_in_fno("Call back", 0, True)
        machine.sync_cycle(0, False, 2, True)
        machine.quiesce()
        machine.mark_in_fno(0, False)
        machine.quiesce()
        machine.mark_in_fno(0, True)
        machine.quiesce()
        assert len(machine.todos()) == 1, "a second To Do task was made"
    finally:
        machine.teardown()


def test_fno_edit_made_while_unlinked_survives_marking_again_in_another_list() -> None:
    """Was a product bug (found by the long run, shrunk): a linked task moved to another To Do list and
    unmarked there before a cycle; the pair job found it by its stamp under its new id and unlinked, but kept
    the unlink record under the link's old id. The due date edited in F&O while unlinked was then lost when
    the task was marked again (no record for the new id: no base, To Do's value won). The record is now
    kept under the partner as read (pipeline/pair.py)."""
    machine = TaskMachine()
    try:
        machine.existing_data([("Call back", 6)], [])
        machine.move_in_todo(0)
        machine.mark_in_todo(0, False)
        machine.edit_in_fno(963, "due", 0)
        machine.sync_cycle(11588, False, None, False)
        machine.edit_in_fno(779, "status", 0)
        machine.time_passes(5)
        machine.mark_in_todo(0, True)
        machine.quiesce()
    finally:
        machine.teardown()


def test_fno_edit_made_while_unlinked_survives_marking_again_and_moving() -> None:
    """Found by the long run (shrunk): unlinked as in the story above (the record kept under the task's id
    then), the title is edited in F&O; the user marks the task again in To Do and moves it to another list
    before a cycle (a new id). The re-link found no base when the record was matched by graph id, and To
    Do's old title won: the F&O edit was lost. Tasks match it by the stamp
    (KindRules.unlink_record_follows_stamp)."""
    machine = TaskMachine()
    try:
        machine.existing_data([("Call back", 6)], [])
        machine.move_in_todo(0)
        machine.mark_in_todo(0, False)
        machine.sync_cycle(11588, False, None, False)
        machine.edit_in_fno(779, "title", 0)
        machine.mark_in_todo(364, True)
        machine.move_in_todo(1000)
        machine.quiesce()
    finally:
        machine.teardown()
