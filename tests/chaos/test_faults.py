"""simulators/faults.py against the real stand-ins over HTTP: what a client sees for each effect."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from simulators.faults import LOSE_ANSWER, AppliedWrite, FaultInjector, Faults, LateAnswer, LoseAnswer
from simulators.fno.app import create_fno_app
from simulators.fno.state import FnoState
from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.serve import serve

TOKEN = "faults-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Stand:
    fno: FnoState
    graph: GraphState
    faults: Faults
    fno_url: str
    graph_url: str


@pytest.fixture
def stand() -> Iterator[Stand]:
    fno, graph = FnoState(token=TOKEN, default_company="usmf"), GraphState(token=TOKEN)
    graph.add_user("alice@contoso.com", "Alice")
    faults = Faults(seed=1)
    with (
        serve(FaultInjector(create_fno_app(fno), faults, service="fno")) as f,
        serve(FaultInjector(create_graph_app(graph), faults, service="graph")) as g,
    ):
        yield Stand(fno, graph, faults, f.url, g.url)


def _worker(client: httpx.Client, stand: Stand, number: str) -> httpx.Response:
    return client.post(
        f"{stand.fno_url}/data/Workers", json={"PersonnelNumber": number, "Name": number}, headers=AUTH
    )


def _workers(stand: Stand) -> list[str]:
    return sorted(str(w["PersonnelNumber"]) for w in stand.fno.all("Workers"))


def test_without_rules_nothing_changes(stand: Stand) -> None:
    with httpx.Client() as client:
        assert _worker(client, stand, "W1").status_code == 201
        assert client.get(f"{stand.fno_url}/data/Workers", headers=AUTH).json()["value"][0]["Name"] == "W1"
    assert stand.faults.log == [] and stand.faults.applied_writes == 1


def test_fail_answers_without_applying(stand: Stand) -> None:
    stand.faults.unavailable("POST", r"^/data/Workers$", count=1, retry_after=2)
    rule = stand.faults.bad_gateway("GET", r"^/data/Workers$", count=1)
    with httpx.Client() as client:
        refused = _worker(client, stand, "W1")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
        assert refused.json()["error"]["code"] == "ServiceUnavailable"
        assert _workers(stand) == []  # not applied, and the stand-in never saw it
        assert stand.fno.request_log == []
        page = client.get(f"{stand.fno_url}/data/Workers", headers=AUTH)
        assert page.status_code == 502 and page.headers["content-type"].startswith("text/html")
        assert "<h1>502 Bad Gateway</h1>" in page.text
        # count=1: the next requests pass.
        assert _worker(client, stand, "W1").status_code == 201
        assert client.get(f"{stand.fno_url}/data/Workers", headers=AUTH).status_code == 200
    assert rule.fired == 1 and [f.status for f in stand.faults.log] == [503, 502]


def test_lost_answer_is_applied_and_the_client_sees_a_broken_connection(stand: Stand) -> None:
    stand.faults.lose_answer("POST", r"^/data/Workers$", skip=1, count=1)
    with httpx.Client() as client:
        assert _worker(client, stand, "W1").status_code == 201  # skip=1: the first one passes
        with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection"):
            _worker(client, stand, "W2")
        assert _workers(stand) == ["W1", "W2"]  # applied all the same
        assert _worker(client, stand, "W3").status_code == 201  # the client recovers (new connection)
    [fired] = stand.faults.log
    assert isinstance(fired.effect, LoseAnswer) and fired.status == 201 and fired.service == "fno"
    assert [e["status"] for e in stand.fno.request_log] == [201, 201, 201]


def test_lost_answer_on_graph(stand: Stand) -> None:
    stand.faults.lose_answer("POST", r"/users/[^/]+/events$")
    body = {
        "subject": "x",
        "start": {"dateTime": "2030-01-01T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2030-01-01T11:00:00", "timeZone": "UTC"},
    }
    with httpx.Client() as client, pytest.raises(httpx.RemoteProtocolError):
        client.post(f"{stand.graph_url}/v1.0/users/alice@contoso.com/events", json=body, headers=AUTH)
    assert [e["subject"] for e in stand.graph.events("alice@contoso.com")] == ["x"]


def test_late_answer_is_applied_and_times_out_a_hasty_client(stand: Stand) -> None:
    stand.faults.answer_late("POST", r"^/data/Workers$", seconds=0.6, count=2)
    with httpx.Client(timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
        _worker(client, stand, "W1")
    assert _workers(stand) == ["W1"]
    with httpx.Client(timeout=5) as client:
        assert _worker(client, stand, "W2").status_code == 201  # a patient client gets the answer
    assert [type(f.effect) for f in stand.faults.log] == [LateAnswer, LateAnswer]


def test_hook_runs_after_each_applied_write_and_can_lose_its_answer(stand: Stand) -> None:
    seen: list[AppliedWrite] = []

    def hook(write: AppliedWrite) -> str | None:
        seen.append(write)
        assert write.path == "/data/Workers" or [w["PersonnelNumber"] for w in stand.fno.all("Workers")]
        return LOSE_ANSWER if write.number == 2 else None

    remove = stand.faults.on_applied_write(hook)
    with httpx.Client() as client:
        assert _worker(client, stand, "W1").status_code == 201
        assert len(_workers(stand)) == 1 and len(seen) == 1  # the hook ran before the answer came
        with pytest.raises(httpx.RemoteProtocolError):
            _worker(client, stand, "W2")
        assert _worker(client, stand, "W1").status_code == 400  # refused writes are not "applied"
        client.get(f"{stand.fno_url}/data/Workers", headers=AUTH)  # reads are not writes
        remove()
        assert _worker(client, stand, "W3").status_code == 201
    assert [(w.service, w.method, w.status, w.number) for w in seen] == [
        ("fno", "POST", 201, 1),
        ("fno", "POST", 201, 2),
    ]
    assert stand.faults.applied_writes == 3


def test_count_probability_and_window(stand: Stand) -> None:
    clock = [0.0]
    faults = Faults(seed=3, clock=lambda: clock[0])
    odd = faults.unavailable("GET", "/a", probability=0.5)
    windowed = faults.unavailable("GET", "/b", window=(10.0, 20.0))
    from simulators.faults import RequestInfo

    draws = [faults.decide(RequestInfo("x", "GET", "/a", "")) is not None for _ in range(200)]
    assert 60 < sum(draws) < 140 and odd.fired == sum(draws)
    # The same seed fires for the same requests.
    again = Faults(seed=3, clock=lambda: clock[0])
    again.unavailable("GET", "/a", probability=0.5)
    assert [again.decide(RequestInfo("x", "GET", "/a", "")) is not None for _ in range(200)] == draws
    assert faults.decide(RequestInfo("x", "GET", "/b", "")) is None
    clock[0] = 15.0
    assert faults.decide(RequestInfo("x", "GET", "/b", "")) is not None
    faults.restart_clock()
    assert faults.decide(RequestInfo("x", "GET", "/b", "")) is None
    assert faults.decide(RequestInfo("x", "POST", "/b", "")) is None  # method must match
    assert windowed.fired == 1
