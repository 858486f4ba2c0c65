"""The F&O stand-in's data events (simulators/fno/events.py): the documented RemoteExecutionContext shape,
emitted after the write on a thread of their own, for Activities and ContactPersons only; duplicates, late
delivery and a webhook endpoint over real HTTP."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.fno.app import create_fno_app
from simulators.fno.events import DataEvents, http_delivery, record_guid
from simulators.fno.state import FnoState
from simulators.serve import serve
from sync_core.fno_events.event import parse
from tests.simulators.test_fno_http import Stand, batch_body, create, post_batch

# The top-level members of the RemoteExecutionContext Dataverse posts (use-webhooks.md's example).
DOCUMENTED = {
    "BusinessUnitId",
    "CorrelationId",
    "Depth",
    "InitiatingUserId",
    "InputParameters",
    "IsExecutingOffline",
    "IsInTransaction",
    "IsOfflinePlayback",
    "IsolationMode",
    "MessageName",
    "Mode",
    "OperationCreatedOn",
    "OperationId",
    "OrganizationId",
    "OrganizationName",
    "OutputParameters",
    "OwningExtension",
    "ParentContext",
    "PostEntityImages",
    "PreEntityImages",
    "PrimaryEntityId",
    "PrimaryEntityName",
    "RequestId",
    "SecondaryEntityName",
    "SharedVariables",
    "Stage",
    "UserId",
}


def _activity(state: FnoState, **extra: Any) -> str:
    row = {
        "Category": "Appointment",
        "Purpose": "Visit",
        "ResponsibleWorkerPersonnelNumber": "000101",
        **extra,
    }
    return str(state.add("Activities", row)["ActivityNumber"])


def _attributes(context: dict[str, Any], parameter: str = "Target") -> dict[str, Any]:
    entity = next(p["value"] for p in context["InputParameters"] if p["key"] == parameter)
    return {a["key"]: a["value"] for a in entity["Attributes"]}


def test_create_update_delete_emit_the_documented_shape() -> None:
    state = FnoState()
    bodies: list[bytes] = []
    events = DataEvents(bodies.append).attach(state)
    try:
        number = _activity(state)
        key = {"dataAreaId": "usmf", "ActivityNumber": number}
        state.update("Activities", key, {"Purpose": "Moved"})
        state.delete("Activities", key)
        state.add("Workers", {"PersonnelNumber": "000999", "Name": "Not an event"})
        events.drain()
    finally:
        events.close()
    contexts = [json.loads(b) for b in bodies]
    assert [c["MessageName"] for c in contexts] == [
        "OnExternalCreated",
        "OnExternalUpdated",
        "OnExternalDeleted",
    ]
    for context in contexts:
        assert set(context) >= DOCUMENTED
        assert context["PrimaryEntityName"] == "mserp_smmactivityentity"
        assert context["Mode"] == 1 and context["Stage"] == 40
        assert context["OperationCreatedOn"].startswith("/Date(")
        attributes = _attributes(context)
        assert attributes["mserp_activitynumber"] == number and attributes["mserp_dataareaid"] == "usmf"
        assert attributes["mserp_primaryfield"] == f"usmf|{number}"
        assert context["PrimaryEntityId"] == attributes["mserp_smmactivityentityid"]
    created, updated, deleted = contexts
    assert _attributes(updated)["mserp_purpose"] == "Moved"
    assert _attributes(updated, "PreImage")["mserp_purpose"] == "Visit"
    assert _attributes(deleted)["mserp_responsibleworkerpersonnelnumber"] == "000101"
    # Enums are option sets (numbers), null dates are left out (data-events.md).
    assert set(_attributes(created)["mserp_category"]) == {"__type", "Value"}
    assert all(v is not None for k, v in _attributes(created).items() if k.endswith("datetime"))
    # What the product reads of them.
    assert [parse(b).operation for b in bodies] == ["create", "update", "delete"]


def test_the_record_guid_holds_the_entity_id_and_the_recid() -> None:
    guid = record_guid(0x2B11, 5637144577)
    assert guid.startswith("00002b11-0000-0000-") and int(guid.replace("-", "")[-16:], 16) == 5637144577


def test_delivery_is_after_the_write_on_another_thread() -> None:
    state = FnoState()
    seen: list[tuple[str, bool]] = []
    release = threading.Event()

    def deliver(body: bytes) -> None:
        release.wait(5)
        seen.append((threading.current_thread().name, state.lock.acquire(blocking=False)))
        state.lock.release()

    events = DataEvents(deliver).attach(state)
    try:
        _activity(state)
        assert seen == []  # the write returned before anything was delivered
        release.set()
        events.drain()
    finally:
        events.close()
    assert seen == [("fno-data-events", True)]


def test_duplicates_late_delivery_and_failed_deliveries_are_retried() -> None:
    state = FnoState()
    bodies: list[bytes] = []
    failures = [1]

    def flaky(body: bytes) -> None:
        if failures:
            failures.pop()
            raise ConnectionError("endpoint down")
        bodies.append(body)

    events = DataEvents(flaky, duplicate_every=2, delay_seconds=0.05).attach(state)
    try:
        _activity(state)
        _activity(state)
        events.drain()
    finally:
        events.close()
    assert events.emitted == 2 and len(bodies) == 3 and events.failed == 0  # the second came twice
    assert bodies[1] == bodies[2]


def test_http_delivery_posts_as_a_dataverse_webhook() -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def endpoint(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=202)

    state = FnoState()
    with serve(Starlette(routes=[Route("/events", endpoint, methods=["POST"])])) as server:
        events = DataEvents(http_delivery(f"{server.url}/events"), entities=("ContactPersons",)).attach(state)
        try:
            state.add("ContactPersons", {"FirstName": "Jane", "LastName": "Doe"})
            _activity(state)  # not an entity this endpoint gets
            events.drain()
        finally:
            events.close()
    ((headers, body),) = received
    assert headers["x-ms-dynamics-entity-name"] == "mserp_smmcontactpersonentity"
    assert headers["x-ms-dynamics-request-name"] == "OnExternalCreated"
    assert parse(body).entity.collection == "ContactPersons"


def test_the_stand_in_emits_the_reference_shape_and_the_product_reads_it() -> None:
    reference = json.loads(
        (Path(__file__).resolve().parents[2] / "simulators" / "reference" / "fno-data-event.json").read_text()
    )["example"]
    state = FnoState()
    bodies: list[bytes] = []
    events = DataEvents(bodies.append).attach(state)
    try:
        number = _activity(state, StartDateTime="2026-03-23T09:00:00Z", EndDateTime="2026-03-23T10:30:00Z")
        state.update("Activities", {"dataAreaId": "usmf", "ActivityNumber": number}, {"Purpose": "Moved"})
        events.drain()
    finally:
        events.close()
    emitted = json.loads(bodies[-1])
    assert set(emitted) == set(reference)
    for name in ("Target", "PreImage"):
        ours = next(p["value"] for p in emitted["InputParameters"] if p["key"] == name)
        theirs = next(p["value"] for p in reference["InputParameters"] if p["key"] == name)
        assert set(ours) == set(theirs)
        assert {a["key"] for a in theirs["Attributes"]} <= {a["key"] for a in ours["Attributes"]}
    event = parse(json.dumps(reference).encode())
    assert (event.entity.collection, event.operation, event.company) == ("Activities", "update", "usmf")


def test_a_changeset_emits_once_it_commits_and_nothing_when_rolled_back() -> None:

    state = FnoState("t")
    bodies: list[bytes] = []
    events = DataEvents(bodies.append).attach(state)
    try:
        with (
            serve(create_fno_app(state)) as server,
            httpx.Client(base_url=server.url, headers={"Authorization": "Bearer t"}) as client,
        ):
            stand = Stand(state, client, server.url)
            post_batch(stand, batch_body([create("one"), create("two", ', "Nope": 1')], []))
            events.drain()
            assert bodies == []  # rolled back: nothing happened
            post_batch(stand, batch_body([create("one"), create("two")], []))
            events.drain()
    finally:
        events.close()
    assert [parse(b).operation for b in bodies] == ["create", "create"]
