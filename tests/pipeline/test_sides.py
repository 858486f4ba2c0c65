"""The sides (runtime/side.py) and the kinds built on them: mypy checks each side against its protocol on the
annotated names below; the test checks which side each kind holds."""

from __future__ import annotations

from sync_core.kinds import all_kinds
from sync_core.kinds.appointment import AppointmentKind
from sync_core.kinds.contact import ContactKindBase
from sync_core.kinds.fno_activities import FnoActivities
from sync_core.kinds.fno_contact_persons import FnoContactPersons
from sync_core.kinds.graph_contacts import GraphContacts
from sync_core.kinds.graph_events import GraphEvents
from sync_core.kinds.task import TaskKind
from sync_core.kinds.todo_tasks import TodoTasks
from sync_core.runtime.side import FnoSide, GraphSide


def test_appointments_and_tasks_are_built_on_their_sides() -> None:
    appointment, task = AppointmentKind(), TaskKind()
    fno_sides: list[FnoSide] = [appointment.fno_side, task.fno_side]
    graph_sides: list[GraphSide] = [appointment.graph_side, task.graph_side]
    assert [type(side) for side in fno_sides] == [FnoActivities, FnoActivities]
    assert [type(side) for side in graph_sides] == [GraphEvents, TodoTasks]
    assert [side.category for side in (appointment.fno_side, task.fno_side)] == ["Appointment", "Task"]


def test_the_contact_kinds_pair_folder_contacts_with_contact_persons() -> None:
    for name in ("contact", "shared_contact"):
        kind = all_kinds()[name]
        assert isinstance(kind, ContactKindBase)
        fno: FnoSide = kind.fno_side
        graph: GraphSide = kind.graph_side
        assert isinstance(fno, FnoContactPersons) and isinstance(graph, GraphContacts)
        assert graph.kind == fno.kind == name
