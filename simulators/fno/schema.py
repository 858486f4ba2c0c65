"""Entity sets as a real F&O `$metadata` publishes them (simulators/reference/fno-entities.json), plus EDM value rules.

Values are kept the way the service serialises them: strings, numbers, booleans, enum member names and
DateTimeOffset as `YYYY-MM-DDTHH:MM:SSZ` (X++ utcdatetime has whole-second precision).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from simulators.fno.errors import ODataError, bad_request

NAMESPACE = "Microsoft.Dynamics.DataEntities"
REFERENCE = Path(__file__).resolve().parent.parent / "reference" / "fno-entities.json"
# X++ has no null dates: an empty utcdatetime is 1900-01-01.
NULL_DATE = "1900-01-01T00:00:00Z"
NUMERIC_TYPES = frozenset({"Edm.Int32", "Edm.Int64", "Edm.Decimal", "Edm.Double"})
# Entity type names for error messages (the public entity names behind the collections).
TYPE_NAMES = {
    "Activities": "Activity",
    "Workers": "Worker",
    "ContactPersons": "ContactPerson",
    "CustomersV3": "CustomerV3",
    "VendorsV2": "VendorV2",
    "Prospects": "Prospect",
    "PartyContactsV3": "PartyContactV3",
    "ActivityParentLinks": "ActivityParentLink",
    "LegalEntities": "LegalEntity",
}

_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE
)
_GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class EnumType:
    name: str
    members: dict[str, int]

    @property
    def full_name(self) -> str:
        return f"{NAMESPACE}.{self.name}"

    def default(self) -> str:
        # An X++ enum field starts at value 0 (e.g. NoYes::No, smmActivityPriority::Normal).
        for member, value in self.members.items():
            if value == 0:
                return member
        return next(iter(self.members))


@dataclass(frozen=True)
class Property:
    name: str
    edm_type: str
    nullable: bool
    enum: EnumType | None = None


@dataclass(frozen=True)
class EntitySchema:
    name: str
    keys: tuple[str, ...]
    properties: dict[str, Property]

    @property
    def type_name(self) -> str:
        return f"{NAMESPACE}.{TYPE_NAMES.get(self.name, self.name)}"

    @property
    def per_company(self) -> bool:
        return "dataAreaId" in self.keys


@cache
def _reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return data


def enum_types() -> dict[str, EnumType]:
    raw: dict[str, dict[str, int]] = _reference()["enumTypes"]
    return {name: EnumType(name, dict(members)) for name, members in raw.items()}


def _build(name: str, keys: list[str], props: dict[str, dict[str, Any]]) -> EntitySchema:
    enums = enum_types()
    properties: dict[str, Property] = {}
    for prop_name, spec in props.items():
        edm_type = str(spec["type"])
        enum = enums[edm_type.rsplit(".", 1)[1]] if edm_type.startswith(NAMESPACE + ".") else None
        properties[prop_name] = Property(prop_name, edm_type, bool(spec["nullable"]), enum)
    return EntitySchema(name, tuple(keys), properties)


# The parent-link entity a customer publishes (docs/admin-guide.md "Dynamics 365 F&O"; F&O's own
# smmActivityParentLinkEntity is not public): its key, and the fields the product reads and writes.
PARENT_LINK_KEYS = ("dataAreaId", "ActivityNumber", "ParentType", "ParentId")
_PARENT_LINK_FIELDS: dict[str, dict[str, Any]] = {
    "dataAreaId": {"type": "Edm.String", "nullable": False},
    "ActivityNumber": {"type": "Edm.String", "nullable": False},
    "ParentType": {"type": f"{NAMESPACE}.smmActivityParentType", "nullable": False},
    "ParentId": {"type": "Edm.String", "nullable": False},
    "IsPrimaryLink": {"type": f"{NAMESPACE}.NoYes", "nullable": True},
}


def parent_link_schema(collection: str, keys: tuple[str, ...] = PARENT_LINK_KEYS) -> EntitySchema:
    """The custom parent-link entity (docs/spec.md §3.5); other `keys` stand for a customer's differing entity."""
    return _build(collection, list(keys), _PARENT_LINK_FIELDS)


# The companies: the standard entity LegalEntities (OMLegalEntity), not company-specific, keyed by
# LegalEntityId (the dataAreaId). Not in the reference document, so only the two fields the doctor reads.
LEGAL_ENTITIES = "LegalEntities"
_LEGAL_ENTITY_FIELDS: dict[str, dict[str, Any]] = {
    "LegalEntityId": {"type": "Edm.String", "nullable": False},
    "Name": {"type": "Edm.String", "nullable": False},
}


def load_entities(parent_links_collection: str | None = "ActivityParentLinks") -> dict[str, EntitySchema]:
    """Every reference entity set, the companies and, unless None, the custom parent-link collection."""
    sets: dict[str, dict[str, Any]] = _reference()["entitySets"]
    entities = {name: _build(name, spec["keys"], spec["properties"]) for name, spec in sets.items()}
    entities[LEGAL_ENTITIES] = _build(LEGAL_ENTITIES, ["LegalEntityId"], _LEGAL_ENTITY_FIELDS)
    if parent_links_collection is not None:
        entities[parent_links_collection] = parent_link_schema(parent_links_collection)
    return entities


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 DateTimeOffset with an explicit offset, truncated to whole seconds; None if malformed."""
    match = _DATETIME_RE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, _fraction, offset = match.groups()
    try:
        parsed = datetime.fromisoformat(
            f"{year}-{month}-{day}T{hour}:{minute}:{second or '00'}{'+00:00' if offset.upper() == 'Z' else offset}"
        )
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def is_guid(text: str) -> bool:
    return _GUID_RE.fullmatch(text) is not None


def default_value(prop: Property, *, null_defaults: bool = False) -> Any:
    """The value F&O returns for a field nobody set: X++ stores no nulls, so empty values are typed."""
    if null_defaults and prop.nullable:
        return None
    if prop.enum is not None:
        return prop.enum.default()
    if prop.edm_type == "Edm.String":
        return ""
    if prop.edm_type in NUMERIC_TYPES:
        return 0
    if prop.edm_type == "Edm.DateTimeOffset":
        return NULL_DATE
    if prop.edm_type == "Edm.Boolean":
        return False
    if prop.edm_type == "Edm.Guid":
        return "00000000-0000-0000-0000-000000000000"
    raise AssertionError(f"unhandled EDM type {prop.edm_type}")


def _mismatch(prop: Property, value: Any) -> ODataError:
    shown = type(value).__name__
    return bad_request(
        f"Cannot convert the literal of type '{shown}' to the expected type '{prop.edm_type}' "
        f"of property '{prop.name}'."
    )


def coerce_value(prop: Property, value: Any, *, null_defaults: bool = False) -> Any:
    """Validate a JSON body value for a property and return the stored form; 400 like ODataLib otherwise."""
    if value is None:
        if not prop.nullable:
            raise bad_request(
                f"A null value was found for the property named '{prop.name}', which has the expected "
                f"type '{prop.edm_type}[Nullable=False]'. The expected type does not allow null values."
            )
        return default_value(prop, null_defaults=null_defaults)
    if prop.enum is not None:
        if not isinstance(value, str) or value not in prop.enum.members:
            raise bad_request(
                f"Requested value '{value}' was not found.", error_type="System.ArgumentException"
            )
        return value
    edm = prop.edm_type
    if edm in ("Edm.String", "Edm.Guid"):
        if not isinstance(value, str) or (edm == "Edm.Guid" and not is_guid(value)):
            raise _mismatch(prop, value)
        return value
    if edm in ("Edm.Int32", "Edm.Int64"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _mismatch(prop, value)
        return value
    if edm in NUMERIC_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mismatch(prop, value)
        return value
    if edm == "Edm.Boolean":
        if not isinstance(value, bool):
            raise _mismatch(prop, value)
        return value
    if edm == "Edm.DateTimeOffset":
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise bad_request(f"The value '{value}' of property '{prop.name}' is not a valid DateTimeOffset.")
        return format_datetime(parsed)
    raise AssertionError(f"unhandled EDM type {edm}")
