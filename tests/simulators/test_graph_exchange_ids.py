"""The Graph stand-in's translateExchangeIds (user-translateexchangeids.md, convertidresult.md), and the
product's encoding of an AX 2012 hex entry id agreeing with it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulators.graph.app import create_graph_app
from simulators.graph.exchange_ids import FORMATS
from simulators.graph.state import GraphState
from simulators.serve import serve
from sync_core.exchange.id_translation import entry_id_from_hex, may_be_base64_id
from tests.doctor.conftest import jwt

TOKEN = "ids-token"
ALICE, BOB = "alice@contoso.com", "bob@contoso.com"


@pytest.fixture
def state() -> GraphState:
    graph = GraphState(TOKEN)
    graph.add_user(ALICE, "Alice Adams")
    graph.add_user(BOB, "Bob Kahale")
    return graph


@pytest.fixture
def client(state: GraphState) -> Iterator[httpx.Client]:
    with (
        serve(create_graph_app(state)) as server,
        httpx.Client(base_url=server.url + "/v1.0", headers={"Authorization": f"Bearer {TOKEN}"}) as c,
    ):
        yield c


def _event(state: GraphState, mailbox: str = ALICE) -> str:
    when = {"dateTime": "2026-03-21T10:00:00", "timeZone": "UTC"}
    return str(state.add_event(mailbox, {"subject": "s", "start": when, "end": when})["id"])


def _translate(client: httpx.Client, ids: list[str], source: str, target: str, user: str = ALICE) -> Any:
    body = {"inputIds": ids, "sourceIdType": source, "targetIdType": target}
    return client.post(f"/users/{user}/translateExchangeIds", json=body)


def test_every_format_translates_to_every_other(state: GraphState, client: httpx.Client) -> None:
    formats = state.exchange_ids(ALICE, _event(state))
    for source in FORMATS:
        for target in FORMATS:
            answer = _translate(client, [formats[source]], source, target)
            assert answer.status_code == 200
            assert answer.json()["value"] == [{"sourceId": formats[source], "targetId": formats[target]}]


def test_the_binary_formats_are_the_documented_url_safe_base64(state: GraphState) -> None:
    formats = state.exchange_ids(ALICE, _event(state))
    # What the product makes of the hex the AX 2012 client stored is the stand-in's entryId.
    assert entry_id_from_hex(formats["entryIdHex"]) == formats["entryId"]
    assert entry_id_from_hex(formats["entryIdHex"].lower()) == formats["entryId"]
    for name in ("entryId", "immutableEntryId"):
        assert formats[name][-1] in "012" and not {"+", "/", "="} & set(formats[name])
    assert entry_id_from_hex("not hex") is None and not may_be_base64_id("not an id!")


def test_unknown_ids_fail_one_by_one(state: GraphState, client: httpx.Client) -> None:
    kept, gone = _event(state), _event(state)
    gone_ids = state.exchange_ids(ALICE, gone)
    state.delete_event(ALICE, gone)
    bobs = state.exchange_ids(BOB, _event(state, BOB))["entryId"]
    inputs = [state.exchange_ids(ALICE, kept)["entryId"], gone_ids["entryId"], "garbage", bobs]
    results = _translate(client, inputs, "entryId", "restImmutableEntryId").json()["value"]
    assert [r["sourceId"] for r in results] == inputs
    assert results[0] == {"sourceId": inputs[0], "targetId": kept}
    codes = [r["errorDetails"]["code"] for r in results[1:]]
    assert codes == ["ErrorItemNotFound", "ErrorInvalidIdMalformed", "ErrorItemNotFound"]
    assert all("targetId" not in r for r in results[1:])
    # An id of another format is malformed as this one.
    wrong = _translate(client, [gone_ids["restId"]], "ewsId", "restId").json()["value"][0]
    assert wrong["errorDetails"]["code"] == "ErrorInvalidIdMalformed"


def test_limits_and_parameters(state: GraphState, client: httpx.Client) -> None:
    event = _event(state)
    too_many = _translate(client, [event] * 1001, "restImmutableEntryId", "restId")
    assert too_many.status_code == 400
    assert _translate(client, [event] * 1000, "restImmutableEntryId", "restId").status_code == 200
    assert _translate(client, [event], "mapiId", "restId").status_code == 400
    assert _translate(client, [event], "restId", "ewsID").status_code == 400
    assert client.get(f"/users/{ALICE}/translateExchangeIds").status_code == 405


def test_permissions(state: GraphState, client: httpx.Client) -> None:
    """Application permission User.Read.All or User.ReadWrite.All (the page's Permissions table)."""
    event = _event(state)
    body = {"inputIds": [event], "sourceIdType": "restImmutableEntryId", "targetIdType": "restId"}
    for roles, status in ((("Calendars.ReadWrite",), 403), (("User.Read.All",), 200)):
        state.token = jwt(roles)  # the stand-in takes the token it was given; its roles decide
        headers = {"Authorization": f"Bearer {state.token}"}
        answer = client.post(f"/users/{ALICE}/translateExchangeIds", json=body, headers=headers)
        assert answer.status_code == status
