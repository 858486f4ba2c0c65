"""The sample tenant with a fault layer in front of each stand-in: an ASGI wrapper that can answer a request
itself (a gateway's 502 HTML page) or rewrite the JSON a stand-in answers (text no stand-in would store, a
field taken out). The stand-ins themselves stay as they are."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from simulators.fno.app import create_fno_app
from simulators.graph.app import create_graph_app
from tests.e2e import harness
from tests.e2e.harness import NOW, Tenant

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Message, Receive, Send], Awaitable[None]]

BAD_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


class FaultLayer:
    """`fail(method, path)` true: answer 502 with an HTML page instead of the stand-in.
    `rewrite(body)`: the stand-in's answer body as the client receives it."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.fail: Callable[[str, str], bool] | None = None
        self.rewrite: Callable[[bytes], bytes] | None = None
        self.failed: list[str] = []

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fail = self.fail
        if fail is not None and fail(scope["method"], scope["path"]):
            self.failed.append(scope["path"])
            headers = [
                (b"content-type", b"text/html"),
                (b"content-length", str(len(BAD_GATEWAY_PAGE)).encode()),
            ]
            await send({"type": "http.response.start", "status": 502, "headers": headers})
            await send({"type": "http.response.body", "body": BAD_GATEWAY_PAGE})
            return
        rewrite = self.rewrite
        if rewrite is None:
            await self.app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            body = rewrite(body) if body else body
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


def edit_items(body: bytes, marker: str, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """Apply `edit` to every JSON object of the body with an `id` or `ActivityNumber` equal to `marker`
    (in delta pages, single reads, $batch answers alike)."""
    if marker.encode() not in body:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if marker in (value.get("id"), value.get("ActivityNumber")):
                edit(value)
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(data)
    return json.dumps(data).encode()


@contextmanager
def faulty_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, now: datetime = NOW
) -> Iterator[tuple[Tenant, FaultLayer, FaultLayer]]:
    """The e2e sample tenant, served through a FaultLayer each: (tenant, graph layer, F&O layer)."""
    layers: dict[str, FaultLayer] = {}

    def wrapped(name: str, make: Callable[[Any], Any]) -> Callable[[Any], FaultLayer]:
        def create(state: Any) -> FaultLayer:
            layers[name] = FaultLayer(make(state))
            return layers[name]

        return create

    monkeypatch.setattr(harness, "create_graph_app", wrapped("graph", create_graph_app))
    monkeypatch.setattr(harness, "create_fno_app", wrapped("fno", create_fno_app))
    with harness.sample_tenant(tmp_path, now) as tenant:
        yield tenant, layers["graph"], layers["fno"]
