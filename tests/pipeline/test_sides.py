"""The sides (runtime/side.py) and the kinds built on them: mypy checks each side against its protocol where
a kind's factory puts it in its `Kind` record (read_changes included); the tests check which side each kind holds, that the pipeline
finds every protocol member on it, and the facts of Graph events that their side keeps (an occurrence carries
its series' mark, no series member is stamped)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from sync_core.kinds import all_kinds
from sync_core.kinds.appointment import appointment_kind
from sync_core.kinds.contact import ContactMapping
from sync_core.kinds.fno_activities import FnoActivities
from sync_core.kinds.fno_contact_persons import FnoContactPersons
from sync_core.kinds.graph_contacts import GraphContacts
from sync_core.kinds.graph_events import GraphEvents
from sync_core.kinds.task import task_kind
from sync_core.kinds.todo_tasks import TodoTasks
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.kind import GraphItem, Kind
from sync_core.runtime.side import FnoSide, GraphSide


def test_appointments_and_tasks_are_built_on_their_sides() -> None:
    appointment, task = appointment_kind(), task_kind()
    assert isinstance(appointment.fno_side, FnoActivities) and isinstance(task.fno_side, FnoActivities)
    assert isinstance(appointment.graph_side, GraphEvents) and isinstance(task.graph_side, TodoTasks)
    assert [side.category for side in (appointment.fno_side, task.fno_side)] == ["Appointment", "Task"]
    # The Graph sides' feeds read the kind's links (series masters, moved tasks).
    assert appointment.graph_side.kind == "appointment" and task.graph_side.kind == "task"


def test_the_contact_kinds_pair_folder_contacts_with_contact_persons() -> None:
    for name in ("contact", "shared_contact"):
        kind = all_kinds()[name]
        assert isinstance(kind.mapping, ContactMapping)
        fno, graph = kind.fno_side, kind.graph_side
        assert isinstance(fno, FnoContactPersons) and isinstance(graph, GraphContacts)
        assert graph.kind == fno.kind == name
        # The list's folder is its Graph side's (change notifications subscribe to it).
        assert kind.existing_folder_id == graph.existing_folder_id


def _members(protocol: type) -> set[str]:
    return {name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")}


def test_every_side_has_every_member_of_its_protocol() -> None:
    assert {"read_changes", "get", "set_mark", "delete", "existing"} <= _members(FnoSide)
    assert {"read_changes", "get", "set_mark", "stamp", "delete"} <= _members(GraphSide)
    for name, kind in all_kinds().items():
        assert _members(FnoSide) <= set(dir(kind.fno_side)), name
        assert _members(GraphSide) <= set(dir(kind.graph_side)), name


def test_the_pipeline_reaches_the_sides_not_members_that_delegate_to_them() -> None:
    delegating = {
        "scan_exchange",
        "scan_fno",
        "load_graph",
        "set_graph_mark",
        "set_fno_mark",
        "delete_graph",
        "delete_fno",
        "existing_fno_keys",
    }
    for name, kind in all_kinds().items():
        assert isinstance(kind, Kind), name
        parts = [kind.mapping, kind.partners, kind.matching, kind.writes, kind.listings]
        assert not delegating & {member for part in parts for member in dir(part)}, name


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    async def update_event(
        self, mailbox: str, event_id: str, patch: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        self.writes.append(patch)
        return {}


def _event(event_type: str) -> GraphItem:
    return GraphItem(id="E1", item={"type": event_type, "categories": []}, version="1", stamp=None)


async def test_an_occurrence_carries_its_series_mark_and_no_series_member_is_stamped() -> None:
    graph = _Recorder()
    ctx = cast(SyncContext, SimpleNamespace(graph=graph, settings=SimpleNamespace(category="Sync")))
    mailbox = cast(Mailbox, SimpleNamespace(address="user@example.com"))
    side = GraphEvents("appointment")
    await side.set_mark(ctx, mailbox, _event("occurrence"), True)
    for member in ("occurrence", "exception", "seriesMaster"):
        await side.stamp(ctx, mailbox, _event(member), "USMF|A1")
    assert graph.writes == []  # a write would make an occurrence an exception
    await side.set_mark(ctx, mailbox, _event("occurrence"), False)
    await side.stamp(ctx, mailbox, _event("singleInstance"), "USMF|A1")
    assert [sorted(write) for write in graph.writes] == [["categories"], ["singleValueExtendedProperties"]]
