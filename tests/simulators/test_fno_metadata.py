"""The F&O stand-in serves `/data/$metadata` as F&O does: a CSDL (EDMX 4.0) document of exactly the entity
sets it serves, in Microsoft.Dynamics.DataEntities, enums as EnumTypes; the parent-link entity is there
only when published, with the keys it was published with."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import httpx

from simulators.fno.app import create_fno_app
from simulators.fno.state import FnoState
from simulators.serve import serve

EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
NS = "Microsoft.Dynamics.DataEntities"
REFERENCE = json.loads(
    (Path(__file__).resolve().parents[2] / "simulators" / "reference" / "fno-entities.json").read_text(
        "utf-8"
    )
)


def _metadata(state: FnoState, token: str = "t") -> httpx.Response:
    with serve(create_fno_app(state)) as server:
        return httpx.get(f"{server.url}/data/$metadata", headers={"Authorization": f"Bearer {token}"})


def _model(body: bytes) -> tuple[dict[str, str], dict[str, ElementTree.Element], dict[str, list[str]]]:
    root = ElementTree.fromstring(body)
    assert root.tag == f"{EDMX}Edmx" and root.get("Version") == "4.0"
    [schema] = root.iter(f"{EDM}Schema")
    assert schema.get("Namespace") == NS
    sets = {s.get("Name", ""): s.get("EntityType", "") for s in schema.iter(f"{EDM}EntitySet")}
    types = {f"{NS}.{t.get('Name')}": t for t in schema.iter(f"{EDM}EntityType")}
    enums = {e.get("Name", ""): [m.get("Name", "") for m in e] for e in schema.iter(f"{EDM}EnumType")}
    return sets, types, enums


def _keys(entity_type: ElementTree.Element) -> list[str]:
    return [ref.get("Name", "") for ref in entity_type.iter(f"{EDM}PropertyRef")]


def test_metadata_lists_every_served_set_with_keys_properties_and_enums() -> None:
    state = FnoState("t")
    answer = _metadata(state)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    sets, types, enums = _model(answer.content)
    assert set(sets) == set(state.entities)
    for name, spec in REFERENCE["entitySets"].items():
        entity_type = types[sets[name]]
        assert _keys(entity_type) == spec["keys"]
        props = {p.get("Name"): p for p in entity_type.iter(f"{EDM}Property")}
        assert set(props) == set(spec["properties"])
        for prop_name, prop in spec["properties"].items():
            assert props[prop_name].get("Type") == prop["type"]
            assert (props[prop_name].get("Nullable") != "false") == prop["nullable"]
    links = types[sets["ActivityParentLinks"]]
    assert _keys(links) == ["dataAreaId", "ActivityNumber", "ParentType", "ParentId"]
    assert enums["smmActivityParentType"][:3] == list(REFERENCE["enumTypes"]["smmActivityParentType"])[:3]
    assert enums["NoYes"] == ["No", "Yes"]


def test_parent_links_can_be_left_out_or_published_otherwise() -> None:
    state = FnoState("t", parent_links_collection=None)
    sets, _types, _enums = _model(_metadata(state).content)
    assert not any("ParentLink" in name for name in sets)
    state.publish_parent_links("CustomParentLinks", ("dataAreaId", "ActivityNumber", "ParentType"))
    sets, types, _enums = _model(_metadata(state).content)
    assert _keys(types[sets["CustomParentLinks"]]) == ["dataAreaId", "ActivityNumber", "ParentType"]


def test_unpublished_parent_links_answer_404() -> None:
    state = FnoState("t")
    state.publish_parent_links(None)
    with serve(create_fno_app(state)) as server:
        answer = httpx.get(
            f"{server.url}/data/ActivityParentLinks?cross-company=true", headers={"Authorization": "Bearer t"}
        )
    assert answer.status_code == 404


def test_metadata_needs_the_token() -> None:
    assert _metadata(FnoState("t"), token="wrong").status_code == 401
