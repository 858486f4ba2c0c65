"""calendarView delta: paging, empty pages, the deltaLink, expired tokens, streaming."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from sync_core.exchange import DeltaPage, DeltaTokenExpired, GraphClient, GraphError

from .fakes import GRAPH, graph_error, make_client, path_of, query_of
from .test_requests import prefs

MAILBOX = "adele@contoso.com"
START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)
BASE = f"{GRAPH}/users/{MAILBOX}/calendarView/delta"


def page(
    items: list[dict[str, object]], *, next_token: str | None = None, delta_token: str | None = None
) -> httpx.Response:
    body: dict[str, object] = {"@odata.context": f"{GRAPH}/$metadata#Collection(event)", "value": items}
    if next_token:
        body["@odata.nextLink"] = f"{BASE}?$skiptoken={next_token}"
    if delta_token:
        body["@odata.deltaLink"] = f"{BASE}?$deltatoken={delta_token}"
    return httpx.Response(200, json=body)


async def collect(client: GraphClient, delta_link: str | None = None) -> list[DeltaPage]:
    return [p async for p in client.iter_event_delta(MAILBOX, delta_link=delta_link, start=START, end=END)]


async def test_initial_round_follows_next_links_through_an_empty_page_to_the_delta_link() -> None:
    pages = {
        None: page([{"id": "e1"}, {"id": "e2"}], next_token="p2"),
        "p2": page([], next_token="p3"),
        "p3": page([{"id": "e3"}, {"id": "e1", "@removed": {"reason": "deleted"}}], delta_token="d1"),
    }
    client, recorder, _ = make_client(
        lambda request: pages[query_of(request).get("$skiptoken")], page_size=25
    )
    result = await collect(client)
    await client.close()

    assert [[item["id"] for item in p.items] for p in result] == [["e1", "e2"], [], ["e3", "e1"]]
    assert [p.next_link for p in result] == [f"{BASE}?$skiptoken=p2", f"{BASE}?$skiptoken=p3", None]
    assert [p.delta_link for p in result] == [None, None, f"{BASE}?$deltatoken=d1"]
    assert result[2].items[1]["@removed"] == {"reason": "deleted"}
    first = recorder.requests[0]
    assert path_of(first) == f"/v1.0/users/{MAILBOX}/calendarView/delta"
    assert query_of(first) == {"startDateTime": "2025-01-01T00:00:00Z", "endDateTime": "2026-01-01T00:00:00Z"}
    for request in recorder.requests:
        assert "odata.maxpagesize=25" in prefs(request)
        assert 'IdType="ImmutableId"' in prefs(request)


async def test_next_round_starts_from_the_stored_delta_link() -> None:
    client, recorder, _ = make_client(lambda request: page([{"id": "e9"}], delta_token="d2"))
    result = await collect(client, delta_link=f"{BASE}?$deltatoken=d1")
    await client.close()
    assert str(recorder.requests[0].url) == f"{BASE}?$deltatoken=d1"
    assert result == [DeltaPage([{"id": "e9"}], None, f"{BASE}?$deltatoken=d2")]


async def test_pages_stream_one_at_a_time() -> None:
    pages = {None: page([{"id": "e1"}], next_token="p2"), "p2": page([], delta_token="d")}
    client, recorder, _ = make_client(lambda request: pages[query_of(request).get("$skiptoken")])
    rounds = client.iter_event_delta(MAILBOX, delta_link=None, start=START, end=END)
    first = await anext(rounds)
    assert first.items == [{"id": "e1"}] and len(recorder.requests) == 1
    await anext(rounds)
    assert len(recorder.requests) == 2
    with pytest.raises(StopAsyncIteration):
        await anext(rounds)
    assert len(recorder.requests) == 2
    await client.close()


@pytest.mark.parametrize(
    "answer",
    [
        graph_error(410, "SyncStateNotFound"),
        graph_error(410, ""),
        graph_error(400, "resyncRequired"),
        graph_error(400, "syncStateNotFound"),
    ],
)
async def test_expired_sync_state_raises_delta_token_expired(answer: httpx.Response) -> None:
    client, _, _ = make_client(lambda request: answer)
    with pytest.raises(DeltaTokenExpired):
        await collect(client, delta_link=f"{BASE}?$deltatoken=old")
    await client.close()


async def test_expiry_in_the_middle_of_a_round_also_raises() -> None:
    answers = iter([page([{"id": "e1"}], next_token="p2"), graph_error(410, "SyncStateNotFound")])
    client, _, _ = make_client(lambda request: next(answers))
    seen: list[DeltaPage] = []
    with pytest.raises(DeltaTokenExpired):
        async for p in client.iter_event_delta(MAILBOX, delta_link=None, start=START, end=END):
            seen.append(p)
    await client.close()
    assert len(seen) == 1


async def test_other_errors_are_not_mistaken_for_expiry() -> None:
    client, _, _ = make_client(lambda request: graph_error(403, "ErrorAccessDenied"))
    with pytest.raises(GraphError) as caught:
        await collect(client)
    await client.close()
    assert not isinstance(caught.value, DeltaTokenExpired)


async def test_a_stored_link_for_another_graph_root_means_resync() -> None:
    client, recorder, _ = make_client(lambda request: page([], delta_token="x"))
    with pytest.raises(DeltaTokenExpired):
        await collect(
            client, delta_link="http://127.0.0.1:5555/v1.0/users/a/calendarView/delta?$deltatoken=1"
        )
    await client.close()
    assert recorder.requests == []


async def test_throttled_delta_page_is_retried_in_place() -> None:
    answers = iter(
        [
            page([{"id": "e1"}], next_token="p2"),
            httpx.Response(429, headers={"Retry-After": "4"}),
            page([], delta_token="d"),
        ]
    )
    client, recorder, sleep = make_client(lambda request: next(answers))
    result = await collect(client)
    await client.close()
    assert sleep.delays == [4.0]
    assert str(recorder.requests[1].url) == str(recorder.requests[2].url) == f"{BASE}?$skiptoken=p2"
    assert result[-1].delta_link == f"{BASE}?$deltatoken=d"


@pytest.mark.parametrize(
    "body",
    [
        {"value": []},
        {"value": "nope", "@odata.deltaLink": f"{BASE}?$deltatoken=d"},
        {"value": [], "@odata.nextLink": 5},
    ],
)
async def test_malformed_pages_are_errors_not_silent_ends(body: dict[str, object]) -> None:
    client, _, _ = make_client(lambda request: httpx.Response(200, json=body))
    with pytest.raises(GraphError):
        await collect(client)
    await client.close()


async def test_a_repeated_next_link_is_an_error_not_an_endless_loop() -> None:
    client, recorder, _ = make_client(lambda request: page([], next_token="same"))
    with pytest.raises(GraphError, match="PagingLoop"):
        await collect(client)
    await client.close()
    assert len(recorder.requests) == 2


async def test_items_that_are_not_objects_are_dropped() -> None:
    client, _, _ = make_client(
        lambda request: httpx.Response(
            200, json={"value": [1, None, {"id": "e"}], "@odata.deltaLink": f"{BASE}?$deltatoken=d"}
        )
    )
    result = await collect(client)
    await client.close()
    assert result[0].items == [{"id": "e"}]
