"""The Graph stand-in's Microsoft To Do over real HTTP: lists, tasks, linkedResources, per-list delta,
date-only due dates, ids that change on a move, no extended properties; every answer checked against
Microsoft's CSDL and the published todoTask examples."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.serve import serve
from tests.simulators.test_graph_schema import REFERENCE, Schema

TOKEN = "todo-token"
CAROL = "carol@contoso.com"  # Tonga, UTC+13
BOB = "bob@contoso.com"  # Hawaii, UTC-10
EXAMPLES = REFERENCE / "graph-examples"


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema(REFERENCE / "graph-v1.0-mailbox-subset.csdl.xml")


@pytest.fixture
def state() -> GraphState:
    graph = GraphState(TOKEN, page_size=2)
    graph.add_user(CAROL, "Carol", time_zone="Tonga Standard Time")
    graph.add_user(BOB, "Bob", time_zone="Hawaiian Standard Time")
    return graph


@pytest.fixture
def client(state: GraphState) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with (
        serve(create_graph_app(state)) as server,
        httpx.Client(base_url=server.url + "/v1.0", headers=headers) as c,
    ):
        yield c


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


def _tasks_url(mailbox: str, list_id: str) -> str:
    return f"/users/{mailbox}/todo/lists/{quote(list_id, safe='')}/tasks"


def _default_list(client: httpx.Client, mailbox: str) -> str:
    lists = client.get(f"/users/{mailbox}/todo/lists").json()["value"]
    return str(next(lst["id"] for lst in lists if lst["wellknownListName"] == "defaultList"))


def _drain(client: httpx.Client, url: str, **headers: str) -> tuple[list[dict[str, Any]], str]:
    """One delta round: all items, and the deltaLink."""
    items: list[dict[str, Any]] = []
    page = client.get(url, headers=headers)
    while True:
        assert page.status_code == 200, page.text
        body = page.json()
        items.extend(body["value"])
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"]
        page = client.get(body["@odata.nextLink"], headers=headers)


def test_lists_match_the_schema_and_the_published_example(client: httpx.Client, schema: Schema) -> None:
    body = client.get(f"/users/{CAROL}/todo/lists").json()
    published = _example("todotasklist-list.json")["response"]["value"]
    assert [lst["wellknownListName"] for lst in body["value"]] == ["defaultList", "flaggedEmails"]
    assert body["value"][0]["displayName"] == "Tasks"
    for lst in body["value"]:
        assert set(lst) - {"@odata.etag"} == set(published[0])
        assert schema.check(lst, "todoTaskList", "list") == 5
    created = client.post(f"/users/{CAROL}/todo/lists", json={"displayName": "D365 Tasks"})
    assert created.status_code == 201
    assert created.json()["wellknownListName"] == "none"
    assert len(client.get(f"/users/{CAROL}/todo/lists").json()["value"]) == 3
    assert client.post(f"/users/{CAROL}/todo/lists", json={}).status_code == 400


def test_create_with_linked_resource_as_published(client: httpx.Client, schema: Schema) -> None:
    example = _example("todotask-create.json")
    list_id = _default_list(client, CAROL)
    answer = client.post(_tasks_url(CAROL, list_id), json=example["request_body"])
    assert answer.status_code == 201
    task = answer.json()
    published = example["response"]
    assert set(published) <= set(task)  # the published sample is truncated: ours has at least its keys
    assert [set(r) for r in task["linkedResources"]] == [
        set(published["linkedResources"][0]) | {"externalId"}
    ]
    assert task["linkedResources"][0]["webUrl"] == "http://microsoft.com"
    assert schema.check(task, "todoTask", "task") > 10
    assert task["@odata.etag"].startswith('W/"') and task["@odata.etag"].endswith('=="')
    # Without $expand a read leaves linkedResources out; with it they come back.
    url = f"{_tasks_url(CAROL, list_id)}/{quote(task['id'], safe='')}"
    assert "linkedResources" not in client.get(url).json()
    expanded = client.get(url, params={"$expand": "linkedResources"}).json()
    assert expanded["linkedResources"] == task["linkedResources"]
    assert schema.check(expanded, "todoTask", "task") > 10
    for example_name in ("todotask-get.json", "todotask-delta.json"):
        sample = _example(example_name)["response"]
        sample = sample["value"][0] if "value" in sample else sample
        assert schema.check({k: v for k, v in sample.items() if k != "@odata.context"}, "todoTask", "sample")


def test_due_dates_keep_the_date_only(client: httpx.Client) -> None:
    list_id = _default_list(client, CAROL)
    due = {"dateTime": "2026-03-29T16:45:00", "timeZone": "Tonga Standard Time"}
    task = client.post(
        _tasks_url(CAROL, list_id),
        json={"title": "Due", "dueDateTime": due},
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
    ).json()
    # Midnight of the 29th in Tonga (UTC+13) is 11:00 UTC on the 28th; the time of day is gone, and
    # To Do answers in UTC whatever the Prefer header asks.
    assert task["dueDateTime"] == {"dateTime": "2026-03-28T11:00:00.0000000", "timeZone": "UTC"}
    bob_list = _default_list(client, BOB)
    same_day = client.post(
        _tasks_url(BOB, bob_list),
        json={
            "title": "Due",
            "dueDateTime": {"dateTime": "2026-03-29T00:00:00.0000000", "timeZone": "Hawaiian Standard Time"},
        },
    ).json()
    assert same_day["dueDateTime"] == {"dateTime": "2026-03-29T10:00:00.0000000", "timeZone": "UTC"}
    url = f"{_tasks_url(CAROL, list_id)}/{quote(task['id'], safe='')}"
    cleared = client.patch(url, json={"dueDateTime": None}).json()
    assert "dueDateTime" not in cleared
    refused = client.patch(
        url, json={"dueDateTime": {"dateTime": "2026-03-29T00:00:00", "timeZone": "Mars/Base"}}
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "TimeZoneNotSupportedException"


def test_status_completion_and_validation(client: httpx.Client, state: GraphState) -> None:
    list_id = _default_list(client, CAROL)
    task = client.post(_tasks_url(CAROL, list_id), json={"title": "Done soon"}).json()
    url = f"{_tasks_url(CAROL, list_id)}/{quote(task['id'], safe='')}"
    done = client.patch(url, json={"status": "completed"}).json()
    today = state.clock().strftime("%Y-%m-%d")
    assert done["completedDateTime"] == {"dateTime": f"{today}T00:00:00.0000000", "timeZone": "UTC"}
    assert done["@odata.etag"] != task["@odata.etag"]
    assert "completedDateTime" not in client.patch(url, json={"status": "inProgress"}).json()
    for bad in ({"status": "done"}, {"importance": "urgent"}, {"isReminderOn": "yes"}, {"categories": "x"}):
        answer = client.patch(url, json=bad)
        assert answer.status_code == 400, bad
    # To Do items have no extended properties.
    stamped = client.post(
        _tasks_url(CAROL, list_id),
        json={
            "title": "x",
            "singleValueExtendedProperties": [
                {"id": "String {00000000-0000-0000-0000-000000000000} Name K", "value": "v"}
            ],
        },
    )
    assert stamped.status_code == 400
    assert "singleValueExtendedProperties" in stamped.json()["error"]["message"]
    assert client.get(f"{_tasks_url(CAROL, list_id)}/AAMkADnot-an-id").status_code == 404


def test_linked_resources_collection(client: httpx.Client) -> None:
    list_id = _default_list(client, CAROL)
    task = client.post(_tasks_url(CAROL, list_id), json={"title": "x"}).json()
    base = f"{_tasks_url(CAROL, list_id)}/{quote(task['id'], safe='')}/linkedResources"
    created = client.post(
        base, json={"applicationName": "App", "externalId": "usmf|ACT-1", "webUrl": "https://x"}
    )
    assert created.status_code == 201
    resource = created.json()
    assert client.get(base).json()["value"] == [{k: v for k, v in resource.items() if k != "@odata.context"}]
    patched = client.patch(f"{base}/{resource['id']}", json={"externalId": "usmf|ACT-2"}).json()
    assert patched["externalId"] == "usmf|ACT-2" and patched["applicationName"] == "App"
    assert client.post(base, json={"unknown": "x"}).status_code == 400
    assert client.delete(f"{base}/{resource['id']}").status_code == 204
    assert client.get(base).json()["value"] == []


def test_list_paging_filter_and_expand(client: httpx.Client) -> None:
    list_id = _default_list(client, CAROL)
    for n in range(5):
        client.post(
            _tasks_url(CAROL, list_id), json={"title": f"t{n}", "categories": ["D365 Sync"] if n % 2 else []}
        )
    page = client.get(_tasks_url(CAROL, list_id), params={"$top": "2", "$expand": "linkedResources"}).json()
    titles = [t["title"] for t in page["value"]]
    while "@odata.nextLink" in page:
        page = client.get(page["@odata.nextLink"]).json()
        titles += [t["title"] for t in page["value"]]
        assert all("linkedResources" in t for t in page["value"])
    assert titles == [f"t{n}" for n in range(5)]
    marked = client.get(
        _tasks_url(CAROL, list_id), params={"$filter": "categories/any(c:c eq 'D365 Sync')"}
    ).json()
    assert [t["title"] for t in marked["value"]] == ["t1", "t3"]
    assert client.get(_tasks_url(CAROL, list_id), params={"$expand": "attachments"}).status_code == 400


def test_delta_per_list_reports_changes_deletes_and_moves(client: httpx.Client, state: GraphState) -> None:
    list_id = _default_list(client, CAROL)
    other = client.post(f"/users/{CAROL}/todo/lists", json={"displayName": "Projects"}).json()["id"]
    ids = [client.post(_tasks_url(CAROL, list_id), json={"title": f"t{n}"}).json()["id"] for n in range(3)]
    first = client.get(f"{_tasks_url(CAROL, list_id)}/delta")
    assert first.json()["value"] == [] and "@odata.nextLink" in first.json()  # an empty first page
    items, link = _drain(client, f"{_tasks_url(CAROL, list_id)}/delta", Prefer="odata.maxpagesize=2")
    assert sorted(i["id"] for i in items) == sorted(ids)
    other_items, other_link = _drain(client, f"{_tasks_url(CAROL, other)}/delta")
    assert other_items == []

    # Nothing changed: an empty round.
    assert _drain(client, link)[0] == []
    client.patch(f"{_tasks_url(CAROL, list_id)}/{quote(ids[0], safe='')}", json={"title": "renamed"})
    client.delete(f"{_tasks_url(CAROL, list_id)}/{quote(ids[1], safe='')}")
    moved = state.todo.move_task(CAROL, list_id, ids[2], other)
    assert moved["id"] != ids[2] and moved["title"] == "t2"  # no immutable ids in To Do
    assert client.get(f"{_tasks_url(CAROL, list_id)}/{quote(ids[2], safe='')}").status_code == 404
    items, link = _drain(client, link)
    assert {i["id"]: i.get("@removed") for i in items} == {
        ids[0]: None,
        ids[1]: {"reason": "deleted"},
        ids[2]: {"reason": "deleted"},
    }
    removed = next(i for i in items if i["id"] == ids[1])
    assert set(removed) == {"@odata.type", "id", "@removed"}
    assert [i["id"] for i in _drain(client, other_link)[0]] == [moved["id"]]

    # Query options are refused; an expired token answers 410, a token of another list 400.
    assert client.get(f"{_tasks_url(CAROL, list_id)}/delta", params={"$select": "title"}).status_code == 400
    token = link.partition("$deltatoken=")[2]
    assert client.get(f"{_tasks_url(CAROL, other)}/delta", params={"$deltatoken": token}).status_code == 400
    state.expire_delta_tokens(CAROL)
    expired = client.get(link)
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "SyncStateNotFound"


def test_deleted_list_answers_404(client: httpx.Client, state: GraphState) -> None:
    other = state.todo.add_list(CAROL, "Old")
    _items, link = _drain(client, f"{_tasks_url(CAROL, other)}/delta")
    assert client.delete(f"/users/{CAROL}/todo/lists/{quote(other, safe='')}").status_code == 204
    assert client.get(link).status_code == 404
    default = _default_list(client, CAROL)
    assert client.delete(f"/users/{CAROL}/todo/lists/{quote(default, safe='')}").status_code == 400


def test_ids_need_encoding(client: httpx.Client, state: GraphState) -> None:
    """Some list and task ids contain '/' or '+': a client that does not encode them gets 404."""
    list_id = _default_list(client, CAROL)
    created = [state.todo.add_task(CAROL, {"title": f"x{n}"}) for n in range(40)]
    awkward = next(t["id"] for t in created if "/" in t["id"])
    assert client.get(f"{_tasks_url(CAROL, list_id)}/{quote(awkward, safe='')}").status_code == 200
    assert client.get(f"{_tasks_url(CAROL, list_id)}/{awkward}").status_code in (400, 404)


def test_published_update_lands_on_midnight_of_the_date_in_its_zone(client: httpx.Client) -> None:
    """The published PATCH sends 16:00 Eastern time; the answer shows 04:00 UTC, i.e. midnight EDT of the
    date (the sample's month differs from its own request, a known doc quirk): the date is kept, not the time."""
    example = _example("todotask-update.json")
    list_id = _default_list(client, CAROL)
    task = client.post(_tasks_url(CAROL, list_id), json={"title": "Shop for dinner"}).json()
    url = f"{_tasks_url(CAROL, list_id)}/{quote(task['id'], safe='')}"
    answer = client.patch(url, json=example["request_body"]).json()
    published = example["response"]["dueDateTime"]
    assert answer["dueDateTime"]["timeZone"] == published["timeZone"] == "UTC"
    assert answer["dueDateTime"]["dateTime"] == "2020-07-25T04:00:00.0000000"
    assert answer["dueDateTime"]["dateTime"][10:] == published["dateTime"][10:]


def test_patch_with_a_stale_if_match_is_refused_and_changes_nothing(
    state: GraphState, client: httpx.Client
) -> None:
    state.todo.if_match = "honour"
    list_id = _default_list(client, CAROL)
    task = client.post(_tasks_url(CAROL, list_id), json={"title": "Call back"}).json()
    url = f"{_tasks_url(CAROL, list_id)}/{quote(task['id'], safe='')}"
    first = client.patch(url, json={"title": "Call back today"}, headers={"If-Match": task["@odata.etag"]})
    assert first.status_code == 200 and first.json()["@odata.etag"] != task["@odata.etag"]
    stale = client.patch(url, json={"title": "Never mind"}, headers={"If-Match": task["@odata.etag"]})
    assert stale.status_code == 412
    assert client.get(url).json()["title"] == "Call back today"
