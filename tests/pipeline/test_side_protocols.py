"""Every side implements its protocol (runtime/side.py): checked by mypy through these annotations, and the
kinds hold the sides they say they do."""

from __future__ import annotations

from sync_core.kinds import all_kinds
from sync_core.kinds.contact import ContactKindBase
from sync_core.kinds.fno_activities import FnoActivities
from sync_core.kinds.fno_contact_persons import FnoContactPersons
from sync_core.kinds.graph_contacts import GraphContacts
from sync_core.kinds.graph_events import GraphEvents
from sync_core.runtime.side import FnoSide, GraphSide


def test_the_contact_kinds_pair_folder_contacts_with_contact_persons() -> None:
    for name in ("contact", "shared_contact"):
        kind = all_kinds()[name]
        assert isinstance(kind, ContactKindBase)
        fno: FnoSide = kind.fno_side
        graph: GraphSide = kind.graph_side
        assert isinstance(fno, FnoContactPersons) and isinstance(graph, GraphContacts)
        assert graph.kind == fno.kind == name


def test_activities_and_events_are_sides() -> None:
    fno: FnoSide = FnoActivities("Appointment")
    graph: GraphSide = GraphEvents()
    assert isinstance(fno, FnoActivities) and isinstance(graph, GraphEvents)
