"""The stand-in's `/data/$metadata`: a CSDL (EDMX 4.0) document generated from the entity sets it serves.

F&O serves its service metadata at `{D365_URL}/data/$metadata`, with every public entity in the namespace
`Microsoft.Dynamics.DataEntities` and its enums as `EnumType`s ("Open Data Protocol (OData)", Metadata
annotations and Using Enums: learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/odata).
The container is `Resources`, the name F&O's generated OData clients use. Labels and other annotations
F&O adds are left out: nothing in the product reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import quoteattr

from simulators.fno.schema import NAMESPACE, EntitySchema, EnumType

CONTAINER = "Resources"


def metadata_document(entities: Iterable[EntitySchema]) -> bytes:
    sets = sorted(entities, key=lambda entity: entity.name)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        f'<Schema Namespace="{NAMESPACE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
    ]
    enums: dict[str, EnumType] = {}
    for entity in sets:
        lines.append(f"<EntityType Name={quoteattr(entity.type_name.rsplit('.', 1)[1])}>")
        lines.append(
            "<Key>" + "".join(f"<PropertyRef Name={quoteattr(n)} />" for n in entity.keys) + "</Key>"
        )
        for prop in entity.properties.values():
            nullable = "" if prop.nullable else ' Nullable="false"'
            lines.append(
                f"<Property Name={quoteattr(prop.name)} Type={quoteattr(prop.edm_type)}{nullable} />"
            )
            if prop.enum is not None:
                enums[prop.enum.name] = prop.enum
        lines.append("</EntityType>")
    for enum in sorted(enums.values(), key=lambda e: e.name):
        lines.append(f"<EnumType Name={quoteattr(enum.name)}>")
        lines.extend(f'<Member Name={quoteattr(m)} Value="{v}" />' for m, v in enum.members.items())
        lines.append("</EnumType>")
    lines.append(f'<EntityContainer Name="{CONTAINER}">')
    lines.extend(f"<EntitySet Name={quoteattr(e.name)} EntityType={quoteattr(e.type_name)} />" for e in sets)
    lines.extend(["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"])
    return "\n".join(lines).encode("utf-8")
