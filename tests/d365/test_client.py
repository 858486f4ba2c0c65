"""FnoClient against httpx.MockTransport: cross-company, paging, retries, errors, concurrency."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from sync_core.d365.client import FnoClient
from sync_core.d365.errors import FnoError, FnoNotFound, FnoThrottled

BASE = "https://fno.example.com"
Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


class Tokens:
    def __init__(self) -> None:
        self.scopes: list[str] = []

    async def get_token(self, scope: str) -> str:
        self.scopes.append(scope)
        return "tok"


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Recorder:
    """A MockTransport handler that records requests and answers from a script or a function."""

    def __init__(self, respond: Handler) -> None:
        self.requests: list[httpx.Request] = []
        self._respond = respond

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        result = self._respond(request)
        if not isinstance(result, httpx.Response):
            result = await result
        return result


def scripted(*responses: httpx.Response) -> Recorder:
    queue = list(responses)
    return Recorder(lambda request: queue.pop(0))


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


def make(recorder: Recorder, tokens: Tokens, sleeps: Sleeps, **kwargs: Any) -> FnoClient:
    return FnoClient(BASE + "/", tokens, sleep=sleeps, transport=httpx.MockTransport(recorder), **kwargs)


@pytest.fixture
async def closing() -> AsyncIterator[list[FnoClient]]:
    clients: list[FnoClient] = []
    yield clients
    for client in clients:
        await client.close()


def ok(payload: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=payload)


def fno_error(status: int, inner: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": "", "message": "An error has occurred.", "innererror": {"message": inner}}}
    return httpx.Response(status, json=body, headers=headers)


async def test_query_pages_and_sends_cross_company_everywhere(
    tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]
) -> None:
    recorder = scripted(
        ok(
            {
                "value": [{"n": 1}, {"n": 2}],
                "@odata.nextLink": f"{BASE}/data/Workers?cross-company=true&$skiptoken=2",
            }
        ),
        # F&O keeps options in nextLink, but do not rely on it:
        ok({"value": [{"n": 3}], "@odata.nextLink": f"{BASE}/data/Workers?$skiptoken=3"}),
        ok({"value": [{"n": 4}]}),
    )
    client = make(recorder, tokens, sleeps, page_size=2)
    closing.append(client)
    rows = [
        row async for row in client.query("Workers", filter="Name eq 'x'", select=["Name", "PersonnelNumber"])
    ]
    assert [r["n"] for r in rows] == [1, 2, 3, 4]
    assert len(recorder.requests) == 3
    for request in recorder.requests:
        assert request.url.params["cross-company"] == "true"
        assert request.headers["Authorization"] == "Bearer tok"
        assert request.headers["Prefer"] == "odata.maxpagesize=2"
    first = recorder.requests[0].url
    assert first.path == "/data/Workers"
    assert first.params["$filter"] == "Name eq 'x'"
    assert first.params["$select"] == "Name,PersonnelNumber"
    assert recorder.requests[2].url.params["$skiptoken"] == "3"
    assert set(tokens.scopes) == {f"{BASE}/.default"}
    assert client.stats == {"requests": 3, "throttled": 0, "retries": 0}


async def test_query_encodes_filter_values_safely(
    tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]
) -> None:
    recorder = scripted(ok({"value": []}))
    client = make(recorder, tokens, sleeps)
    closing.append(client)
    hostile = "E eq 'a+b&c=d#e;f %g é'"
    assert [row async for row in client.query("Workers", filter=hostile)] == []
    url = recorder.requests[0].url
    assert url.params["$filter"] == hostile
    assert b"+" not in url.query and b"#" not in url.query


async def test_query_top_stops_early(tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]) -> None:
    recorder = scripted(ok({"value": [{"n": 1}, {"n": 2}], "@odata.nextLink": f"{BASE}/data/W?$skiptoken=2"}))
    client = make(recorder, tokens, sleeps)
    closing.append(client)
    assert [r["n"] async for r in client.query("W", top=2)] == [1, 2]
    assert recorder.requests[0].url.params["$top"] == "2"
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "link", ["https://evil.example.net/data/W?$skiptoken=2", "http://fno.example.com/data/W?$skiptoken=2", 42]
)
async def test_foreign_or_bad_next_link_is_refused(
    link: object, tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]
) -> None:
    recorder = scripted(ok({"value": [{"n": 1}], "@odata.nextLink": link}))
    client = make(recorder, tokens, sleeps)
    closing.append(client)
    with pytest.raises(FnoError):
        _ = [row async for row in client.query("W")]
    assert len(recorder.requests) == 1


async def test_next_link_loop_is_refused(tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]) -> None:
    recorder = scripted(ok({"value": [], "@odata.nextLink": f"{BASE}/data/W?cross-company=true"}))
    client = make(recorder, tokens, sleeps)
    closing.append(client)
    with pytest.raises(FnoError, match="repeats"):
        _ = [row async for row in client.query("W")]


async def test_throttling_honours_retry_after(
    tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]
) -> None:
    recorder = scripted(
        fno_error(429, "Too many requests", {"Retry-After": "7"}),
        fno_error(429, "Too many requests", {"Retry-After": "3"}),
        ok({"value": [{"n": 1}]}),
    )
    client = make(recorder, tokens, sleeps)
    closing.append(client)
    assert [r["n"] async for r in client.query("W")] == [1]
    assert sleeps.delays == [7.0, 3.0]
    assert client.stats == {"requests": 3, "throttled": 2, "retries": 2}
    assert all(r.url.params["cross-company"] == "true" for r in recorder.requests)


async def test_unavailable_backs_off_then_gives_up(
    tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]
) -> None:
    recorder = Recorder(lambda request: httpx.Response(503, text="busy"))
    client = make(recorder, tokens, sleeps, max_attempts=4)
    closing.append(client)
    with pytest.raises(FnoThrottled) as info:
        await client.get("Activities", {"dataAreaId": "usmf", "ActivityNumber": "A1"})
    assert info.value.status == 503
    assert sleeps.delays == [1.0, 2.0, 4.0]
    assert len(recorder.requests) == 4
    assert client.stats["retries"] == 3


async def test_create_is_not_resent_after_gateway_timeout(
    tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]
) -> None:
    recorder = scripted(httpx.Response(504))
    client = make(recorder, tokens, sleeps)
    closing.append(client)
    with pytest.raises(FnoThrottled):
        await client.create("Activities", {"Purpose": "x"})
    assert len(recorder.requests) == 1
    assert sleeps.delays == []


async def test_create_is_resent_after_503_and_429(
    tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]
) -> None:
    recorder = scripted(
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "1"}),
        ok({"ActivityNumber": "A9"}, 201),
    )
    client = make(recorder, tokens, sleeps)
    closing.append(client)
    created = await client.create("Activities", {"dataAreaId": "usmf", "Category": "Task"})
    assert created == {"ActivityNumber": "A9"}
    posts = recorder.requests
    assert [r.method for r in posts] == ["POST"] * 3
    assert all(json.loads(r.content) == {"dataAreaId": "usmf", "Category": "Task"} for r in posts)
    assert all(r.url.params["cross-company"] == "true" for r in posts)


async def test_transport_errors(tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]) -> None:
    calls: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        if request.method == "POST":
            raise httpx.ReadTimeout("slow", request=request)
        return ok({"value": []})

    client = make(Recorder(flaky), tokens, sleeps)
    closing.append(client)
    assert [r async for r in client.query("W")] == []  # connect error resent
    with pytest.raises(FnoError) as info:
        await client.create("W", {"a": "b"})  # read timeout on a create: may have run, not resent
    assert info.value.status == 0
    assert calls == ["GET", "GET", "POST"]


async def test_error_body_is_parsed_without_personal_data(
    tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]
) -> None:
    recorder = scripted(
        fno_error(400, "Write failed: value 'o''brien@example.com' is not valid.\r\n  Field X")
    )
    client = make(recorder, tokens, sleeps)
    closing.append(client)
    with pytest.raises(FnoError) as info:
        _ = [
            r
            async for r in client.query(
                "ContactPersons", filter="PrimaryEmailAddress eq 'secret@example.com'"
            )
        ]
    error = info.value
    assert type(error) is FnoError
    assert error.status == 400
    assert "Write failed" in error.message and "Field X" in error.message
    assert "ContactPersons" in error.message
    assert "example.com" not in str(error)
    assert "\n" not in error.message


async def test_get_missing_is_none_and_key_is_in_path(
    tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]
) -> None:
    recorder = scripted(fno_error(404, "not found"), ok({"ActivityNumber": "A/1"}))
    client = make(recorder, tokens, sleeps)
    closing.append(client)
    assert await client.get("Activities", {"dataAreaId": "usmf", "ActivityNumber": "A1"}) is None
    assert await client.get("Activities", {"dataAreaId": "usmf", "ActivityNumber": "A/1"}) == {
        "ActivityNumber": "A/1"
    }
    raw = recorder.requests[1].url.raw_path
    assert raw.startswith(b"/data/Activities(dataAreaId='usmf',ActivityNumber='A%2F1')?")
    assert all(r.url.params["cross-company"] == "true" for r in recorder.requests)


async def test_update_and_delete(tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]) -> None:
    recorder = scripted(
        httpx.Response(204), fno_error(404, "gone"), httpx.Response(204), fno_error(404, "gone")
    )
    client = make(recorder, tokens, sleeps)
    closing.append(client)
    key = {"dataAreaId": "usmf", "ActivityNumber": "A1"}
    await client.update("Activities", key, {"Purpose": "p", "Category": "Task"})
    with pytest.raises(FnoNotFound):
        await client.update("Activities", key, {"Purpose": "p"})
    await client.delete("Activities", key)
    await client.delete("Activities", key)  # already gone: fine
    methods = [r.method for r in recorder.requests]
    assert methods == ["PATCH", "PATCH", "DELETE", "DELETE"]
    assert json.loads(recorder.requests[0].content) == {"Purpose": "p", "Category": "Task"}
    assert all(r.url.params["cross-company"] == "true" for r in recorder.requests)


async def test_concurrency_is_capped(tokens: Tokens, sleeps: Sleeps, closing: list[FnoClient]) -> None:
    in_flight = 0
    peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight -= 1
        return ok({"id": 1})

    client = make(Recorder(slow), tokens, sleeps, max_concurrency=3)
    closing.append(client)
    await asyncio.gather(*(client.get("W", {"PersonnelNumber": str(i)}) for i in range(12)))
    assert peak == 3


@pytest.mark.parametrize(
    "url",
    [
        "http://fno.example.com",
        "ftp://fno.example.com",
        "https://fno.example.com/?x=1",
        "https://u@h.com",
        "x",
    ],
)
def test_rejects_insecure_or_odd_roots(url: str, tokens: Tokens) -> None:
    with pytest.raises(ValueError):
        FnoClient(url, tokens)


@pytest.mark.parametrize(
    "url", ["https://fno.example.com/", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:5"]
)
async def test_accepts_https_and_loopback_roots(url: str, tokens: Tokens) -> None:
    await FnoClient(url, tokens).close()


def test_rejects_bad_entity_set_names(tokens: Tokens, sleeps: Sleeps) -> None:
    with pytest.raises(ValueError):
        FnoClient(BASE, tokens, parent_links_collection="Links?x=1")
