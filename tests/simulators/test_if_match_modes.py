"""The stand-ins' switches for what Microsoft does not document about `If-Match` (docs/microsoft.md,
"Conditional writes"): To Do may honour it, ignore it or refuse it; F&O may answer a stale etag with 412,
400 or 409. Each switch changes only the answer to a conditional write; nothing refused is written."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from simulators.graph.state import GraphState
from simulators.graph.todo import IfMatchMode
from tests.simulators.test_fno_http import Stand, key_path, seed_activities
from tests.simulators.test_fno_http import fno as fno  # the fixtures, shared
from tests.simulators.test_graph_todo import CAROL, _default_list, _tasks_url
from tests.simulators.test_graph_todo import client as client
from tests.simulators.test_graph_todo import state as state


def _task_url(client: httpx.Client) -> tuple[str, str]:
    list_id = _default_list(client, CAROL)
    task = client.post(_tasks_url(CAROL, list_id), json={"title": "Call back"}).json()
    return f"{_tasks_url(CAROL, list_id)}/{quote(task['id'], safe='')}", str(task["@odata.etag"])


def test_todo_ignores_if_match_by_default(state: GraphState, client: httpx.Client) -> None:
    assert state.todo.if_match == "ignore"
    url, etag = _task_url(client)
    assert client.patch(url, json={"title": "First"}, headers={"If-Match": etag}).status_code == 200
    assert client.patch(url, json={"title": "Second"}, headers={"If-Match": etag}).status_code == 200
    assert client.get(url).json()["title"] == "Second"
    assert client.delete(url, headers={"If-Match": etag}).status_code == 204


@pytest.mark.parametrize(("mode", "status"), [("honour", 412), ("reject", 400)])
def test_todo_refuses_a_write_as_its_mode_says_and_changes_nothing(
    state: GraphState, client: httpx.Client, mode: IfMatchMode, status: int
) -> None:
    state.todo.if_match = mode
    url, etag = _task_url(client)
    current = etag if mode == "reject" else 'W/"stale"'
    assert client.patch(url, json={"title": "Never"}, headers={"If-Match": current}).status_code == status
    assert client.delete(url, headers={"If-Match": current}).status_code == status
    assert client.get(url).json()["title"] == "Call back"
    # Without the header every mode writes.
    assert client.patch(url, json={"title": "Plain"}).status_code == 200
    assert client.delete(url).status_code == 204


def test_todo_honours_a_current_etag(state: GraphState, client: httpx.Client) -> None:
    state.todo.if_match = "honour"
    url, etag = _task_url(client)
    assert client.patch(url, json={"title": "First"}, headers={"If-Match": etag}).status_code == 200


@pytest.mark.parametrize("status", [400, 409, 412])
def test_fno_answers_a_stale_etag_with_the_status_it_is_set_to(fno: Stand, status: int) -> None:
    fno.state.stale_etag_status = status
    (number,) = seed_activities(fno, ["a"])
    path = key_path("Activities", dataAreaId="usmf", ActivityNumber=number)
    etag = fno.client.get(path).json()["@odata.etag"]
    assert fno.client.patch(path, json={"Purpose": "b"}, headers={"If-Match": etag}).status_code == 204
    assert fno.client.patch(path, json={"Purpose": "c"}, headers={"If-Match": etag}).status_code == status
    assert fno.client.delete(path, headers={"If-Match": etag}).status_code == status
    assert fno.client.get(path).json()["Purpose"] == "b"
