"""Data events of the F&O stand-in: every create, update and delete of an `Activities` or `ContactPersons` row
posts a message, asynchronously after the write, as F&O does once a data event is activated for an endpoint.

What the message is, as Microsoft documents it:
- data-events.md (learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/business-events/data-events): data
  events need the Power Platform integration; "the payload of the event contains the corresponding entity
  record"; the schema is the `RemoteExecutionContext` class, the entity's fields in the `Target` and
  `PreImage` input parameters; datetime properties that are null are left out.
- managing-business-event-endpoints.md: with the integration on, events are proxied through Dataverse to the
  endpoint (a Service Bus queue stays a Service Bus queue, HTTPS becomes a Dataverse webhook).
- Dataverse use-webhooks.md / write-listener-application-azure-solution.md: the body is the JSON of a
  RemoteExecutionContext (the same for Service Bus with message format JSON and for webhooks); webhooks carry
  `x-ms-dynamics-entity-name` and `x-ms-dynamics-request-name` headers.
- how-to-dataverse-events.md: the data events of a virtual entity are `OnExternalCreated`,
  `OnExternalUpdated` and `OnExternalDeleted` (the Dataverse actions of those names take `Target`, and for
  updates `PreImage`).
- entity-modeling.md (power-platform): the virtual entity is named after the F&O entity's physical name; its
  primary key is a GUID made of the data entity's id (first 4 bytes) and the root data source's RecId (last
  8 bytes); `mserp_primaryfield` is the entity key's fields as strings joined by `|`.

Not documented, and assumed here (docs/fno-events.md): field names `mserp_<field in lower case>` and the
physical entity names below. Delivery is at-least-once; faults can repeat or delay messages. The writes of a
`$batch` changeset emit once it commits, nothing when it is rolled back (state.py `commit`/`restore`).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from simulators.fno.schema import NULL_DATE, parse_datetime

if TYPE_CHECKING:
    from simulators.fno.state import FnoState

Deliver = Callable[[bytes], None]
CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
# Public collection -> (virtual entity name in Dataverse, data entity id used in the record GUID).
VIRTUAL_ENTITIES: dict[str, tuple[str, int]] = {
    "Activities": ("mserp_smmactivityentity", 0x0000_2B11),
    "ContactPersons": ("mserp_smmcontactpersonentity", 0x0000_2B12),
}
MESSAGES = {"create": "OnExternalCreated", "update": "OnExternalUpdated", "delete": "OnExternalDeleted"}
ORGANIZATION_ID = "4ef5b371-e89e-e711-8122-000d3aa2331c"
ORGANIZATION_NAME = "standin"
_STOP = object()


def http_delivery(url: str, *, timeout: float = 10.0) -> Deliver:
    """POST each message to `url` as a Dataverse webhook does (an F&O HTTPS endpoint, proxied)."""

    def deliver(body: bytes) -> None:
        context = json.loads(body)
        headers = {
            "Content-Type": "application/json",
            "x-ms-dynamics-organization": f"{ORGANIZATION_NAME}.crm.dynamics.com",
            "x-ms-dynamics-entity-name": str(context.get("PrimaryEntityName", "")),
            "x-ms-dynamics-request-name": str(context.get("MessageName", "")),
            "x-ms-correlation-request-id": str(context.get("CorrelationId", "")),
        }
        httpx.post(url, content=body, headers=headers, timeout=timeout).raise_for_status()

    return deliver


def record_guid(entity_id: int, recid: int) -> str:
    """The virtual entity's primary key: data entity id in the first 4 bytes, RecId in the last 8."""
    return str(uuid.UUID(bytes=entity_id.to_bytes(4, "big") + bytes(4) + recid.to_bytes(8, "big")))


def _date(value: str) -> str | None:
    parsed = parse_datetime(value)
    if parsed is None or value == NULL_DATE:
        return None  # F&O's empty date is null in Dataverse, and null datetimes are left out
    return f"/Date({int(parsed.timestamp() * 1000)})/"


def _attributes(state: FnoState, entity_set: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    entity = state.entity(entity_set)
    out: list[dict[str, Any]] = []
    for name, value in record.items():
        prop = entity.properties.get(name)
        if prop is None:
            continue
        shown: Any = value
        if prop.enum is not None and isinstance(value, str) and value in prop.enum.members:
            # Enums are global option sets; their integer values are not stable between systems.
            shown = {"__type": f"OptionSetValue:{CONTRACTS}", "Value": prop.enum.members[value]}
        elif prop.edm_type == "Edm.DateTimeOffset" and isinstance(value, str):
            shown = _date(value)
            if shown is None:
                continue
        out.append({"key": f"mserp_{name.lower()}", "value": shown})
    primary = "|".join(str(record.get(k, "")) for k in entity.keys)
    out.append({"key": "mserp_primaryfield", "value": primary})
    return out


def _entity(state: FnoState, entity_set: str, record: dict[str, Any], guid: str) -> dict[str, Any]:
    name, _ = VIRTUAL_ENTITIES[entity_set]
    attributes = _attributes(state, entity_set, record)
    attributes.append({"key": f"{name}id", "value": guid})
    return {
        "__type": f"Entity:{CONTRACTS}",
        "Attributes": attributes,
        "EntityState": None,
        "FormattedValues": [],
        "Id": guid,
        "KeyAttributes": [],
        "LogicalName": name,
        "RelatedEntities": [],
        "RowVersion": None,
    }


def remote_execution_context(
    state: FnoState,
    entity_set: str,
    operation: str,
    record: dict[str, Any],
    previous: dict[str, Any] | None,
    recid: int,
    now: datetime,
) -> dict[str, Any]:
    """The message body (use-webhooks.md shows the same document for a Dataverse table's Update)."""
    name, entity_id = VIRTUAL_ENTITIES[entity_set]
    guid = record_guid(entity_id, recid)
    inputs: list[dict[str, Any]] = [{"key": "Target", "value": _entity(state, entity_set, record, guid)}]
    if operation == "update" and previous is not None:
        inputs.append({"key": "PreImage", "value": _entity(state, entity_set, previous, guid)})
    user = "75c2dd85-e89e-e711-8122-000d3aa2331c"
    return {
        "BusinessUnitId": "e2b9dd85-e89e-e711-8122-000d3aa2331c",
        "CorrelationId": str(uuid.uuid4()),
        "Depth": 1,
        "InitiatingUserAzureActiveDirectoryObjectId": "00000000-0000-0000-0000-000000000000",
        "InitiatingUserId": user,
        "InputParameters": inputs,
        "IsExecutingOffline": False,
        "IsInTransaction": False,
        "IsOfflinePlayback": False,
        "IsolationMode": 1,
        "MessageName": MESSAGES[operation],
        "Mode": 1,  # asynchronous: the only mode virtual entity events support
        "OperationCreatedOn": f"/Date({int(now.timestamp() * 1000)})/",
        "OperationId": str(uuid.uuid4()),
        "OrganizationId": ORGANIZATION_ID,
        "OrganizationName": ORGANIZATION_NAME,
        "OutputParameters": [],
        "OwningExtension": {
            "Id": "75417616-4ea2-e711-8122-000d3aa2331c",
            "KeyAttributes": [],
            "LogicalName": "sdkmessageprocessingstep",
            "Name": None,
            "RowVersion": None,
        },
        "ParentContext": None,
        "PostEntityImages": [],
        "PreEntityImages": [],
        "PrimaryEntityId": guid,
        "PrimaryEntityName": name,
        "RequestId": None,
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": 40,  # PostOperation
        "UserId": user,
    }


class DataEvents:
    """The emitter: attach it to an FnoState; `deliver` is called on a thread of its own, after the write."""

    def __init__(
        self,
        deliver: Deliver,
        *,
        entities: tuple[str, ...] = ("Activities", "ContactPersons"),
        duplicate_every: int = 0,
        delay_seconds: float = 0.0,
        attempts: int = 5,
    ) -> None:
        self.deliver = deliver
        self.entities = frozenset(entities)
        self.duplicate_every = duplicate_every
        self.delay_seconds = delay_seconds
        self.attempts = attempts
        self.emitted = 0
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._state: FnoState | None = None
        self._thread = threading.Thread(target=self._run, name="fno-data-events", daemon=True)
        self._thread.start()

    def attach(self, state: FnoState) -> DataEvents:
        self._state = state
        state.data_events = self.on_write
        return self

    def on_write(
        self,
        entity_set: str,
        operation: str,
        record: dict[str, Any],
        previous: dict[str, Any] | None,
        recid: int,
    ) -> None:
        """Called by the state, under its lock, after a committed write: only builds and queues."""
        if entity_set not in self.entities or self._state is None:
            return
        now = self._state.clock()
        body = json.dumps(
            remote_execution_context(self._state, entity_set, operation, record, previous, recid, now)
        ).encode("utf-8")
        self.emitted += 1
        copies = 2 if self.duplicate_every and self.emitted % self.duplicate_every == 0 else 1
        due = time.monotonic() + self.delay_seconds
        for _ in range(copies):
            self._queue.put((due, body))

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every message queued so far was delivered (or given up)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                raise TimeoutError("data events not delivered in time")
            time.sleep(0.005)

    def close(self) -> None:
        if self._state is not None and self._state.data_events == self.on_write:
            self._state.data_events = None
        self._queue.put(_STOP)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                due, body = item
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self._send(body)
            finally:
                self._queue.task_done()

    def _send(self, body: bytes) -> None:
        for attempt in range(self.attempts):
            try:
                self.deliver(body)
                self.delivered += 1
                return
            except Exception:  # any failure of the endpoint: retried, as the platform does
                time.sleep(min(0.05 * 2**attempt, 1.0))
        self.failed += 1
