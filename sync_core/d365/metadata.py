"""Read F&O's CSDL service document (`{D365_URL}/data/$metadata`): entity sets, their keys, properties and
enum types.

F&O publishes every public data entity there, enums included, in the namespace
`Microsoft.Dynamics.DataEntities` ("Open Data Protocol (OData)": Metadata annotations, Using Enums;
learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/odata). The document is large (every
public entity of the environment) and comes from outside, so it is parsed as it streams in with expat:
a document type declaration (and with it any entity expansion) is refused, and only the properties asked
for are kept.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from xml.parsers import expat

_EDM = "http://docs.oasis-open.org/odata/ns/edm"
_SEP = "|"


class MetadataError(Exception):
    """The document is not a CSDL document this reader accepts."""


@dataclass(frozen=True)
class EntitySetInfo:
    name: str
    entity_type: str  # qualified name, e.g. Microsoft.Dynamics.DataEntities.Activity
    keys: tuple[str, ...]  # empty when the entity type is not in the document
    properties: dict[str, str]  # name -> qualified type, only the properties asked for


@dataclass(frozen=True)
class ServiceMetadata:
    entity_sets: dict[str, EntitySetInfo]
    enums: dict[str, frozenset[str]]  # qualified enum type name -> member names


@dataclass
class _Type:
    keys: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


class MetadataReader:
    """Feed the document in chunks (`feed`), then `finish()`. Keeps the properties named in `properties`
    (all keys are kept whatever their name) and the members of every enum type."""

    def __init__(self, properties: Collection[str]) -> None:
        self._wanted = frozenset(properties)
        self._parser = expat.ParserCreate(namespace_separator=_SEP)
        self._parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self._parser.StartDoctypeDeclHandler = self._refuse
        self._parser.EntityDeclHandler = self._refuse
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._namespaces: set[str] = set()
        self._types: dict[str, _Type] = {}
        self._sets: dict[str, str] = {}
        self._enums: dict[str, set[str]] = {}
        self._schema = ""
        self._type: _Type | None = None
        self._enum: set[str] | None = None
        self._in_key = False

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.Parse(chunk, False)
        except expat.ExpatError as exc:
            raise MetadataError(f"not well-formed XML ({expat.ErrorString(exc.code)})") from None

    def finish(self) -> ServiceMetadata:
        try:
            self._parser.Parse(b"", True)
        except expat.ExpatError as exc:
            raise MetadataError(f"not well-formed XML ({expat.ErrorString(exc.code)})") from None
        if not self._namespaces:
            raise MetadataError("no CSDL schema in the document")
        sets = {}
        for name, type_name in self._sets.items():
            found = self._types.get(type_name, _Type())
            sets[name] = EntitySetInfo(name, type_name, tuple(found.keys), dict(found.properties))
        return ServiceMetadata(sets, {name: frozenset(members) for name, members in self._enums.items()})

    def _refuse(self, *_args: object) -> None:
        raise MetadataError("the document declares a DTD or entities; a CSDL document has none")

    def _start(self, tag: str, attributes: dict[str, str]) -> None:
        namespace, _, local = tag.rpartition(_SEP)
        if namespace != _EDM:
            return
        name = attributes.get("Name", "")
        if local == "Schema":
            self._schema = attributes.get("Namespace", "")
            self._namespaces.add(self._schema)
        elif local == "EntityType":
            self._type = self._types.setdefault(f"{self._schema}.{name}", _Type())
        elif local == "Key":
            self._in_key = True
        elif local == "PropertyRef" and self._in_key and self._type is not None:
            self._type.keys.append(name)
        elif local == "Property" and self._type is not None and name in self._wanted:
            self._type.properties[name] = attributes.get("Type", "")
        elif local == "EnumType":
            self._enum = self._enums.setdefault(f"{self._schema}.{name}", set())
        elif local == "Member" and self._enum is not None:
            self._enum.add(name)
        elif local == "EntitySet":
            self._sets[name] = attributes.get("EntityType", "")

    def _end(self, tag: str) -> None:
        local = tag.rpartition(_SEP)[2]
        if local == "EntityType":
            self._type = None
        elif local == "Key":
            self._in_key = False
        elif local == "EnumType":
            self._enum = None
