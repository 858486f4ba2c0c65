"""Parent links of many activities in a few queries (the appointment feed adds them to its rows)."""

from __future__ import annotations

from simulators.fno.state import FnoState
from sync_core.d365 import entities
from sync_core.d365.client import FnoClient

LINKS = "ActivityParentLinks"


def _link(company: str, number: str, parent_id: str) -> dict[str, str]:
    return {
        "dataAreaId": company,
        "ActivityNumber": number,
        "ParentType": "ContactPerson",
        "ParentId": parent_id,
        "IsPrimaryLink": "No",
    }


async def test_links_of_a_page_of_activities_in_one_query_per_twenty(
    fno: FnoClient, fno_state: FnoState
) -> None:
    numbers = [f"ACT-{n:03d}" for n in range(25)]
    for number in numbers:
        fno_state.add(LINKS, _link("usmf", number, f"CP-{number}"))
    fno_state.add(LINKS, _link("usmf", "ACT-000", "CP-second"))
    fno_state.add(LINKS, _link("demf", "ACT-001", "CP-other-company"))  # same number, other company
    before = len(fno_state.request_log)
    found = await entities.parent_links_of(fno, "usmf", numbers)
    assert len(fno_state.request_log) - before == 2  # 25 numbers: chunks of 20 and 5
    assert sorted(link["ParentId"] for link in found["ACT-000"]) == ["CP-ACT-000", "CP-second"]
    assert [link["ParentId"] for link in found["ACT-001"]] == ["CP-ACT-001"]
    assert set(found) == set(numbers)


async def test_hostile_numbers_never_widen_the_query(fno: FnoClient, fno_state: FnoState) -> None:
    fno_state.add(LINKS, _link("usmf", "O'BRIEN-1", "CP-quote"))
    fno_state.add(LINKS, _link("usmf", "ACT-777", "CP-not-asked"))
    found = await entities.parent_links_of(fno, "usmf", ["O'BRIEN-1", "ACT-*", ""])
    assert [link["ParentId"] for link in found["O'BRIEN-1"]] == ["CP-quote"]
    # A wildcard is matched literally (or not at all), never as "every activity".
    assert all(link["ParentId"] != "CP-not-asked" for links in found.values() for link in links)
    assert "" not in found


async def test_an_activity_without_links_gets_an_empty_list(fno: FnoClient, fno_state: FnoState) -> None:
    found = await entities.parent_links_of(fno, "usmf", ["ACT-NONE"])
    assert found == {"ACT-NONE": []}
