"""A whole pair lifecycle through the real field maps: random edits on both sides, then sync.

Like vdirsyncer's state-machine test: F&O and Graph are raw JSON payloads, every sync reads them
through the field maps, lets the engine decide, writes back only the fields it asks for (through
`activity_fields` / `event_fields` and a Graph read-back stand-in) and checks that both sides
converge and that a second sync does nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sync_core.engine import ActionKind, Decision, Policy, SideView, appointment_deletion_rule, decide
from sync_core.model.appointment import (
    activity_fields,
    appointment_from_activity,
    appointment_from_event,
    event_fields,
    from_record,
    to_record,
)
from tests.model.strategies import graph_read_back

ZONE_NAME, ZONE = "Tonga Standard Time", ZoneInfo("Pacific/Tongatapu")
SYNC = "D365 Sync"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
START = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)


class PairMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = 0
        self.fno: dict[str, Any] | None = {
            "Purpose": "Kick-off",
            "StartDateTime": "2024-06-01T09:00:00Z",
            "EndDateTime": "2024-06-01T10:00:00Z",
            "AllDay": "No",
            "KeepSynchronized": "Yes",
            "LastDateTimeEdited": self._tick(),
        }
        self.graph: dict[str, Any] | None = None
        self.snapshot: dict[str, Any] | None = None
        self.policy = Policy.NEWEST

    def _tick(self) -> str:
        self.clock += 1
        return (NOW + timedelta(seconds=self.clock)).strftime("%Y-%m-%dT%H:%M:%SZ")

    # --- reading -------------------------------------------------------------------------
    def _fno_view(self) -> SideView:
        if self.fno is None:
            return SideView(present=False, marked=False)
        appointment = appointment_from_activity(
            self.fno, attendee_emails=self.fno.get("_attendees", ()), sync_category=SYNC, time_zone=ZONE
        )
        return SideView(
            present=True,
            marked=self.fno.get("KeepSynchronized") == "Yes",
            record=to_record(appointment),
            modified_at=datetime.fromisoformat(self.fno["LastDateTimeEdited"]),
        )

    def _graph_view(self) -> SideView:
        if self.graph is None:
            return SideView(present=False, marked=False)
        appointment = appointment_from_event(self.graph, sync_category=SYNC, time_zone=ZONE)
        return SideView(
            present=True,
            marked=SYNC in self.graph.get("categories", []),
            record=to_record(appointment),
            modified_at=datetime.fromisoformat(self.graph["lastModifiedDateTime"]),
        )

    def _decide(self) -> Decision:
        return decide(
            snapshot=self.snapshot,
            fno=self._fno_view(),
            graph=self._graph_view(),
            policy=self.policy,
            deletion_rule=appointment_deletion_rule,
            now=NOW,
        )

    # --- writing, as the pipeline does -----------------------------------------------------
    def _write_fno(self, fields: dict[str, Any], snapshot: dict[str, Any]) -> None:
        assert self.fno is not None
        self.fno.update(activity_fields(from_record(snapshot), fields))
        if "attendees" in fields:
            self.fno["_attendees"] = list(snapshot["attendees"])  # parent links
        self.fno["LastDateTimeEdited"] = self._tick()

    def _write_graph(self, fields: dict[str, Any], snapshot: dict[str, Any]) -> None:
        assert self.graph is not None
        body = event_fields(
            from_record(snapshot), time_zone=ZONE, time_zone_name=ZONE_NAME, sync_category=SYNC, fields=fields
        )
        if "categories" not in fields:
            body["categories"] = self.graph.get("categories", [])
        merged = {**self.graph, **json.loads(json.dumps(body))}
        self.graph = {
            **graph_read_back(merged, quirk=self.clock % 2 == 0),
            "lastModifiedDateTime": self._tick(),
        }

    @rule()
    def sync(self) -> None:
        decision = self._decide()
        action = decision.action
        if action is ActionKind.CREATE_IN_GRAPH:
            assert decision.snapshot is not None
            self.graph = {"categories": [SYNC], "start": {}, "end": {}}
            self._write_graph(dict(decision.write_graph), dict(decision.snapshot))
        elif action is ActionKind.CREATE_IN_FNO:
            assert decision.snapshot is not None
            self.fno = {"KeepSynchronized": "Yes"}
            self._write_fno(dict(decision.write_fno), dict(decision.snapshot))
        elif action in (ActionKind.UPDATE, ActionKind.LINK):
            assert decision.snapshot is not None
            if decision.write_fno:
                self._write_fno(dict(decision.write_fno), dict(decision.snapshot))
            if decision.write_graph:
                self._write_graph(dict(decision.write_graph), dict(decision.snapshot))
            if decision.mark_fno and self.fno is not None:
                self.fno["KeepSynchronized"] = "Yes"
            if decision.mark_graph and self.graph is not None:
                self.graph["categories"] = [*self.graph["categories"], SYNC]
        elif action is ActionKind.DELETE_IN_GRAPH:
            self.graph = None
        elif action is ActionKind.DELETE_IN_FNO:
            self.fno = None
        elif action is ActionKind.UNLINK:
            if decision.unmark_fno and self.fno is not None:
                self.fno["KeepSynchronized"] = "No"
            if decision.unmark_graph and self.graph is not None:
                self.graph["categories"] = [c for c in self.graph["categories"] if c != SYNC]
        if action is not ActionKind.NOTHING:
            self.snapshot = dict(decision.snapshot) if decision.snapshot is not None else None
        if self.snapshot is not None:
            # Converged: both sides read back as the snapshot.
            assert self._fno_view().record == self.snapshot
            assert self._graph_view().record == self.snapshot
        # Idempotent: the next sync finds nothing to do.
        assert self._decide().action is ActionKind.NOTHING

    # --- users -----------------------------------------------------------------------------
    @rule(subject=st.sampled_from(["A", "B", "  B  "]), minutes=st.sampled_from([0, 30, 90]))
    def edit_in_fno(self, subject: str, minutes: int) -> None:
        if self.fno is not None:
            self.fno["Purpose"] = subject
            self.fno["EndDateTime"] = (START + timedelta(minutes=60 + minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.fno["LastDateTimeEdited"] = self._tick()

    @rule(subject=st.sampled_from(["A", "C"]), all_day=st.booleans(), who=st.sampled_from([[], ["X@Y.com"]]))
    def edit_in_outlook(self, subject: str, all_day: bool, who: list[str]) -> None:
        if self.graph is not None:
            self.graph["subject"] = subject
            self.graph["attendees"] = [{"emailAddress": {"address": a}} for a in who]
            if all_day:
                self.graph["isAllDay"] = True
                self.graph["start"] = {"dateTime": "2024-06-01T00:00:00.0000000", "timeZone": ZONE_NAME}
                self.graph["end"] = {"dateTime": "2024-06-02T00:00:00.0000000", "timeZone": ZONE_NAME}
                self.graph = graph_read_back(self.graph, quirk=False) | {"lastModifiedDateTime": self._tick()}
            else:
                self.graph["lastModifiedDateTime"] = self._tick()

    @rule()
    def unmark_in_outlook(self) -> None:
        if self.graph is not None:
            self.graph["categories"] = [c for c in self.graph["categories"] if c != SYNC]

    @rule()
    def remark_in_fno(self) -> None:
        if self.fno is not None:
            self.fno["KeepSynchronized"] = "Yes"

    @rule(side=st.sampled_from(["fno", "graph"]))
    def delete(self, side: str) -> None:
        setattr(self, side, None)

    @rule(policy=st.sampled_from(list(Policy)))
    def change_policy(self, policy: Policy) -> None:
        self.policy = policy

    @invariant()
    def decide_is_total(self) -> None:
        assert isinstance(self._decide().action, ActionKind)


PairMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=25, deadline=None)
TestPair = PairMachine.TestCase
