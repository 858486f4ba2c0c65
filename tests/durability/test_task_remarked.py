"""Nothing lost: a To Do task the product knows, marked again by the user outside the sync list.

The task carries the product's linkedResource (it came from F&O), the user dragged it to another list, then
it was unmarked in F&O (sync removed its category in To Do and unlinked the pair). When the user marks it
again in that other list, the scan must queue it as the pair job counts it (a stamped task with the category
is marked in any list), or it silently stays unsynced. Found by the task state machine
(tests/property/test_task_state_machine.py::test_task_marked_again_outside_the_sync_list)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.sample_data import CATEGORY, COMPANY
from sync_core.kinds.task_todo import stamp_of
from tests.e2e.harness import Tenant, sample_tenant
from tests.e2e.test_task_requests import _todo_calls
from tests.e2e.test_tasks import (
    ALICE,
    _handle,
    _key,
    _one_todo,
    _quiet,
    _task_activities,
    _task_links,
    _todo_by_key,
)


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as value:
        value.settle()
        yield value


def _cycle(tenant: Tenant) -> dict[str, Any]:
    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert report.failures == []
    counts: dict[str, Any] = report.counts["task"]
    return counts


def _links_of(tenant: Tenant, number: str) -> list[str]:
    return [link.graph_id for link in _task_links(tenant) if link.fno_key == f"{COMPANY}|{number}"]


def _unlinked_in_projects(tenant: Tenant) -> tuple[str, str, dict[str, Any]]:
    """Alice's F&O task moved to her list "Projects", then unmarked in F&O: (number, list, task)."""
    number = _handle(tenant, "task_quote")
    quote = _one_todo(tenant, ALICE, number)
    projects = tenant.graph.todo.add_list(ALICE, "Projects")
    moved = tenant.graph.todo.move_task(ALICE, quote["listId"], quote["id"], projects)
    _cycle(tenant)
    assert _links_of(tenant, number) == [f"{projects}|{moved['id']}"]
    _quiet(tenant)

    tenant.fno.update("Activities", _key(number), {"KeepSynchronized": "No"})
    _cycle(tenant)
    task = _one_todo(tenant, ALICE, number)
    assert (task["listId"], task["id"]) == (projects, moved["id"])
    assert CATEGORY not in task["categories"], "unmarking in F&O unmarks the To Do task"
    assert stamp_of(task) == f"{COMPANY}|{number}", "the stamp stays"
    assert _links_of(tenant, number) == []
    _quiet(tenant)
    return number, projects, task


def test_a_stamped_task_marked_again_in_another_list_is_linked_again(tenant: Tenant) -> None:
    number, projects, task = _unlinked_in_projects(tenant)
    activities = len(_task_activities(tenant))

    tenant.graph.todo.update_task(
        ALICE, projects, task["id"], {"categories": [*task["categories"], CATEGORY]}
    )
    mark = tenant.mark_logs()
    counts = _cycle(tenant)
    # Linked again to the activity it came from, which is marked again: nothing created on either side.
    assert _links_of(tenant, number) == [f"{projects}|{task['id']}"]
    row = tenant.activity(number)
    assert row is not None and row["KeepSynchronized"] == "Yes"
    assert counts["to_exchange"]["created"] == counts["to_fno"]["created"] == 0
    assert len(_task_activities(tenant)) == activities
    assert len(_todo_by_key(tenant, ALICE, number)) == 1
    assert CATEGORY in _one_todo(tenant, ALICE, number)["categories"]
    # One read of the task by the scan, for its stamp (delta sends no linkedResources), one by the pair
    # job; the task already had the category, so nothing is written in To Do.
    assert sorted(_todo_calls(tenant, mark, ALICE)) == ["GET delta", "GET delta", "GET task", "GET task"]
    _quiet(tenant)

    # The pair syncs again, both ways.
    tenant.graph.todo.update_task(ALICE, projects, task["id"], {"title": "Send quote (again)"})
    _cycle(tenant)
    row = tenant.activity(number)
    assert row is not None and row["Purpose"] == "Send quote (again)"
    tenant.fno.update("Activities", _key(number), {"Priority": "Low"})
    _cycle(tenant)
    assert _one_todo(tenant, ALICE, number)["importance"] == "low"
    _quiet(tenant)


def test_marked_again_in_f_and_o_instead_is_linked_again_as_well(tenant: Tenant) -> None:
    number, projects, task = _unlinked_in_projects(tenant)
    tenant.fno.update("Activities", _key(number), {"KeepSynchronized": "Yes"})
    counts = _cycle(tenant)
    assert _links_of(tenant, number) == [f"{projects}|{task['id']}"]
    assert counts["to_exchange"]["created"] == counts["to_fno"]["created"] == 0
    assert CATEGORY in _one_todo(tenant, ALICE, number)["categories"]
    assert len(_todo_by_key(tenant, ALICE, number)) == 1
    _quiet(tenant)


def test_an_unstamped_task_marked_in_another_list_is_still_not_imported(tenant: Tenant) -> None:
    """The documented rule stands: only the sync list imports tasks the product does not know. The scan
    reads such a task once, when it changes, to learn it carries no stamp; an idle cycle reads nothing."""
    projects = tenant.graph.todo.add_list(ALICE, "Projects")
    tenant.extra_env = {"SYNC_TODO_LISTS_REFRESH_MINUTES": "0"}
    _cycle(tenant)  # reads the lists: "Projects" is watched from now on
    tenant.extra_env = {}
    activities = len(_task_activities(tenant))
    tenant.graph.todo.add_task(
        ALICE, {"title": "Private errand", "categories": [CATEGORY]}, list_ref=projects
    )
    mark = tenant.mark_logs()
    counts = _cycle(tenant)
    assert counts["to_fno"]["created"] == 0
    assert len(_task_activities(tenant)) == activities
    assert _todo_calls(tenant, mark, ALICE).count("GET task") == 1
    mark = tenant.mark_logs()
    _cycle(tenant)
    assert "GET task" not in _todo_calls(tenant, mark, ALICE)
    _quiet(tenant)
