"""The anonymous notification endpoints shrug off any body.

The HTTP functions are served on loopback as the Functions host serves them and called over real HTTP:
garbage gets a 4xx (never a 500, never a queued scan), Graph's validation handshake and a genuine
notification still work."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from sync_core import functions, instance
from sync_core.app import open_store
from sync_core.notifications.client_state import make_client_state
from sync_core.notifications.receiver import MAX_BODY_BYTES
from sync_core.runtime.messages import ScanMailbox, decode
from sync_core.runtime.queues import InProcessQueues
from sync_core.state.base import MailboxRecord
from tests.notifications.webhook import webhook

SECRET = "a-notification-secret-of-forty-characters"
ALICE = "622eaaff-0683-4862-9de4-f2ec83c2bd98"
ROUTES = ("/api/graph/notifications", "/api/graph/lifecycle")


class KeptQueues(InProcessQueues):
    async def close(self) -> None:  # the function closes its queues; the test still wants to look
        return None


@pytest.fixture
def endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, KeptQueues]]:
    env = {
        "D365_URL": "https://fno.example",
        "GRAPH_URL": "https://graph.example/v1.0",
        "SYNC_AUTH": "static",
        "SYNC_STATIC_TOKEN": "t",
        "SYNC_MAILBOXES": "alice@contoso.com",
        "SYNC_COMPANY": "usmf",
        "SYNC_STATE_DIR": str(tmp_path / "state"),
        "SYNC_NOTIFICATION_URL": "https://func.example",
        "SYNC_NOTIFICATION_SECRET": SECRET,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    functions.settings.cache_clear()
    kept = KeptQueues()
    monkeypatch.setattr(instance, "storage_queues", lambda config: kept)  # the webhook's queues

    async def seed() -> None:
        store = open_store(functions.settings())
        try:
            await store.upsert_mailbox(
                MailboxRecord(mailbox="alice@contoso.com", user_id=ALICE, personnel_number="1")
            )
        finally:
            await store.close()

    asyncio.run(seed())
    with webhook() as url:
        yield url, kept
    functions.settings.cache_clear()


def _nested(opening: str, depth: int) -> bytes:
    return (opening * depth).encode()


def _deep_object(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _genuine(resource: str = f"Users/{ALICE}/Events/AAMk1=") -> dict[str, Any]:
    return {
        "subscriptionId": "s1",
        "changeType": "updated",
        "resource": resource,
        "clientState": make_client_state(SECRET.encode(), "appointment", ALICE),
    }


def _queued(queues: KeptQueues) -> list[tuple[str, str]]:
    found = []
    for text, _count in queues.take(functions.settings().scan_queue, 1000):
        message = decode(text)
        assert isinstance(message, ScanMailbox)
        found.append((message.mailbox, message.kind))
    return found


GARBAGE: dict[str, bytes] = {
    "200 KB of nested [": _nested("[", 200_000),
    "nested [ just past the limit": _nested("[", 17) + _nested("]", 17),
    "200 KB of nested objects": _nested('{"a":', 40_000),
    "a deep object inside an item": json.dumps(
        {"value": [{**_genuine(), "resourceData": _deep_object(40)}]}
    ).encode(),
    "not JSON": b"<html><body>hello</body></html>",
    "not UTF-8": b"\xff\xfe\x00garbage",
    "truncated JSON": json.dumps({"value": [_genuine()]}).encode()[:-3],
    "empty": b"",
    "a list": b"[]",
    "a string": b'"value"',
    "null": b"null",
    "value not a list": b'{"value": {"0": {}}}',
    "no item is an object": b'{"value": [1, "two", null, [3]]}',
    "too many items": json.dumps({"value": [{}] * 1001}).encode(),
}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_is_answered_4xx(endpoint: tuple[str, KeptQueues], route: str, name: str) -> None:
    url, queues = endpoint
    answer = httpx.post(url + route, content=GARBAGE[name], timeout=30)
    assert answer.status_code == 400, name
    assert _queued(queues) == []


def test_a_huge_body_is_413(endpoint: tuple[str, KeptQueues]) -> None:
    url, queues = endpoint
    body = b'{"value": [' + b" " * MAX_BODY_BYTES + b"]}"
    for route in ROUTES:
        assert httpx.post(url + route, content=body, timeout=60).status_code == 413
    assert _queued(queues) == []


def test_items_of_the_wrong_types_are_ignored_and_acknowledged(endpoint: tuple[str, KeptQueues]) -> None:
    """A batch that is a batch, with items no subscription of ours sent: acknowledged (Graph would only
    retry a refused batch), nothing queued but for the genuine clientState (its resource never decides)."""
    url, queues = endpoint
    items: list[Any] = [
        {"clientState": 5, "resource": ["x"], "subscriptionId": {}, "lifecycleEvent": [1]},
        {**_genuine(), "resource": {"a": 1}},  # a change scan; no lifecycle event
        {**_genuine(), "clientState": "v1.appointment.\ud800.x"},  # a lone surrogate, escaped by json.dumps
        {**_genuine(), "clientState": None},
        "not an object",
    ]
    for route in ROUTES:
        answer = httpx.post(url + route, content=json.dumps({"value": items}).encode(), timeout=30)
        assert answer.status_code == 202
    assert _queued(queues) == [("alice@contoso.com", "appointment")]


def test_validation_and_a_genuine_notification_still_work(endpoint: tuple[str, KeptQueues]) -> None:
    url, queues = endpoint
    token = "Validation: Testing client application reachability for subscription Request-Id: 1+2=3&x/y"
    for route in ROUTES:
        answer = httpx.post(f"{url}{route}?validationToken={quote(token, safe='')}", timeout=30)
        assert (answer.status_code, answer.text) == (200, token)
    # Right after the garbage, a genuine notification queues its scan.
    assert httpx.post(url + ROUTES[0], content=GARBAGE["200 KB of nested ["], timeout=30).status_code == 400
    answer = httpx.post(url + ROUTES[0], json={"value": [_genuine()]}, timeout=30)
    assert answer.status_code == 202
    assert _queued(queues) == [("alice@contoso.com", "appointment")]
