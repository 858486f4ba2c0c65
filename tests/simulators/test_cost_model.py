"""The stand-ins' cost model (off by default; the benchmark turns it on): latency, rate limits with
Retry-After, and the choice of an empty first delta page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from simulators.fno.app import create_fno_app
from simulators.fno.state import FnoState
from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.serve import serve

TOKEN = "cost-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WINDOW = "startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-04-01T00:00:00Z"


@pytest.fixture
def graph_state() -> GraphState:
    state = GraphState(TOKEN)
    state.clock = lambda: datetime(2026, 3, 20, tzinfo=UTC)
    for mail in ("alice@contoso.com", "bob@contoso.com"):
        state.add_user(mail, mail.split("@")[0])
    return state


@pytest.fixture
def graph_client(graph_state: GraphState) -> Iterator[httpx.Client]:
    with serve(create_graph_app(graph_state)) as server, httpx.Client(base_url=server.url, headers=AUTH) as c:
        yield c


def test_defaults_are_free() -> None:
    graph, fno = GraphState(TOKEN), FnoState(TOKEN)
    assert (graph.latency, graph.rate_limit, graph.empty_first_delta_page) == (0.0, None, True)
    assert (fno.latency, fno.rate_limit) == (0.0, None)


def test_graph_rate_limit_is_per_mailbox_with_retry_after(
    graph_state: GraphState, graph_client: httpx.Client
) -> None:
    graph_state.rate_limit, graph_state.rate_window = 3, 30.0
    statuses = [graph_client.get("/v1.0/users/alice@contoso.com/events").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = graph_client.get("/v1.0/users/alice@contoso.com/events")
    assert refused.json()["error"]["code"] == "ApplicationThrottled"
    assert 0 < float(refused.headers["Retry-After"]) <= 30.0
    assert graph_client.get("/v1.0/users/bob@contoso.com/events").status_code == 200


def test_graph_rate_window_slides(graph_state: GraphState, graph_client: httpx.Client) -> None:
    graph_state.rate_limit, graph_state.rate_window = 1, 0.2
    assert graph_client.get("/v1.0/users/alice@contoso.com/events").status_code == 200
    assert graph_client.get("/v1.0/users/alice@contoso.com/events").status_code == 429
    time.sleep(0.25)
    assert graph_client.get("/v1.0/users/alice@contoso.com/events").status_code == 200


def test_graph_latency_delays_each_call(graph_state: GraphState, graph_client: httpx.Client) -> None:
    graph_state.latency = 0.1
    started = time.perf_counter()
    assert graph_client.get("/v1.0/users/alice@contoso.com/events").status_code == 200
    assert time.perf_counter() - started >= 0.1


def test_delta_first_page_empty_or_not(graph_state: GraphState, graph_client: httpx.Client) -> None:
    graph_state.add_event(
        "alice@contoso.com",
        {
            "subject": "Review",
            "start": {"dateTime": "2026-03-21T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-03-21T10:00:00", "timeZone": "UTC"},
        },
    )
    url = f"/v1.0/users/alice@contoso.com/calendarView/delta?{WINDOW}"
    empty = graph_client.get(url).json()
    assert empty["value"] == [] and "@odata.nextLink" in empty
    graph_state.empty_first_delta_page = False
    first = graph_client.get(url).json()
    assert [e["subject"] for e in first["value"]] == ["Review"] and "@odata.deltaLink" in first
    idle = graph_client.get(first["@odata.deltaLink"]).json()
    assert idle["value"] == [] and "@odata.deltaLink" in idle  # an idle round is one request


def test_fno_rate_limit_answers_429_with_retry_after() -> None:
    state = FnoState(TOKEN, rate_limit=2, rate_window=30.0)
    with serve(create_fno_app(state)) as server, httpx.Client(base_url=server.url, headers=AUTH) as client:
        statuses = [client.get("/data/Workers").status_code for _ in range(3)]
        refused = client.get("/data/Workers")
    assert statuses == [200, 200, 429]
    assert refused.status_code == 429 and 0 < float(refused.headers["Retry-After"]) <= 30.0
    assert "ThrottlingException" in refused.text
