"""Every JSON object the Graph stand-in returns must fit Microsoft's CSDL and the published examples."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.serve import serve

REFERENCE = Path(__file__).resolve().parents[2] / "simulators" / "reference"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
TOKEN = "schema-token"
ALICE = "alice@contoso.com"
EXT_ID = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name FnoKey"
_EDM_CHECKS: dict[str, Any] = {
    "Edm.String": lambda v: isinstance(v, str),
    "Edm.Boolean": lambda v: isinstance(v, bool),
    "Edm.Int32": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Edm.Double": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Edm.Guid": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f-]{36}", v) is not None,
    "Edm.DateTimeOffset": lambda v: (
        isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z", v) is not None
    ),
    "Edm.Date": lambda v: isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", v) is not None,
    "Edm.TimeOfDay": lambda v: (
        isinstance(v, str) and re.fullmatch(r"\d\d:\d\d:\d\d(\.\d{1,7})?", v) is not None
    ),
}


class Schema:
    def __init__(self, path: Path) -> None:
        root = ET.parse(path).getroot()
        self.types: dict[str, tuple[str | None, dict[str, str]]] = {}
        self.enums: dict[str, set[str]] = {}
        for node in root.iter():
            name = node.get("Name")
            if node.tag == f"{EDM}EnumType" and name:
                self.enums[name] = {m.get("Name", "") for m in node.findall(f"{EDM}Member")}
            elif node.tag in (f"{EDM}EntityType", f"{EDM}ComplexType") and name:
                props = {
                    p.get("Name", ""): p.get("Type", "")
                    for p in node
                    if p.tag in (f"{EDM}Property", f"{EDM}NavigationProperty")
                }
                base = node.get("BaseType")
                self.types[name] = (base.split(".")[-1] if base else None, props)

    def properties(self, type_name: str) -> dict[str, str]:
        props: dict[str, str] = {}
        current: str | None = type_name
        while current:
            base, own = self.types[current]
            props = {**own, **props}
            current = base
        return props

    def check(self, value: Any, type_name: str, where: str) -> int:
        """Assert `value` fits `type_name`; returns how many properties were checked."""
        collection = re.fullmatch(r"Collection\((.+)\)", type_name)
        if collection:
            assert isinstance(value, list), where
            return sum(self.check(v, collection.group(1), f"{where}[]") for v in value)
        if value is None:
            return 0
        if type_name in _EDM_CHECKS:
            assert _EDM_CHECKS[type_name](value), f"{where}: {value!r} is not {type_name}"
            return 0
        short = type_name.split(".")[-1]
        if short in self.enums:
            assert value in self.enums[short], f"{where}: {value!r} not in enum {short}"
            return 0
        assert isinstance(value, dict), f"{where}: expected object of {short}"
        props = self.properties(short)
        checked = 0
        for key, item in value.items():
            if key.startswith("@") or "@odata." in key:
                continue  # instance annotations are not properties
            assert key in props, f"{where}: '{key}' is not a property of {short}"
            checked += 1 + self.check(item, props[key], f"{where}.{key}")
        return checked


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema(REFERENCE / "graph-v1.0-mailbox-subset.csdl.xml")


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    state = GraphState(TOKEN, page_size=2)
    state.add_user(ALICE, "Alice Adams", time_zone="Pacific Standard Time")
    state.add_group("team", [ALICE])
    headers = {"Authorization": f"Bearer {TOKEN}", "Prefer": 'IdType="ImmutableId"'}
    with (
        serve(create_graph_app(state)) as server,
        httpx.Client(base_url=server.url + "/v1.0", headers=headers) as c,
    ):
        yield c


def _seed(client: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    single = {
        "subject": "Visit",
        "body": {"contentType": "text", "content": "Agenda"},
        "start": {"dateTime": "2024-06-03T09:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2024-06-03T10:00:00", "timeZone": "Pacific Standard Time"},
        "location": {"displayName": "HQ"},
        "categories": ["D365 Sync"],
        "attendees": [{"emailAddress": {"address": "bob@fabrikam.com", "name": "Bob"}, "type": "optional"}],
        "singleValueExtendedProperties": [{"id": EXT_ID, "value": "A-1"}],
        "transactionId": "tx-1",
        "sensitivity": "Private",
        "showAs": "tentative",
    }
    series = {
        "subject": "Weekly",
        "start": {"dateTime": "2024-06-04T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2024-06-04T09:30:00", "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Tuesday"]},
            "range": {"type": "endDate", "startDate": "2024-06-04", "endDate": "2024-06-25"},
        },
    }
    first = client.post(f"/users/{ALICE}/events", json=single).json()
    second = client.post(f"/users/{ALICE}/events", json=series).json()
    return first, second


def _responses(client: httpx.Client) -> Iterator[tuple[str, Any]]:
    """(CSDL type, JSON object) for everything the stand-in answers about events, users, settings, categories."""
    single, series = _seed(client)
    yield "event", single
    yield "event", series
    expand = {"$expand": f"singleValueExtendedProperties($filter=id eq '{EXT_ID}')"}
    yield "event", client.get(f"/users/{ALICE}/events/{quote(single['id'], safe='')}", params=expand).json()
    window = {"startDateTime": "2024-06-01T00:00:00Z", "endDateTime": "2024-07-01T00:00:00Z", "$top": "50"}
    for row in client.get(f"/users/{ALICE}/calendarView", params=window).json()["value"]:
        yield "event", row
    for row in client.get(f"/users/{ALICE}/events").json()["value"]:
        yield "event", row
    delta_window = {k: v for k, v in window.items() if k != "$top"}
    page = client.get(f"/users/{ALICE}/calendarView/delta", params=delta_window).json()
    while "@odata.nextLink" in page:
        page = client.get(page["@odata.nextLink"]).json()
        for row in page["value"]:
            yield "event", row
    yield "user", client.get(f"/users/{ALICE}").json()
    for row in client.get("/groups/team/members").json()["value"]:
        yield "user", row
    yield "mailboxSettings", client.get(f"/users/{ALICE}/mailboxSettings").json()
    for row in client.get(f"/users/{ALICE}/outlook/masterCategories").json()["value"]:
        yield "outlookCategory", row
    created = client.post(
        f"/users/{ALICE}/outlook/masterCategories", json={"displayName": "New", "color": "preset2"}
    )
    yield "outlookCategory", created.json()


def test_every_returned_property_exists_in_the_csdl(schema: Schema, client: httpx.Client) -> None:
    checked = 0
    kinds = set()
    for type_name, obj in _responses(client):
        checked += schema.check(obj, type_name, type_name)
        kinds.add(type_name)
    assert kinds == {"event", "user", "mailboxSettings", "outlookCategory"}
    assert checked > 500


def test_schema_check_catches_unknown_properties_and_enum_values(schema: Schema) -> None:
    with pytest.raises(AssertionError):
        schema.check({"subject": "x", "colour": "red"}, "event", "event")
    with pytest.raises(AssertionError):
        schema.check({"showAs": "Busy"}, "event", "event")
    with pytest.raises(AssertionError):
        schema.check({"start": {"dateTime": "x", "zone": "UTC"}}, "event", "event")


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REFERENCE / "graph-examples" / name).read_text())
    return data


def test_event_json_has_the_published_top_level_keys(client: httpx.Client) -> None:
    single, _series = _seed(client)
    published = set(_example("event-create.json")["response"])
    assert set(single) == published  # originalStart is added only on occurrences and exceptions
    select = "subject,body,bodyPreview,organizer,attendees,start,end,location,hideAttendees"
    got = client.get(
        f"/users/{ALICE}/events/{quote(single['id'], safe='')}", params={"$select": select}
    ).json()
    assert set(got) == set(_example("event-get.json")["response"])


def _delta_round(client: httpx.Client, first: httpx.Response) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    page, rows = first.json(), []
    while "@odata.nextLink" in page:
        page = client.get(page["@odata.nextLink"]).json()
        rows += page["value"]
    return rows, page


def test_delta_items_have_the_published_shapes(client: httpx.Client) -> None:
    single, _series = _seed(client)
    window = {"startDateTime": "2024-06-01T00:00:00Z", "endDateTime": "2024-07-01T00:00:00Z"}
    first = client.get(f"/users/{ALICE}/calendarView/delta", params=window)
    assert set(first.json()) == set(_example("event-delta-initial.json")["response"])
    rows, last = _delta_round(client, first)
    assert set(last) == set(_example("event-delta-final.json")["response"])
    published = [
        item
        for name in ("event-delta-initial.json", "event-delta-page2.json", "event-delta-final.json")
        for item in _example(name)["response"]["value"]
    ]
    assert all(set(item) <= set(row) for item in published for row in rows)
    client.delete(f"/users/{ALICE}/events/{quote(single['id'], safe='')}")
    client.patch(f"/users/{ALICE}/events/{quote(rows[-1]['id'], safe='')}", json={"subject": "changed"})
    changes, _ = _delta_round(client, client.get(last["@odata.deltaLink"]))
    removed_example, changed_example = _example("event-delta-nextround.json")["response"]["value"]
    removed = [r for r in changes if "@removed" in r]
    changed = [r for r in changes if "@removed" not in r]
    assert len(removed) == 1 and set(removed[0]) == set(removed_example)
    assert changed and all(set(changed_example) <= set(row) for row in changed)
