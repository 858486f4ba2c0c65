"""The task scan's cursor: when the list of To Do lists must be read again, and what survives storing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sync_core.kinds.task_cursor import TaskCursor, load_cursor

NOW = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)


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


@pytest.mark.parametrize(
    ("age_minutes", "refresh", "due"),
    [(0, 60, False), (59, 60, False), (60, 60, True), (61, 60, True), (0, 0, True), (-5, 60, True)],
)
def test_lists_are_due_after_the_period(age_minutes: int, refresh: int, due: bool) -> None:
    assert _cursor().lists_due(NOW + timedelta(minutes=age_minutes), refresh, "") is due


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
    assert _cursor(**changes).lists_due(NOW, 60, "") is True


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
    assert load_cursor(raw).lists_due(NOW, 60, "") is True


def test_a_version_1_cursor_keeps_its_delta_links() -> None:
    cursor = load_cursor(json.dumps({"v": 1, "lists": {"L1": "link1"}}))
    assert cursor.links == {"L1": "link1"}
    assert cursor.lists_due(NOW, 60, "") is True


def test_created_tasks_survive_only_as_strings() -> None:
    raw = json.dumps({"v": 2, "lists": {"L1": "d"}, "created": ["L1|T1", 5, "", None]})
    assert load_cursor(raw).created == ["L1|T1"]
    assert load_cursor(json.dumps({"v": 2, "lists": {"L1": "d"}, "created": "L1|T1"})).created == []
