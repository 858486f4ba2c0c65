"""The client against the Graph stand-in (simulators/graph) over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.serve import serve
from sync_core.exchange import DeltaTokenExpired, GraphClient, StaticTokenSource
from sync_core.exchange.urls import seg

from .fakes import FakeSleep

ADELE = "adele@contoso.com"
BOB = "bob@contoso.com"
PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name FnoKey"
NOW = datetime.now(UTC).replace(microsecond=0)


class HeaderLog:
    """ASGI wrapper that keeps the headers of every HTTP request reaching the stand-in."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.seen: list[dict[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            with self.lock:
                self.seen.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
        await self.app(scope, receive, send)


@dataclass
class StandIn:
    state: GraphState
    headers: HeaderLog
    url: str


@pytest.fixture
def standin() -> Iterator[StandIn]:
    state = GraphState(token="sandbox-token", page_size=50)
    state.add_user(ADELE, "Adele Vance", time_zone="Pacific Standard Time")
    state.add_user(BOB, "Bob")
    state.add_group("sales", [ADELE, BOB])
    headers = HeaderLog(create_graph_app(state))
    with serve(headers) as server:
        yield StandIn(state, headers, server.url + "/v1.0")


@pytest.fixture
async def client(standin: StandIn) -> AsyncIterator[GraphClient]:
    graph = GraphClient(standin.url, StaticTokenSource("sandbox-token"), page_size=2, sleep=FakeSleep())
    yield graph
    await graph.close()


def event_body(subject: str, days: int, key: str) -> dict[str, Any]:
    start = NOW + timedelta(days=days)
    return {
        "subject": subject,
        "body": {"contentType": "text", "content": "notes"},
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "location": {"displayName": "Room 1"},
        "transactionId": f"tx-{key}",
        "singleValueExtendedProperties": [{"id": PROP, "value": key}],
    }


async def delta_round(client: GraphClient, link: str | None) -> tuple[list[dict[str, Any]], str]:
    items: list[dict[str, Any]] = []
    last = None
    async for page in client.iter_event_delta(
        ADELE, delta_link=link, start=NOW - timedelta(days=30), end=NOW + timedelta(days=365)
    ):
        items.extend(page.items)
        last = page
    assert last is not None and last.delta_link is not None and last.next_link is None
    return items, last.delta_link


async def test_users_groups_time_zone_and_categories(standin: StandIn, client: GraphClient) -> None:
    user = await client.get_user(ADELE)
    assert user is not None and user.mail == ADELE and user.display_name == "Adele Vance"
    assert await client.get_user("nobody@contoso.com") is None
    assert sorted(await client.list_group_member_mails("sales")) == [ADELE, BOB]
    assert await client.get_mailbox_time_zone(ADELE) == "Pacific Standard Time"
    assert await client.ensure_category(ADELE, "D365 Sync") is True
    assert await client.ensure_category(ADELE, "d365 sync") is False


async def test_event_lifecycle_with_delta_rounds(standin: StandIn, client: GraphClient) -> None:
    seeded = standin.state.add_event(ADELE, event_body("seeded", 2, "seed"))
    items, link = await delta_round(client, None)
    assert {item["id"] for item in items if "@removed" not in item} == {seeded["id"]}

    created = await client.create_event(ADELE, event_body("from F&O", 3, "usmf-ACT-1"))
    event_id = created["id"]
    assert created["transactionId"] == "tx-usmf-ACT-1"

    fetched = await client.get_event(ADELE, event_id, stamp_property_id=PROP)
    assert fetched is not None and fetched["id"] == event_id
    assert fetched["singleValueExtendedProperties"] == [{"id": PROP, "value": "usmf-ACT-1"}]
    assert fetched["body"]["contentType"] == "text"
    assert fetched["start"]["timeZone"] == "UTC"

    found = await client.find_events_by_property(ADELE, PROP, "usmf-ACT-1")
    assert [event["id"] for event in found] == [event_id]
    assert await client.find_events_by_property(ADELE, PROP, "it's not there") == []

    updated = await client.update_event(ADELE, event_id, {"subject": "renamed", "location": None})
    assert updated["subject"] == "renamed"

    items, link = await delta_round(client, link)
    assert event_id in {item["id"] for item in items}

    await client.delete_event(ADELE, event_id)
    await client.delete_event(ADELE, event_id)  # already gone: fine
    assert await client.get_event(ADELE, event_id) is None
    items, link = await delta_round(client, link)
    assert any(item["id"] == event_id and "@removed" in item for item in items)

    standin.state.expire_delta_tokens(ADELE)
    with pytest.raises(DeltaTokenExpired):
        await delta_round(client, link)


async def test_ids_with_special_characters_round_trip(standin: StandIn, client: GraphClient) -> None:
    created = [await client.create_event(ADELE, event_body(f"e{i}", i + 1, f"k{i}")) for i in range(12)]
    ids = [event["id"] for event in created]
    assert any(("+" in i or "/" in i or "=" in i) for i in ids), "the stand-in should issue Graph-like ids"
    for event_id in ids:
        got = await client.get_event(ADELE, event_id)
        assert got is not None and got["id"] == event_id


async def test_every_request_carries_token_and_outlook_preferences(
    standin: StandIn, client: GraphClient
) -> None:
    await client.get_user(ADELE)
    event = await client.create_event(ADELE, event_body("x", 1, "k"))
    await client.update_event(ADELE, event["id"], {"subject": "y"})
    await delta_round(client, None)
    await client.batch(ADELE, [{"method": "GET", "url": f"/users/{ADELE}/events/{seg(event['id'])}"}])
    assert len(standin.headers.seen) >= 5
    for headers in standin.headers.seen:
        assert headers["authorization"] == "Bearer sandbox-token"
        assert 'IdType="ImmutableId"' in headers["prefer"]
        assert 'outlook.timezone="UTC"' in headers["prefer"]


async def test_injected_429s_are_retried_after_retry_after(standin: StandIn) -> None:
    sleep = FakeSleep()
    graph = GraphClient(standin.url, StaticTokenSource("sandbox-token"), sleep=sleep)
    standin.state.throttle_next(ADELE, 2, retry_after=0.25)
    assert await graph.get_mailbox_time_zone(ADELE) == "Pacific Standard Time"
    await graph.close()
    assert sleep.delays == [0.25, 0.25]
    assert graph.stats == {"requests": 3, "throttled": 2, "retries": 2}


async def test_never_more_than_four_requests_in_flight_per_mailbox(
    standin: StandIn, client: GraphClient
) -> None:
    event = await client.create_event(ADELE, event_body("x", 1, "k"))
    standin.state.hold_requests(ADELE)
    calls = asyncio.gather(*(client.get_event(ADELE, event["id"]) for _ in range(10)))
    try:
        for _ in range(500):
            if standin.state.in_flight(ADELE) == 4:
                break
            await asyncio.sleep(0.01)
        assert standin.state.in_flight(ADELE) == 4
        await asyncio.sleep(0.2)  # time for a client without a limit to send a fifth request
        assert standin.state.in_flight(ADELE) == 4
    finally:
        standin.state.release_requests(ADELE)
    results = await calls
    assert all(result is not None for result in results)
    assert [entry for entry in standin.state.request_log if entry["status"] == 429] == []


async def test_batches_split_and_recover_from_mailbox_concurrency_429s(
    standin: StandIn, client: GraphClient
) -> None:
    event = await client.create_event(ADELE, event_body("x", 1, "k"))
    requests = [
        {"method": "GET", "url": f"/users/{ADELE}/events/{seg(event['id'])}?$select=subject"}
        for _ in range(25)
    ]
    requests.append({"method": "GET", "url": f"/users/{ADELE}/events/missing"})
    answers = await client.batch(ADELE, requests)
    assert [answer["status"] for answer in answers] == [200] * 25 + [404]
    assert all(answer["body"]["subject"] == "x" for answer in answers[:25])
    assert answers[25]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert client.stats["throttled"] > 0  # the stand-in runs batch items concurrently, like Exchange
