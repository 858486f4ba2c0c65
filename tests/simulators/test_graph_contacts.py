"""The Graph stand-in's contact folders, contacts and contacts delta, against Microsoft's schema and examples."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from simulators.graph import contacts
from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.serve import serve
from tests.simulators.test_graph_schema import Schema

REFERENCE = Path(__file__).resolve().parents[2] / "simulators" / "reference"
TOKEN = "contacts-token"
ALICE = "alice@contoso.com"
EXT = "String {5d365e5c-1f0a-4c3b-9a53-0e7c5a1d2b44} Name D365SyncKey"
IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}


@pytest.fixture
def state() -> GraphState:
    graph = GraphState(TOKEN, page_size=2)
    graph.add_user(ALICE, "Alice Adams")
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
    data: dict[str, Any] = json.loads((REFERENCE / "graph-examples" / name).read_text())
    return data


def _folder(client: httpx.Client, name: str = "Dynamics 365") -> str:
    answer = client.post(f"/users/{ALICE}/contactFolders", json={"displayName": name})
    assert answer.status_code == 201
    return str(answer.json()["id"])


def _create(
    client: httpx.Client, folder: str, body: dict[str, Any], headers: dict[str, str] = IMMUTABLE
) -> Any:
    answer = client.post(
        f"/users/{ALICE}/contactFolders/{quote(folder, safe='')}/contacts", json=body, headers=headers
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _round(client: httpx.Client, url: str, **kw: Any) -> tuple[list[dict[str, Any]], str]:
    page = client.get(url, headers=IMMUTABLE, **kw).json()
    assert page["value"] == [] and "@odata.nextLink" in page  # every round starts with an empty page
    rows: list[dict[str, Any]] = []
    while "@odata.nextLink" in page:
        page = client.get(page["@odata.nextLink"], headers=IMMUTABLE).json()
        rows += page["value"]
    return rows, page["@odata.deltaLink"]


def test_folders_create_list_filter_and_refuse_duplicates(client: httpx.Client) -> None:
    folder_id = _folder(client)
    again = client.post(f"/users/{ALICE}/contactFolders", json={"displayName": "dynamics 365"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "ErrorFolderExists"
    listed = client.get(f"/users/{ALICE}/contactFolders").json()["value"]
    assert [f["displayName"] for f in listed] == ["Dynamics 365"]  # the default folder's children
    assert set(listed[0]) == set(_example("contactfolder-list.json")["response"]["value"][0])
    found = client.get(f"/users/{ALICE}/contactFolders", params={"$filter": "displayName eq 'Dynamics 365'"})
    assert [f["id"] for f in found.json()["value"]] == [folder_id]
    assert client.get(f"/users/{ALICE}/contactFolders/{quote(folder_id, safe='')}").json()["id"] == folder_id
    assert client.post(f"/users/{ALICE}/contactFolders", json={"name": "x"}).status_code == 400


def test_the_default_folder_is_the_parent_of_its_child_folders_and_has_no_other_delta(
    client: httpx.Client,
) -> None:
    """POST /users/{id}/contactFolders creates under the default Contacts folder (user-post-contactfolders),
    so a folder's parentFolderId is where POST /users/{id}/contacts puts a contact (user-post-contacts);
    contacts delta is documented per folder only (contact-delta), and no well-known folder name is."""
    folder_id = _folder(client)
    [listed] = client.get(f"/users/{ALICE}/contactFolders").json()["value"]
    created = client.post(f"/users/{ALICE}/contacts", json={"givenName": "Dana"}, headers=IMMUTABLE)
    default_id = created.json()["parentFolderId"]
    assert listed["parentFolderId"] == default_id != folder_id
    got = client.get(f"/users/{ALICE}/contactFolders/{quote(folder_id, safe='')}").json()
    assert got["parentFolderId"] == default_id
    rows, _ = _round(client, f"/users/{ALICE}/contactFolders/{quote(default_id, safe='')}/contacts/delta")
    assert [r["id"] for r in rows] == [created.json()["id"]]
    undocumented = client.get(f"/users/{ALICE}/contacts/delta", headers=IMMUTABLE)
    assert undocumented.status_code == 400 and "delta" in undocumented.json()["error"]["message"]
    assert client.get(f"/users/{ALICE}/contactFolders/contacts").status_code == 404


def test_contact_crud_display_name_and_validation(client: httpx.Client) -> None:
    folder_id = _folder(client)
    created = _create(
        client, folder_id, {"givenName": "Pavel", "surname": "Bansky", "businessPhones": ["+1 732"]}
    )
    assert created["displayName"] == "Pavel Bansky"  # computed on create
    assert created["parentFolderId"] == folder_id
    url = f"/users/{ALICE}/contacts/{quote(created['id'], safe='')}"
    patched = client.patch(url, json={"givenName": "Paul"}, headers=IMMUTABLE).json()
    assert patched["givenName"] == "Paul" and patched["displayName"] == "Paul Bansky"  # generated again
    assert patched["changeKey"] != created["changeKey"]
    bad = client.patch(url, json={"colour": "red"}, headers=IMMUTABLE)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "RequestBodyRead"
    assert client.patch(url, json={"businessPhones": "+1"}, headers=IMMUTABLE).status_code == 400
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_extended_property_filter_and_expand(client: httpx.Client) -> None:
    folder_id = _folder(client)
    stamped = _create(
        client,
        folder_id,
        {"givenName": "A", "singleValueExtendedProperties": [{"id": EXT, "value": "usmf|CP-1"}]},
    )
    _create(
        client,
        folder_id,
        {"givenName": "B", "singleValueExtendedProperties": [{"id": EXT, "value": "usmf|CP-2"}]},
    )
    flt = f"singleValueExtendedProperties/any(ep: ep/id eq '{EXT.lower()}' and ep/value eq 'usmf|CP-1')"
    found = client.get(
        f"/users/{ALICE}/contactFolders/{quote(folder_id, safe='')}/contacts",
        params={"$filter": flt, "$expand": f"singleValueExtendedProperties($filter=id eq '{EXT}')"},
        headers=IMMUTABLE,
    ).json()["value"]
    assert [c["id"] for c in found] == [stamped["id"]]
    assert found[0]["singleValueExtendedProperties"] == [{"id": EXT, "value": "usmf|CP-1"}]
    plain = client.get(f"/users/{ALICE}/contacts/{quote(stamped['id'], safe='')}").json()
    assert "singleValueExtendedProperties" not in plain


def test_immutable_ids_survive_a_move_regular_ids_do_not(client: httpx.Client, state: GraphState) -> None:
    folder_id = _folder(client)
    immutable = _create(client, folder_id, {"givenName": "Moving"})
    regular = client.get(f"/users/{ALICE}/contacts/{quote(immutable['id'], safe='')}").json()["id"]
    assert regular != immutable["id"]
    contacts.user_move_contact(state, ALICE, immutable["id"], None)
    assert client.get(f"/users/{ALICE}/contacts/{quote(immutable['id'], safe='')}").status_code == 200
    assert client.get(f"/users/{ALICE}/contacts/{quote(regular, safe='')}").status_code == 404


def test_delta_per_folder_with_removals_repeats_and_expiry(client: httpx.Client, state: GraphState) -> None:
    folder_id = _folder(client)
    other = _folder(client, "Private")
    base = f"/users/{ALICE}/contactFolders/{quote(folder_id, safe='')}/contacts/delta"
    ids = [_create(client, folder_id, {"givenName": f"N{i}"})["id"] for i in range(3)]
    _create(client, other, {"givenName": "Elsewhere"})
    rows, delta_link = _round(client, base)
    assert {r["id"] for r in rows} == set(ids)
    assert len(rows) > len(ids)  # pages overlap by one item: clients must tolerate repeats
    # Changed, deleted, moved away, created-then-deleted: all show up in the next round.
    client.patch(f"/users/{ALICE}/contacts/{quote(ids[0], safe='')}", json={"jobTitle": "CEO"})
    client.delete(f"/users/{ALICE}/contacts/{quote(ids[1], safe='')}")
    contacts.user_move_contact(state, ALICE, ids[2], "Private")
    ghost = _create(client, folder_id, {"givenName": "Ghost"})["id"]
    client.delete(f"/users/{ALICE}/contacts/{quote(ghost, safe='')}")
    rows, delta_link = _round(client, delta_link)
    changed = {r["id"] for r in rows if "@removed" not in r}
    removed = {r["id"] for r in rows if "@removed" in r}
    assert changed == {ids[0]} and removed == {ids[1], ids[2], ghost}
    assert all(r["@removed"] == {"reason": "deleted"} for r in rows if "@removed" in r)
    rows, delta_link = _round(client, delta_link)
    assert rows == []
    state.expire_delta_tokens(ALICE)
    expired = client.get(delta_link, headers=IMMUTABLE)
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "SyncStateNotFound"
    assert client.get(base, params={"$filter": "givenName eq 'x'"}).status_code == 400
    selected, _ = _round(client, base, params={"$select": "displayName"})
    assert all(set(r) <= {"@odata.type", "@odata.etag", "id", "displayName"} for r in selected)


def test_contacts_fit_the_csdl_and_the_published_examples(client: httpx.Client) -> None:
    schema = Schema(REFERENCE / "graph-v1.0-mailbox-subset.csdl.xml")
    folder_id = _folder(client)
    body = _example("contact-create.json")["request_body"]
    created = _create(
        client, folder_id, {**body, "businessAddress": {"city": "Redmond"}, "categories": ["D365 Sync"]}
    )
    got = client.get(f"/users/{ALICE}/contacts/{quote(created['id'], safe='')}").json()
    published = _example("contact-get.json")["response"]
    assert set(published) <= set(got)
    assert set(_example("contact-create.json")["response"]) <= set(created)
    checked = schema.check(got, "contact", "contact") + schema.check(created, "contact", "contact")
    for folder in client.get(f"/users/{ALICE}/contactFolders").json()["value"]:
        checked += schema.check(folder, "contactFolder", "contactFolder")
    rows, _ = _round(client, f"/users/{ALICE}/contactFolders/{quote(folder_id, safe='')}/contacts/delta")
    for row in rows:
        checked += schema.check({k: v for k, v in row.items() if k != "@removed"}, "contact", "delta")
    assert checked > 80
    assert (
        got["createdDateTime"].endswith("Z") and "." not in got["createdDateTime"]
    )  # whole seconds, as published


def test_patch_with_a_stale_if_match_is_refused_and_changes_nothing(client: httpx.Client) -> None:
    created = _create(client, _folder(client), {"givenName": "Pavel", "surname": "Bansky"})
    url = f"/users/{ALICE}/contacts/{quote(created['id'], safe='')}"
    first = client.patch(
        url, json={"jobTitle": "Buyer"}, headers={**IMMUTABLE, "If-Match": created["@odata.etag"]}
    )
    assert first.status_code == 200 and first.json()["@odata.etag"] != created["@odata.etag"]
    stale = client.patch(
        url, json={"jobTitle": "Seller"}, headers={**IMMUTABLE, "If-Match": created["@odata.etag"]}
    )
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    assert client.get(url, headers=IMMUTABLE).json()["jobTitle"] == "Buyer"
