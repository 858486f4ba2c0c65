"""One F&O data event, read from the message body with its documented shape checked (docs/fno-events.md).

The body is the JSON of a Dataverse `RemoteExecutionContext` (data-events.md: "The RemoteExecutionContext
Class defines the contextual information sent to the configured service endpoint"; the entity's fields are in
the `Target` input parameter). Only what the product needs is taken: the operation (`MessageName`), the entity
(`PrimaryEntityName`) and the row's key from the Target's attributes. Anything else may be missing or odd.
A body that is not such a document raises BadEvent with a reason that holds no data from the body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sync_core.d365.odata import is_safe_text
from sync_core.model import hostile_json

# Dataverse posts at most 256 KB (use-webhooks.md; Service Bus Standard's message limit too); more is not ours.
MAX_BODY_BYTES = 512 * 1024
# A RemoteExecutionContext nests about six levels (context, parameters, entity, attributes, option set; the
# parent context once more): anything much deeper is garbage, refused before the decoder recurses into it.
MAX_DEPTH = 24
MAX_KEY_LENGTH = 255  # mserp_primaryfield is cut at 255 characters (entity-modeling.md)
Operation = Literal["create", "update", "delete"]
# how-to-dataverse-events.md: a virtual entity's data events are OnExternalCreated/Updated/Deleted. The plain
# Dataverse names are accepted too (a step registered on Create/Update/Delete posts those).
OPERATIONS: dict[str, Operation] = {
    "onexternalcreated": "create",
    "onexternalupdated": "update",
    "onexternaldeleted": "delete",
    "create": "create",
    "update": "update",
    "delete": "delete",
}


@dataclass(frozen=True)
class EventEntity:
    """An entity the product reads: its OData collection, the names its events may carry, its key fields."""

    collection: str
    names: frozenset[str]  # lower case, without the `mserp_` prefix
    key: tuple[str, str]  # (company field, number field), as OData names them


# entity-modeling.md: the virtual entity is named after the F&O entity's physical name, which may differ from
# the OData collection's. The physical names are assumed (docs/fno-events.md); the collection names are taken
# too, so an endpoint that names the entity either way is understood.
ENTITIES = (
    EventEntity(
        "Activities", frozenset({"activities", "smmactivityentity"}), ("dataAreaId", "ActivityNumber")
    ),
    EventEntity(
        "ContactPersons",
        frozenset({"contactpersons", "smmcontactpersonentity"}),
        ("dataAreaId", "ContactPersonId"),
    ),
)


class BadEvent(ValueError):
    """Not a data event the product can use; the message is a reason, never data from the body."""


@dataclass(frozen=True)
class DataEvent:
    entity: EventEntity
    operation: Operation
    company: str | None  # None with `number`: the event names no key (a Target cut for size, say)
    number: str | None
    owner: str | None  # the activity's ResponsibleWorkerPersonnelNumber, when the event carries it


def entity_named(name: str) -> EventEntity | None:
    bare = name.strip().lower()
    bare = bare[len("mserp_") :] if bare.startswith("mserp_") else bare
    return next((e for e in ENTITIES if bare in e.names), None)


def parse(body: bytes) -> DataEvent:
    if len(body) > MAX_BODY_BYTES:
        raise BadEvent("body too large")
    try:
        data = hostile_json.loads(body, max_depth=MAX_DEPTH)
    except hostile_json.UnreadableJson:
        raise BadEvent("body is not JSON") from None
    if not isinstance(data, dict):
        raise BadEvent("body is not a JSON object")
    message, entity_name = data.get("MessageName"), data.get("PrimaryEntityName")
    if not isinstance(message, str) or message.lower() not in OPERATIONS:
        raise BadEvent("no create, update or delete MessageName")
    if not isinstance(entity_name, str):
        raise BadEvent("no PrimaryEntityName")
    entity = entity_named(entity_name)
    if entity is None:
        raise BadEvent("an entity the product does not read")
    attributes = _target_attributes(data.get("InputParameters"))
    company, number = _key(entity, attributes)
    owner = attributes.get("responsibleworkerpersonnelnumber")
    return DataEvent(
        entity=entity,
        operation=OPERATIONS[message.lower()],
        company=company,
        number=number,
        owner=owner if isinstance(owner, str) and owner and is_safe_text(owner) else None,
    )


def _target_attributes(parameters: Any) -> dict[str, Any]:
    """The Target's attributes by bare lower-case name ({} when there is no Target: InputParameters are
    dropped from a message over 256 KB, use-webhooks.md)."""
    if parameters is None:
        return {}
    if not isinstance(parameters, list):
        raise BadEvent("InputParameters is not a list")
    target = next(
        (p.get("value") for p in parameters if isinstance(p, dict) and p.get("key") == "Target"),
        None,
    )
    if target is None:
        return {}
    if not isinstance(target, dict) or not isinstance(target.get("Attributes", []), list):
        raise BadEvent("Target is not an entity")
    found: dict[str, Any] = {}
    for pair in target.get("Attributes", []):
        if isinstance(pair, dict) and isinstance(pair.get("key"), str):
            name = pair["key"].lower()
            found[name[len("mserp_") :] if name.startswith("mserp_") else name] = pair.get("value")
    return found


def _key(entity: EventEntity, attributes: dict[str, Any]) -> tuple[str | None, str | None]:
    company = attributes.get(entity.key[0].lower())
    number = attributes.get(entity.key[1].lower())
    if company is None and number is None and isinstance(attributes.get("primaryfield"), str):
        # The entity key's fields as strings joined by "|" (entity-modeling.md), in the key's order.
        parts = attributes["primaryfield"].split("|")
        if len(parts) == 2:
            company, number = parts
    if company is None and number is None:
        return None, None
    if not all(isinstance(v, str) and v.strip() and len(v) <= MAX_KEY_LENGTH for v in (company, number)):
        raise BadEvent("the row's key is not two short strings")
    assert isinstance(company, str) and isinstance(number, str)
    if not is_safe_text(company) or not is_safe_text(number) or "|" in company:
        raise BadEvent("the row's key holds characters no F&O key holds")
    return company.strip(), number.rstrip(" ")
