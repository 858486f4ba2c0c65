"""Every entity set the F&O stand-in serves answers with exactly the reference `$metadata` names and types."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.fno.app import create_fno_app
from simulators.fno.state import FnoState
from simulators.serve import serve

REFERENCE = json.loads(
    (Path(__file__).resolve().parents[2] / "simulators" / "reference" / "fno-entities.json").read_text(
        "utf-8"
    )
)
ENTITY_SETS: dict[str, Any] = REFERENCE["entitySets"]
ENUMS: dict[str, dict[str, int]] = REFERENCE["enumTypes"]
NS = "Microsoft.Dynamics.DataEntities."
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
# A sample value per key so that seeding works for every reference set.
KEYS = {"dataAreaId": "usmf"}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FnoState, httpx.Client]]:
    state = FnoState("t")
    for name, spec in ENTITY_SETS.items():
        state.add(name, {key: KEYS.get(key, f"K-{key}") for key in spec["keys"]})
    with (
        serve(create_fno_app(state)) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": "Bearer t"}) as client,
    ):
        yield state, client


def assert_typed(name: str, edm_type: str, value: Any) -> None:
    if edm_type.startswith(NS):
        assert value in ENUMS[edm_type[len(NS) :]], (name, value)
    elif edm_type == "Edm.String":
        assert isinstance(value, str), name
    elif edm_type in ("Edm.Int32", "Edm.Int64"):
        assert isinstance(value, int) and not isinstance(value, bool), name
    elif edm_type == "Edm.Decimal":
        assert isinstance(value, int | float) and not isinstance(value, bool), name
    elif edm_type == "Edm.DateTimeOffset":
        assert DATETIME.fullmatch(value), (name, value)
    elif edm_type == "Edm.Boolean":
        assert isinstance(value, bool), name
    elif edm_type == "Edm.Guid":
        assert re.fullmatch(r"[0-9a-f-]{36}", value), name
    else:
        pytest.fail(f"unexpected EDM type {edm_type}")


@pytest.mark.parametrize("entity_set", sorted(ENTITY_SETS))
def test_entity_set_answers_with_the_reference_properties_and_types(
    served: tuple[FnoState, httpx.Client], entity_set: str
) -> None:
    _state, client = served
    response = client.get(f"/data/{entity_set}", params={"cross-company": "true"})
    assert response.status_code == 200
    (row,) = response.json()["value"]
    properties: dict[str, Any] = ENTITY_SETS[entity_set]["properties"]
    assert {name for name in row if not name.startswith("@")} == set(properties)
    for name, spec in properties.items():
        assert_typed(name, spec["type"], row[name])


def test_enum_members_match_the_reference(served: tuple[FnoState, httpx.Client]) -> None:
    state, _client = served
    for entity_set, spec in ENTITY_SETS.items():
        entity = state.entity(entity_set)
        assert entity.keys == tuple(spec["keys"])
        for name, prop in spec["properties"].items():
            served_prop = entity.properties[name]
            assert (served_prop.edm_type, served_prop.nullable) == (prop["type"], prop["nullable"])
            if served_prop.enum is not None:
                assert served_prop.enum.members == ENUMS[prop["type"][len(NS) :]]


def test_parent_links_follow_the_spec(served: tuple[FnoState, httpx.Client]) -> None:
    state, _client = served
    links = state.entity("ActivityParentLinks")
    assert links.keys == ("dataAreaId", "ActivityNumber", "ParentType", "ParentId")
    assert set(links.properties) == {
        "dataAreaId",
        "ActivityNumber",
        "ParentType",
        "ParentId",
        "IsPrimaryLink",
    }
    parent_type = links.properties["ParentType"].enum
    assert parent_type is not None and parent_type.members == ENUMS["smmActivityParentType"]
    assert {"ContactPerson", "Customer", "Vendor", "BusRel"} <= set(parent_type.members)


def test_null_defaults_option_returns_null_for_nullable_fields() -> None:
    state = FnoState(null_defaults=True)
    row = state.add("Activities", {"Purpose": "p"})
    assert row["Notes"] is None and row["KeepSynchronized"] is None
    assert row["StartDateTime"] == "1900-01-01T00:00:00Z" and row["ActualWork"] == 0
