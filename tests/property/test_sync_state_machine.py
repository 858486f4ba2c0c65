"""A Hypothesis state machine over the real pipeline (in the spirit of vdirsyncer's): random creates, edits,
deletes and mark/unmark on both sides, random interleavings of sync cycles, duplicated and reordered queue
messages and crashes at every write point (Graph, F&O and state store, before or after the write lands).

Everything runs in process: both stand-ins behind httpx's ASGI transport, the SQLite store in a temp folder.
After the system quiets down:
- both sides are equal for every linked pair, and both are marked;
- every marked item in the window is linked, and nothing is duplicated (stamps, entry ids, links);
- no edit is lost: a field edited on one side only ends with that side's last value; edited on both sides,
  with one of the two (the policy's choice);
- the safety valve is never bypassed: no cycle deletes more than the valve allows without an approval.

CI runs the default profile (tests/conftest.py, derandomized); `HYPOTHESIS_PROFILE=long` explores new
random examples, many more of them (see docs/development.md, "Run the tests").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from sync_core.kinds.appointment import AppointmentKind
from sync_core.runtime.keys import stamp_of
from sync_core.runtime.kind import KindAdapter
from tests.property.pipeline_machine import (
    CATEGORY,
    COMPANY,
    MAILBOX,
    START,
    WORKER,
    PipelineMachine,
)

SUBJECTS = ("Call", "Visit", "Review")  # few: the strict first-run key collides now and then


def _graph_time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _fno_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class SyncMachine(PipelineMachine):
    KIND = "appointment"

    def kinds(self) -> dict[str, KindAdapter]:
        return {"appointment": AppointmentKind()}

    def deletes(self) -> int:
        graph = sum(r["method"] == "DELETE" and "/events/" in r["path"] for r in self.graph.request_log)
        fno = sum(
            r["method"] == "DELETE" and r["path"].startswith("/data/Activities(")
            for r in self.fno.request_log
        )
        return int(graph + fno)

    def valve_snapshot(self) -> int:
        return self.deletes()

    def valve_deleted(self, before: Any) -> int:
        return self.deletes() - int(before)

    # ---- the tenant as users see it -------------------------------------------------------------------
    def activities(self) -> list[dict[str, Any]]:
        return [a for a in self.fno.all("Activities") if a.get("Category") == "Appointment"]

    def events(self) -> list[dict[str, Any]]:
        return self.graph.events(MAILBOX)

    # ---- a tenant with some synced data to start from --------------------------------------------------
    @initialize(
        fno_items=st.lists(st.tuples(st.sampled_from(SUBJECTS), st.integers(-3, 12)), max_size=4),
        outlook_items=st.lists(st.tuples(st.sampled_from(SUBJECTS), st.integers(-3, 12)), max_size=4),
    )
    def existing_data(self, fno_items: list[tuple[str, int]], outlook_items: list[tuple[str, int]]) -> None:
        for subject, day in fno_items:
            self.create_in_fno(subject, day, 9, True)
        for subject, day in outlook_items:
            self.create_in_outlook(subject, day, 9, True)  # same hour: first-run matching gets its chances
        self.quiesce()

    # ---- rules: users on both sides -------------------------------------------------------------------
    @rule(
        subject=st.sampled_from(SUBJECTS),
        day=st.integers(-3, 12),
        hour=st.integers(6, 18),
        marked=st.booleans(),
    )
    def create_in_fno(self, subject: str, day: int, hour: int, marked: bool) -> None:
        self._tick()
        start = (START + timedelta(days=day)).replace(hour=hour, minute=0)
        self.fno.add(
            "Activities",
            {
                "dataAreaId": COMPANY,
                "Category": "Appointment",
                "Purpose": subject,
                "StartDateTime": _fno_time(start),
                "EndDateTime": _fno_time(start + timedelta(hours=1)),
                "ResponsibleWorkerPersonnelNumber": WORKER,
                "KeepSynchronized": "Yes" if marked else "No",
                "AllDay": "No",
            },
        )

    @rule(
        subject=st.sampled_from(SUBJECTS),
        day=st.integers(-3, 12),
        hour=st.integers(6, 18),
        marked=st.booleans(),
    )
    def create_in_outlook(self, subject: str, day: int, hour: int, marked: bool) -> None:
        self._tick()
        start = (START + timedelta(days=day)).replace(hour=hour, minute=0)
        self.graph.add_event(
            MAILBOX,
            {
                "subject": subject,
                "start": _graph_time(start),
                "end": _graph_time(start + timedelta(hours=1)),
                "categories": [CATEGORY] if marked else [],
            },
        )

    @precondition(lambda self: bool(self.activities()))
    @rule(pick=st.integers(0, 1000), fld=st.sampled_from(["subject", "location", "start"]))
    def edit_in_fno(self, pick: int, fld: str) -> None:
        rows = self.activities()
        row = rows[pick % len(rows)]
        value = self._tick()
        key = {"dataAreaId": row["dataAreaId"], "ActivityNumber": row["ActivityNumber"]}
        if fld == "subject":
            self.fno.update("Activities", key, {"Purpose": f"{row['Purpose']} {value}"})
            value = f"{row['Purpose']} {value}"
        elif fld == "location":
            self.fno.update("Activities", key, {"Location": value})
        else:
            start = datetime.fromisoformat(row["StartDateTime"].replace("Z", "+00:00")) + timedelta(
                minutes=15
            )
            self.fno.update(
                "Activities",
                key,
                {"StartDateTime": _fno_time(start), "EndDateTime": _fno_time(start + timedelta(hours=1))},
            )
            value = _fno_time(start)
        self._record(f"fno:{COMPANY}|{row['ActivityNumber']}", fld, "fno", value)

    @precondition(lambda self: bool(self.events()))
    @rule(pick=st.integers(0, 1000), fld=st.sampled_from(["subject", "location", "start"]))
    def edit_in_outlook(self, pick: int, fld: str) -> None:
        rows = self.events()
        event = rows[pick % len(rows)]
        value = self._tick()
        if fld == "subject":
            value = f"{event['subject']} {value}"
            self.graph.update_event(MAILBOX, event["id"], {"subject": value})
        elif fld == "location":
            self.graph.update_event(MAILBOX, event["id"], {"location": {"displayName": value}})
        else:
            start = datetime.fromisoformat(event["start"]["dateTime"][:19]).replace(tzinfo=UTC) + timedelta(
                minutes=15
            )
            self.graph.update_event(
                MAILBOX,
                event["id"],
                {"start": _graph_time(start), "end": _graph_time(start + timedelta(hours=1))},
            )
            value = _fno_time(start)
        self._record(f"graph:{event['id']}", fld, "graph", value)

    @precondition(lambda self: bool(self.activities()))
    @rule(pick=st.integers(0, 1000), marked=st.booleans())
    def mark_in_fno(self, pick: int, marked: bool) -> None:
        rows = self.activities()
        row = rows[pick % len(rows)]
        self._tick()
        self.fno.update(
            "Activities",
            {"dataAreaId": row["dataAreaId"], "ActivityNumber": row["ActivityNumber"]},
            {"KeepSynchronized": "Yes" if marked else "No"},
        )
        self._forget_pair(f"fno:{COMPANY}|{row['ActivityNumber']}")

    @precondition(lambda self: bool(self.events()))
    @rule(pick=st.integers(0, 1000), marked=st.booleans())
    def mark_in_outlook(self, pick: int, marked: bool) -> None:
        rows = self.events()
        event = rows[pick % len(rows)]
        self._tick()
        categories = [c for c in event["categories"] if c != CATEGORY] + ([CATEGORY] if marked else [])
        self.graph.update_event(MAILBOX, event["id"], {"categories": categories})
        self._forget_pair(f"graph:{event['id']}")

    @precondition(lambda self: bool(self.activities()))
    @rule(pick=st.integers(0, 1000))
    def delete_in_fno(self, pick: int) -> None:
        rows = self.activities()
        row = rows[pick % len(rows)]
        self._tick()
        self._forget_pair(f"fno:{COMPANY}|{row['ActivityNumber']}")
        self.fno.delete(
            "Activities", {"dataAreaId": row["dataAreaId"], "ActivityNumber": row["ActivityNumber"]}
        )

    @precondition(lambda self: bool(self.events()))
    @rule(pick=st.integers(0, 1000))
    def delete_in_outlook(self, pick: int) -> None:
        rows = self.events()
        event = rows[pick % len(rows)]
        self._tick()
        self._forget_pair(f"graph:{event['id']}")
        self.graph.delete_event(MAILBOX, event["id"])

    @precondition(lambda self: len(self.activities()) >= 2)
    @rule()
    def fno_loses_everything(self) -> None:
        """A side that suddenly lists nothing (lost permissions, a wrong company): the valve's case."""
        self._tick()
        for row in self.activities():
            self._forget_pair(f"fno:{COMPANY}|{row['ActivityNumber']}")
            self.fno.delete(
                "Activities", {"dataAreaId": row["dataAreaId"], "ActivityNumber": row["ActivityNumber"]}
            )

    def check_converged(self) -> None:
        activities = {f"{COMPANY}|{a['ActivityNumber']}": a for a in self.activities()}
        events = {e["id"]: e for e in self.events()}
        links = self.links()
        assert not [link for link in links if "pending:" in link.fno_key + link.graph_id], (
            "claims left behind"
        )
        for link in links:
            activity, event = activities.get(link.fno_key), events.get(link.graph_id)
            if activity is None or event is None:
                continue
            assert activity["KeepSynchronized"] == "Yes" and CATEGORY in event["categories"], link.fno_key
            assert activity["Purpose"] == event["subject"]
            assert (activity.get("Location") or "") == event["location"]["displayName"]
            start = datetime.fromisoformat(event["start"]["dateTime"][:19]).replace(tzinfo=UTC)
            assert activity["StartDateTime"] == _fno_time(start)
            final = {
                "subject": event["subject"],
                "location": event["location"]["displayName"],
                "start": _fno_time(start),
            }
            self._check_edits(link, final, frozenset({"subject"}))
        linked_fno = {link.fno_key for link in links}
        linked_graph = {link.graph_id for link in links}
        for key, activity in activities.items():
            if activity["KeepSynchronized"] == "Yes":
                assert key in linked_fno, f"marked activity {key} not linked"
        for graph_id, event in events.items():
            if CATEGORY in event["categories"]:
                assert graph_id in linked_graph, "marked event not linked"
        stamps = [stamp_of(e) for e in events.values() if stamp_of(e)]
        assert len(stamps) == len(set(stamps)), "two events carry the same F&O key"
        entries = [a["OutlookEntryId"] for a in activities.values() if a.get("OutlookEntryId")]
        assert len(entries) == len(set(entries)), "two activities were made from one event"

    def check_after_all(self) -> None:
        self.quiesce()


class SyncMachineTest(SyncMachine):
    def teardown(self) -> None:
        try:
            self.quiesce()
        finally:
            super().teardown()


# CI: a few dozen derandomized runs of up to 25 steps (about a minute); the long profile explores many more.
_PROFILE = settings.default
assert _PROFILE is not None
_LONG = _PROFILE.max_examples >= 1000
SyncMachineTest.TestCase.settings = settings(
    parent=_PROFILE,
    max_examples=_PROFILE.max_examples if _LONG else 60,
    stateful_step_count=40 if _LONG else 25,
)
TestSyncStateMachine = SyncMachineTest.TestCase


def _scenario(steps: Any) -> None:
    """Drive the machine through a fixed story (examples the random search may take long to reach)."""
    machine = SyncMachine()
    try:
        machine.existing_data([("Call", 1), ("Visit", 2), ("Review", -2)], [("Call", 3)])
        steps(machine)
        machine.quiesce()
    finally:
        machine.teardown()


def test_valve_holds_even_when_a_survivor_changes() -> None:
    def story(m: SyncMachine) -> None:
        m.fno_loses_everything()
        m.sync_cycle(1, False, None, False)
        assert m.held()
        m.edit_in_outlook(0, "location")  # a change reported for a pair whose F&O side is gone
        m.sync_cycle(2, True, None, False)
        assert m.held() and len(m.events()) == 4
        m.operator_approves()
        m.sync_cycle(3, False, None, False)
        assert not m.held()

    _scenario(story)


def test_crash_at_every_write_point_of_a_first_sync() -> None:
    for crash_at in range(1, 14):
        for after in (False, True):

            def story(m: SyncMachine, crash_at: int = crash_at, after: bool = after) -> None:
                m.create_in_fno("Visit", 4, 10, True)
                m.create_in_outlook("Review", 5, 11, True)
                m.edit_in_fno(0, "subject")
                m.edit_in_outlook(1, "start")
                m.sync_cycle(crash_at, True, crash_at, after)

            _scenario(story)


def test_edits_made_while_unmarked_survive_marking_again() -> None:
    """Unmarked on one side (the pair unlinks), edited on both sides, marked again on either side: linking
    again merges against the record of the unlink, so both edits stay (found by the long Hypothesis run:
    without that record the side marked last won every field)."""
    for remark_in_fno in (True, False):
        machine = SyncMachine()
        try:
            machine.existing_data([("Call", 1)], [])
            machine.mark_in_fno(0, False)
            machine.sync_cycle(1, False, None, False)
            assert not machine.links()
            machine.edit_in_outlook(0, "subject")
            machine.edit_in_fno(0, "location")
            subject, location = machine.events()[0]["subject"], machine.activities()[0]["Location"]
            if remark_in_fno:
                machine.mark_in_fno(0, True)
            else:
                machine.mark_in_outlook(0, True)
            machine.quiesce()
            [event], [row] = machine.events(), machine.activities()
            assert (event["subject"], row["Purpose"]) == (subject, subject)
            assert (event["location"]["displayName"], row["Location"]) == (location, location)
            assert len(machine.links()) == 1
        finally:
            machine.teardown()


class _RetriedNextCycle(SyncMachine):
    """A message whose worker died is delivered again only in the next cycle, as after the queue's
    visibility timeout in Azure (in process, the queue hands it out again at once)."""

    def extra_settings(self) -> dict[str, str]:
        return {"SYNC_MAX_ATTEMPTS": "1"}


@pytest.mark.xfail(strict=True, reason="product bug: a stale stamp hides the activity made from the event")
def test_create_from_an_event_with_a_stale_stamp_survives_a_crash() -> None:
    """Found by the memory machine (tests/property/test_every_kind_rules.py, long run, shrunk). An activity
    synced to Outlook is deleted in F&O: the past appointment's pair is unlinked, the event keeps the
    product's stamp of the deleted activity. The user marks the event again; the pair job creates a new
    activity (OutlookEntryId = the event) and the worker dies right after the POST, before the event is
    stamped again. Then:
    - the F&O feed lists the new activity, marked and unlinked; `find_graph_partner` ignores the event it
      names because the event's stamp names another activity (the deleted one), finds nothing stamped
      with its key, and creates a second event;
    - the user edits the event's subject; the retried pair job's `find_fno_partner` trusts the stale stamp
      (the deleted activity: None) without looking for the activity that names the event (as TaskKind
      does), the strict-key match misses (new subject), and a second activity is created.
    End: two activities made from one event and an extra event (kinds/appointment.py `find_fno_partner`,
    `_event_the_activity_names`). Without the crash both are fine."""
    machine = _RetriedNextCycle()
    try:
        machine.existing_data([], [])
        machine.create_in_fno("Call", 0, 8, True)  # 08:00 today: past, so deleting it in F&O unlinks
        machine.sync_cycle(0, False, None, False)
        machine.delete_in_fno(0)
        machine.quiesce()
        machine.mark_in_outlook(0, True)
        machine.sync_cycle(0, False, 2, True)  # write 1: the claim; write 2: the activity's POST, then dies
        machine.edit_in_outlook(0, "subject")
        machine.quiesce()
        assert len(machine.activities()) == 1 and len(machine.events()) == 1
    finally:
        machine.teardown()
