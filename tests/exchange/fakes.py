"""Test doubles for the Graph client: a recording mock transport and a sleep that only records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx

from sync_core.exchange import GraphClient, StaticTokenSource

GRAPH = "https://graph.microsoft.com/v1.0"
TOKEN = "test-token"
Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


class Recorder:
    """An httpx mock transport handler that keeps every request it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        result = self.handler(request)
        if not isinstance(result, httpx.Response):
            result = await result
        return result


def make_client(handler: Handler, **options: Any) -> tuple[GraphClient, Recorder, FakeSleep]:
    recorder = Recorder(handler)
    sleep = FakeSleep()
    options.setdefault("sleep", sleep)
    client = GraphClient(
        options.pop("base_url", GRAPH),
        StaticTokenSource(TOKEN),
        transport=httpx.MockTransport(recorder),
        **options,
    )
    return client, recorder, sleep


def path_of(request: httpx.Request) -> str:
    """The raw (still percent-encoded) path, as a server would see it on the wire."""
    return request.url.raw_path.decode().split("?", 1)[0]


def query_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.url.query.decode(), keep_blank_values=True).items()}


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def graph_error(
    status: int, code: str, message: str = "failed", headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers)


def decoded_segments(request: httpx.Request) -> list[str]:
    return [unquote(part) for part in path_of(request).split("/")]
