"""calendarView/delta rounds of the Graph stand-in over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.serve import serve

TOKEN = "delta-token"
ALICE = "alice@contoso.com"
WINDOW = {"startDateTime": "2024-06-01T00:00:00Z", "endDateTime": "2024-07-01T00:00:00Z"}
PREFER = 'IdType="ImmutableId", odata.maxpagesize=2'


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def env() -> Iterator[tuple[GraphState, httpx.Client]]:
    state = GraphState(TOKEN, page_size=50)
    state.clock = Clock()
    state.add_user(ALICE, "Alice Adams")
    headers = {"Authorization": f"Bearer {TOKEN}", "Prefer": PREFER}
    with (
        serve(create_graph_app(state)) as server,
        httpx.Client(base_url=server.url + "/v1.0", headers=headers) as c,
    ):
        yield state, c


def event(subject: str, day: int) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": f"2024-06-{day:02d}T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"2024-06-{day:02d}T10:00:00", "timeZone": "UTC"},
    }


def run_round(
    client: httpx.Client, first: str, params: dict[str, str] | None = None
) -> tuple[list[list[dict[str, Any]]], str]:
    """Follow nextLinks to the deltaLink; returns the pages' items and the deltaLink."""
    pages: list[list[dict[str, Any]]] = []
    resp = client.get(first, params=params)
    for _ in range(100):
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["@odata.context"].endswith("$metadata#Collection(event)")
        pages.append(body["value"])
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return pages, body["@odata.deltaLink"]
        resp = client.get(body["@odata.nextLink"])
    raise AssertionError("delta round never ended")


def items(pages: list[list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for page in pages for item in page}


def test_initial_round_pages_repeat_and_end_with_delta_link(env: tuple[GraphState, httpx.Client]) -> None:
    state, client = env
    made = [state.add_event(ALICE, event(f"e{n}", n + 2)) for n in range(5)]
    state.add_event(
        ALICE,
        event("outside", 1)
        | {
            "start": {"dateTime": "2024-08-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2024-08-01T10:00:00", "timeZone": "UTC"},
        },
    )
    pages, delta_link = run_round(client, f"/users/{ALICE}/calendarView/delta", WINDOW)
    assert pages[0] == []  # the first page is empty but has a nextLink
    assert all(len(page) <= 2 for page in pages)
    flat = [item["id"] for page in pages for item in page]
    assert len(flat) > len(set(flat))  # an item repeats across pages
    assert set(flat) == {e["id"] for e in made}
    assert all(item["@odata.type"] == "#microsoft.graph.event" for page in pages for item in page)
    query = parse_qs(urlsplit(delta_link).query)
    assert set(query) == {"$deltatoken"} and "startDateTime" not in delta_link


def test_next_round_reports_changes_deletes_and_moves_out_of_window(
    env: tuple[GraphState, httpx.Client],
) -> None:
    state, client = env
    keep, change, gone, moved = (
        state.add_event(ALICE, event(s, d)) for s, d in (("k", 3), ("c", 4), ("g", 5), ("m", 6))
    )
    _pages, delta_link = run_round(client, f"/users/{ALICE}/calendarView/delta", WINDOW)
    state.update_event(ALICE, change["id"], {"subject": "c2"})
    state.delete_event(ALICE, gone["id"])
    state.update_event(
        ALICE,
        moved["id"],
        {
            "start": {"dateTime": "2024-09-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2024-09-01T10:00:00", "timeZone": "UTC"},
        },
    )
    new = state.add_event(ALICE, event("n", 7))
    pages, next_link = run_round(client, delta_link)
    assert pages[0] == []
    seen = items(pages)
    assert keep["id"] not in seen
    assert seen[change["id"]]["subject"] == "c2" and seen[new["id"]]["subject"] == "n"
    for removed in (gone["id"], moved["id"]):
        assert seen[removed] == {
            "@odata.type": "#microsoft.graph.event",
            "id": removed,
            "@removed": {"reason": "deleted"},
        }
    quiet, _ = run_round(client, next_link)
    assert items(quiet) == {}


def test_changes_outside_the_window_come_as_removed(env: tuple[GraphState, httpx.Client]) -> None:
    state, client = env
    _pages, delta_link = run_round(client, f"/users/{ALICE}/calendarView/delta", WINDOW)
    far = state.add_event(
        ALICE,
        {
            "subject": "far",
            "start": {"dateTime": "2025-01-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2025-01-01T10:00:00", "timeZone": "UTC"},
        },
    )
    pages, _ = run_round(client, delta_link)
    assert items(pages)[far["id"]]["@removed"] == {"reason": "deleted"}


def test_occurrences_flow_through_delta(env: tuple[GraphState, httpx.Client]) -> None:
    state, client = env
    series = event("daily", 3) | {
        "recurrence": {
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": "2024-06-03", "numberOfOccurrences": 3},
        }
    }
    master = state.add_event(ALICE, series)
    pages, delta_link = run_round(client, f"/users/{ALICE}/calendarView/delta", WINDOW)
    occurrences = items(pages)
    assert len(occurrences) == 3 and {o["type"] for o in occurrences.values()} == {"occurrence"}
    first, second, _third = sorted(occurrences, key=lambda i: occurrences[i]["start"]["dateTime"])
    client.patch(f"/users/{ALICE}/events/{quote(first, safe='')}", json={"subject": "special"})
    client.delete(f"/users/{ALICE}/events/{quote(second, safe='')}")
    changed = items(run_round(client, delta_link)[0])
    assert changed[first]["type"] == "exception" and changed[first]["seriesMasterId"] == master["id"]
    assert changed[second]["@removed"] == {"reason": "deleted"} and len(changed) == 2


def test_query_options_are_refused_on_delta(env: tuple[GraphState, httpx.Client]) -> None:
    _state, client = env
    for option in ("$select", "$filter", "$expand"):
        resp = client.get(f"/users/{ALICE}/calendarView/delta", params={**WINDOW, option: "subject"})
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "BadRequest"
    assert client.get(f"/users/{ALICE}/calendarView/delta").status_code == 400


def test_expired_tokens_answer_410_sync_state_not_found(env: tuple[GraphState, httpx.Client]) -> None:
    state, client = env
    state.add_event(ALICE, event("x", 3))
    first = client.get(f"/users/{ALICE}/calendarView/delta", params=WINDOW).json()
    _pages, delta_link = run_round(client, f"/users/{ALICE}/calendarView/delta", WINDOW)
    state.expire_delta_tokens(ALICE)
    for link in (delta_link, first["@odata.nextLink"]):
        resp = client.get(link)
        assert resp.status_code == 410
        assert resp.json()["error"]["code"] == "SyncStateNotFound"
    fresh, _ = run_round(client, f"/users/{ALICE}/calendarView/delta", WINDOW)
    assert len(items(fresh)) == 1
    assert (
        client.get(f"/users/{ALICE}/calendarView/delta", params={"$deltatoken": "garbage!"}).status_code
        == 400
    )


def test_tokens_carry_the_window_and_page_size_defaults_to_state(
    env: tuple[GraphState, httpx.Client],
) -> None:
    state, client = env
    for n in range(4):
        state.add_event(ALICE, event(f"e{n}", n + 3))
    narrow = {"startDateTime": "2024-06-03T00:00:00Z", "endDateTime": "2024-06-05T00:00:00Z"}
    pages, delta_link = run_round(client, f"/users/{ALICE}/calendarView/delta", narrow)
    assert len(items(pages)) == 2
    state.add_event(ALICE, event("inside", 4))
    state.add_event(ALICE, event("outside-but-new", 20))
    later = items(run_round(client, delta_link)[0])
    assert sorted("@removed" in item for item in later.values()) == [False, True]
    state.page_size = 10
    headers = {"Prefer": 'IdType="ImmutableId"'}
    first = client.get(f"/users/{ALICE}/calendarView/delta", params=WINDOW, headers=headers).json()
    second = client.get(first["@odata.nextLink"], headers=headers).json()
    assert len(second["value"]) == 6 and "@odata.deltaLink" in second


def test_reported_series_shape_behind_the_switch(env: tuple[GraphState, httpx.Client]) -> None:
    """bare_occurrences_in_delta: occurrences bare, the master listed whole, a cancelled occurrence not
    reported; the change comes back as the master with every instance left (simulators/graph/delta.py)."""
    state, client = env
    state.bare_occurrences_in_delta = True
    series = event("daily", 3) | {
        "categories": ["Blue category"],
        "recurrence": {
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": "2024-06-03", "numberOfOccurrences": 3},
        },
    }
    master = state.add_event(ALICE, series)
    single = state.add_event(ALICE, event("single", 10))
    pages, delta_link = run_round(client, f"/users/{ALICE}/calendarView/delta", WINDOW)
    listed = items(pages)
    order = list(dict.fromkeys(item["id"] for page in pages for item in page))
    assert order[0] == master["id"] and listed[master["id"]]["type"] == "seriesMaster"
    assert listed[master["id"]]["subject"] == "daily" and listed[single["id"]]["subject"] == "single"
    occurrences = [i for i in order if listed[i].get("type") == "occurrence"]
    assert len(occurrences) == 3
    bare = {"@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end"}
    assert all(set(listed[i]) == bare and listed[i]["seriesMasterId"] == master["id"] for i in occurrences)
    first, second, third = occurrences
    assert client.delete(f"/users/{ALICE}/events/{quote(second, safe='')}").status_code == 204
    changed = items(run_round(client, delta_link)[0])
    assert set(changed) == {master["id"], first, third}  # no word of the cancelled one
    assert not any("@removed" in item for item in changed.values())
    window = {"startDateTime": WINDOW["startDateTime"], "endDateTime": WINDOW["endDateTime"]}
    left = client.get(f"/users/{ALICE}/events/{quote(master['id'], safe='')}/instances", params=window)
    assert [i["id"] for i in left.json()["value"]] == [first, third]
    assert left.json()["value"][0]["subject"] == "daily"  # instances come whole


def test_documented_series_shape_is_the_default(env: tuple[GraphState, httpx.Client]) -> None:
    state, client = env
    assert state.bare_occurrences_in_delta is False
    series = event("weekly", 3) | {
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "numbered", "startDate": "2024-06-03", "numberOfOccurrences": 2},
        }
    }
    state.add_event(ALICE, series)
    listed = items(run_round(client, f"/users/{ALICE}/calendarView/delta", WINDOW)[0])
    assert {i["type"] for i in listed.values()} == {"occurrence"}
    assert all(i["subject"] == "weekly" and "body" in i for i in listed.values())
