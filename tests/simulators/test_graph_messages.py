"""The Graph stand-in's mail: folders, messages, the category $filter, PATCH, copy, per-folder delta."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.serve import serve
from tests.simulators.test_graph_schema import REFERENCE, Schema

TOKEN = "mail-token"
ALICE = "alice@contoso.com"
EXT = "String {5d365e5c-1f0a-4c3b-9a53-0e7c5a1d2b44} Name D365SyncKey"


@pytest.fixture
def state() -> GraphState:
    graph = GraphState(TOKEN, page_size=2)
    graph.add_user(ALICE, "Alice Adams")
    return graph


@pytest.fixture
def client(state: GraphState) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Prefer": 'IdType="ImmutableId"'}
    with (
        serve(create_graph_app(state)) as server,
        httpx.Client(base_url=server.url + "/v1.0", headers=headers) as c,
    ):
        yield c


def _who(address: str) -> dict[str, Any]:
    return {"emailAddress": {"address": address, "name": address}}


def _seed(state: GraphState) -> dict[str, str]:
    sub = state.add_mail_folder(ALICE, "Customers")
    ids = {"sub": sub}
    rows = [
        ("a", "inbox", ["D365 Import"], "2026-03-01T10:00:00Z"),
        ("b", sub, ["Jane's", "D365 Import"], "2026-03-02T10:00:00Z"),
        ("c", "archive", ["Other"], "2026-03-03T10:00:00Z"),
        ("d", "sentitems", ["d365 import"], "2026-03-04T10:00:00Z"),
    ]
    for name, folder, categories, received in rows:
        ids[name] = state.add_message(
            ALICE,
            {
                "subject": f"Subject {name}",
                "internetMessageId": f"<{name}@fabrikam.com>",
                "receivedDateTime": received,
                "body": {"contentType": "html", "content": f"<p>Hello <b>{name}</b></p>"},
                "sender": _who("jane.o'brien@fabrikam.com"),
                "from": _who("jane.o'brien@fabrikam.com"),
                "toRecipients": [_who(ALICE)],
                "ccRecipients": [_who("orders@fabrikam.com")],
                "categories": categories,
            },
            folder=folder,
        )["id"]
    return ids


def _enc(value: str) -> str:
    return quote(value, safe="")


def _all(client: httpx.Client, url: str, **params: str) -> list[dict[str, Any]]:
    page = client.get(url, params=params).json()
    rows = list(page["value"])
    while "@odata.nextLink" in page:
        page = client.get(page["@odata.nextLink"]).json()
        rows += page["value"]
    return rows


def test_category_filter_lists_marked_messages_of_every_folder(
    state: GraphState, client: httpx.Client
) -> None:
    ids = _seed(state)
    rows = _all(
        client, f"/users/{ALICE}/messages", **{"$filter": "categories/any(c:c eq 'D365 Import')", "$top": "1"}
    )
    assert {r["id"] for r in rows} == {ids["a"], ids["b"], ids["d"]}  # Exchange compares case-insensitively
    quoted = _all(client, f"/users/{ALICE}/messages", **{"$filter": "categories/any(c:c eq 'Jane''s')"})
    assert [r["id"] for r in quoted] == [ids["b"]]
    # An unescaped quote is a syntax error, never a wider filter.
    broken = client.get(f"/users/{ALICE}/messages", params={"$filter": "categories/any(c:c eq 'Jane's')"})
    assert broken.status_code == 400
    in_folder = _all(client, f"/users/{ALICE}/mailFolders/{_enc(ids['sub'])}/messages")
    assert [r["id"] for r in in_folder] == [ids["b"]]


def test_message_fields_bodies_and_extended_properties(state: GraphState, client: httpx.Client) -> None:
    ids = _seed(state)
    url = f"/users/{ALICE}/messages/{_enc(ids['a'])}"
    html = client.get(url).json()
    assert html["body"]["contentType"] == "html" and "<b>a</b>" in html["body"]["content"]
    assert html["internetMessageId"] == "<a@fabrikam.com>"
    assert html["sender"]["emailAddress"]["address"] == "jane.o'brien@fabrikam.com"
    text = client.get(url, headers={"Prefer": 'outlook.body-content-type="text"'})
    assert text.json()["body"] == {"contentType": "text", "content": "Hello a"}
    assert 'outlook.body-content-type="text"' in text.headers["Preference-Applied"]

    patch = {
        "categories": ["D365 Imported"],
        "singleValueExtendedProperties": [{"id": EXT, "value": "usmf|ACT-1"}],
    }
    assert client.patch(url, json=patch).status_code == 200
    expand = {
        "$expand": f"singleValueExtendedProperties($filter=id eq '{EXT}')",
        "$select": "categories,subject",
    }
    got = client.get(url, params=expand).json()
    assert got["categories"] == ["D365 Imported"] and got["subject"] == "Subject a"
    assert got["singleValueExtendedProperties"] == [{"id": EXT, "value": "usmf|ACT-1"}]
    found = _all(
        client,
        f"/users/{ALICE}/messages",
        **{
            "$filter": f"singleValueExtendedProperties/any(ep: ep/id eq '{EXT}' and ep/value eq 'usmf|ACT-1')"
        },
    )
    assert [r["id"] for r in found] == [ids["a"]]
    assert state.message_patches(ALICE) == [patch]


def test_patch_changes_only_what_a_received_message_allows(state: GraphState, client: httpx.Client) -> None:
    ids = _seed(state)
    url = f"/users/{ALICE}/messages/{_enc(ids['a'])}"
    before = client.get(url).json()
    # Body and recipients of a received message cannot change; read-only fields are ignored.
    client.patch(
        url,
        json={"body": {"contentType": "text", "content": "x"}, "receivedDateTime": "2020-01-01T00:00:00Z"},
    )
    after = client.get(url).json()
    assert after["body"] == before["body"] and after["receivedDateTime"] == before["receivedDateTime"]
    assert after["changeKey"] != before["changeKey"]
    assert client.patch(url, json={"colour": "red"}).status_code == 400
    assert client.patch(url, json={"categories": "D365"}).status_code == 400
    assert client.get(f"/users/{ALICE}/messages/AAMkAnonsense").status_code == 404


def test_copy_gets_a_new_id_and_keeps_identity_and_stamp(state: GraphState, client: httpx.Client) -> None:
    ids = _seed(state)
    url = f"/users/{ALICE}/messages/{_enc(ids['a'])}"
    client.patch(url, json={"singleValueExtendedProperties": [{"id": EXT, "value": "usmf|ACT-9"}]})
    copy = client.post(url + "/copy", json={"destinationId": "archive"})
    assert copy.status_code == 201
    copied = copy.json()
    assert copied["id"] != ids["a"] and copied["internetMessageId"] == "<a@fabrikam.com>"
    archive = client.get(f"/users/{ALICE}/mailFolders/archive").json()
    assert copied["parentFolderId"] == archive["id"]
    expand = {"$expand": f"singleValueExtendedProperties($filter=id eq '{EXT}')"}
    stamped = client.get(f"/users/{ALICE}/messages/{_enc(copied['id'])}", params=expand).json()
    assert stamped["singleValueExtendedProperties"] == [{"id": EXT, "value": "usmf|ACT-9"}]
    moved = client.post(url + "/move", json={"destinationId": ids["sub"]}).json()
    assert moved["id"] == ids["a"]  # immutable ids survive a move


def test_folders_list_get_and_children(state: GraphState, client: httpx.Client) -> None:
    ids = _seed(state)
    top = client.get(f"/users/{ALICE}/mailFolders").json()["value"]
    names = {f["displayName"] for f in top}
    assert {"Inbox", "Sent Items", "Archive", "Deleted Items", "Customers"} <= names
    inbox = client.get(f"/users/{ALICE}/mailFolders/Inbox").json()
    assert inbox["totalItemCount"] == 1 and inbox["unreadItemCount"] == 1
    child = client.post(
        f"/users/{ALICE}/mailFolders/{_enc(ids['sub'])}/childFolders", json={"displayName": "VIP"}
    )
    assert child.status_code == 201
    children = client.get(f"/users/{ALICE}/mailFolders/{_enc(ids['sub'])}/childFolders").json()["value"]
    assert [c["displayName"] for c in children] == ["VIP"]
    again = client.post(
        f"/users/{ALICE}/mailFolders/{_enc(ids['sub'])}/childFolders", json={"displayName": "vip"}
    )
    assert again.status_code == 409


def _round(client: httpx.Client, first: httpx.Response) -> tuple[list[dict[str, Any]], str]:
    assert first.status_code == 200, first.text
    page = first.json()
    rows = list(page["value"])
    while "@odata.nextLink" in page:
        page = client.get(page["@odata.nextLink"]).json()
        rows += page["value"]
    return rows, page["@odata.deltaLink"]


def test_message_delta_is_per_folder_and_filters_only_on_received_time(
    state: GraphState, client: httpx.Client
) -> None:
    ids = _seed(state)
    for n in range(3):
        state.add_message(ALICE, {"subject": f"extra {n}", "receivedDateTime": f"2026-03-1{n}T00:00:00Z"})
    delta = f"/users/{ALICE}/mailFolders/inbox/messages/delta"
    assert client.get(delta, params={"$filter": "categories/any(c:c eq 'D365 Import')"}).status_code == 400
    assert client.get(delta, params={"$expand": "singleValueExtendedProperties"}).status_code == 400
    rows, link = _round(
        client, client.get(delta, params={"$filter": "receivedDateTime ge 2026-03-01T00:00:00Z"})
    )
    assert len(rows) == 4 and ids["a"] in {r["id"] for r in rows}  # only the inbox
    assert all("categories" in r for r in rows)

    client.patch(f"/users/{ALICE}/messages/{_enc(ids['a'])}", json={"isRead": True})
    client.post(f"/users/{ALICE}/messages/{_enc(rows[1]['id'])}/move", json={"destinationId": "archive"})
    changes, link = _round(client, client.get(link))
    assert [r["id"] for r in changes if "@removed" not in r] == [ids["a"]]
    assert [r["id"] for r in changes if "@removed" in r] == [rows[1]["id"]]
    nothing, _ = _round(client, client.get(link))
    assert nothing == []
    state.expire_delta_tokens(ALICE)
    assert client.get(link).status_code == 410


def test_messages_and_folders_fit_the_csdl(state: GraphState, client: httpx.Client) -> None:
    schema = Schema(REFERENCE / "graph-v1.0-mailbox-subset.csdl.xml")
    ids = _seed(state)
    checked = 0
    expand = {"$expand": f"singleValueExtendedProperties($filter=id eq '{EXT}')"}
    for row in _all(client, f"/users/{ALICE}/messages", **expand):
        checked += schema.check(row, "message", "message")
    checked += schema.check(
        client.get(f"/users/{ALICE}/messages/{_enc(ids['b'])}").json(), "message", "message"
    )
    for folder in client.get(f"/users/{ALICE}/mailFolders").json()["value"]:
        checked += schema.check(folder, "mailFolder", "mailFolder")
    assert checked > 100
