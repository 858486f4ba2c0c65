"""The task deletion rule, alone and inside `decide`: completed tasks are never deleted by sync."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sync_core.engine.decide import decide
from sync_core.engine.rules import task_deletion_rule
from sync_core.engine.types import ActionKind, DeletionContext, Policy, SideView
from sync_core.kinds.task import task_kind
from sync_core.model.task import STATUSES, Task, to_record

NOW = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("side", ["fno", "graph"])
@pytest.mark.parametrize("organizer", [True, False])
@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        ("notStarted", "delete_partner"),
        ("inProgress", "delete_partner"),
        ("waitingOnOthers", "delete_partner"),
        ("deferred", "delete_partner"),
        ("completed", "unlink"),  # history: never deleted by sync
        (None, "unlink"),  # unreadable snapshot: keep rather than guess
        ("", "unlink"),
        (7, "unlink"),
    ],
)
def test_task_deletion_rule(side: str, organizer: bool, status: Any, verdict: str) -> None:
    ctx = DeletionContext(
        side_deleted=side,  # type: ignore[arg-type]
        snapshot={"status": status, "due": "2020-01-01"},  # an overdue open task is still open
        now=NOW,
        mailbox_is_organizer=organizer,
    )
    assert task_deletion_rule(ctx) == verdict


@pytest.mark.parametrize("status", STATUSES)
def test_decide_with_the_task_kind(status: str) -> None:
    record = to_record(Task(title="x", status=status))  # type: ignore[arg-type]
    kind = task_kind()
    survivor = SideView(present=True, marked=True, record=record)
    for fno, graph, delete in (
        (survivor, SideView(present=False, marked=False), ActionKind.DELETE_IN_FNO),
        (SideView(present=False, marked=False), survivor, ActionKind.DELETE_IN_GRAPH),
    ):
        decision = decide(
            snapshot=record,
            fno=fno,
            graph=graph,
            policy=Policy.NEWEST,
            deletion_rule=kind.rules.deletion_rule,
            now=NOW,
            groups=kind.rules.merge_groups,
        )
        if status == "completed":
            assert decision.action is ActionKind.UNLINK
            assert decision.unmark_fno or decision.unmark_graph  # the survivor is unmarked, not deleted
        else:
            assert decision.action is delete


def test_reminder_switch_and_time_merge_as_one_unit() -> None:
    base = to_record(Task(title="x"))
    fno = to_record(Task(title="x", reminder_on=True, reminder_at=datetime(2026, 3, 21, 8, tzinfo=UTC)))
    graph = to_record(Task(title="y"))
    kind = task_kind()
    decision = decide(
        snapshot=base,
        fno=SideView(present=True, marked=True, record=fno),
        graph=SideView(present=True, marked=True, record=graph),
        policy=Policy.NEWEST,
        deletion_rule=kind.rules.deletion_rule,
        now=NOW,
        groups=kind.rules.merge_groups,
    )
    assert decision.action is ActionKind.UPDATE
    assert decision.write_graph == {"reminder_on": True, "reminder_at": "2026-03-21T08:00:00Z"}
    assert decision.write_fno == {"title": "y"}
