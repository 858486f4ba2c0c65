"""The task scan's cursor: when the list of To Do lists must be read again, and what survives storing."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from sync_core.kinds.task_cursor import TaskCursor, load_cursor
from sync_core.runtime.phase import last_slot

NOW = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
ALICE = "alice@contoso.com"


def _cursor(**changes: object) -> TaskCursor:
    values: dict[str, object] = {
        "links": {"L1": "https://graph/delta?$deltatoken=a", "L2": "https://graph/delta?$deltatoken=b"},
        "lists_read_at": NOW,
        "sync_list": "L1",
        "list_name": "",
    }
    values.update(changes)
    return TaskCursor(**values)  # type: ignore[arg-type]


def test_round_trip() -> None:
    cursor = _cursor(lists_stale=True, list_name="Dynamics 365", created=["L1|T1", "L1|T2"])
    assert load_cursor(cursor.dump()) == cursor


@pytest.mark.parametrize(("age_minutes", "refresh"), [(0, 0), (-5, 60)])
def test_lists_are_due_every_scan_at_0_and_after_a_clock_went_back(age_minutes: int, refresh: int) -> None:
    assert _cursor().lists_due(NOW + timedelta(minutes=age_minutes), refresh, "", ALICE) is True


@pytest.mark.parametrize("refresh", [60, 360])
def test_lists_are_due_once_a_period_at_the_mailboxs_own_slot(refresh: int) -> None:
    """Read at its slot, never more than a period apart (the slot shifted per mailbox, runtime/phase.py),
    so mailboxes set up in the same cycle spread their reads over the period."""
    period = timedelta(minutes=refresh)
    steps = [NOW + timedelta(minutes=5 * i) for i in range(1, 3 * refresh // 5)]
    firsts = []
    for mailbox in (ALICE, "bob@contoso.com", "carol@contoso.com"):
        read, reads = NOW, []
        for now in steps:
            if _cursor(lists_read_at=read).lists_due(now, refresh, "", mailbox):
                read = now
                reads.append(now)
        # Each read is the first scan after one of the mailbox's slots.
        assert all(r - last_slot(r, f"todo-lists:{mailbox}", period) < timedelta(minutes=5) for r in reads)
        assert all(b - a == period for a, b in itertools.pairwise(reads))
        assert reads[0] - NOW <= period
        firsts.append(reads[0])
    assert len(set(firsts)) > 1  # spread, not all in one cycle


@pytest.mark.parametrize(
    "changes",
    [
        {"links": {}},
        {"lists_read_at": None},
        {"sync_list": None},
        {"list_name": "Another list"},  # SYNC_TODO_LIST changed since
        {"lists_stale": True},  # a pair job created a task in To Do since
    ],
)
def test_lists_are_due_when_anything_is_unknown_or_changed(changes: dict[str, object]) -> None:
    assert _cursor(**changes).lists_due(NOW, 60, "", ALICE) is True


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not json",
        "[1, 2]",
        json.dumps({"v": 1, "lists": "x"}),
        json.dumps({"v": 2, "lists": {"L1": 5}, "listsReadAt": 7, "syncList": ["L1"]}),
        # A sync list that is not among the watched lists cannot be trusted.
        json.dumps({"v": 2, "lists": {"L1": "d"}, "listsReadAt": NOW.isoformat(), "syncList": "L9"}),
    ],
)
def test_unreadable_cursors_mean_reading_the_lists(raw: str | None) -> None:
    assert load_cursor(raw).lists_due(NOW, 60, "", ALICE) is True


def test_a_version_1_cursor_keeps_its_delta_links() -> None:
    cursor = load_cursor(json.dumps({"v": 1, "lists": {"L1": "link1"}}))
    assert cursor.links == {"L1": "link1"}
    assert cursor.lists_due(NOW, 60, "", ALICE) is True


def test_created_tasks_survive_only_as_strings() -> None:
    raw = json.dumps({"v": 2, "lists": {"L1": "d"}, "created": ["L1|T1", 5, "", None]})
    assert load_cursor(raw).created == ["L1|T1"]
    assert load_cursor(json.dumps({"v": 2, "lists": {"L1": "d"}, "created": "L1|T1"})).created == []
