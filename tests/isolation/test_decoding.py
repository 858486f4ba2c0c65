"""The pieces under the isolation tests: hostile JSON decoding and the F&O client's 502 rule."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from sync_core.d365.client import FnoClient
from sync_core.d365.errors import FnoError
from sync_core.model import hostile_json
from tests.isolation.faults import BAD_GATEWAY_PAGE


def test_lone_surrogates_and_bad_bytes_become_the_replacement_character() -> None:
    body = (
        b'{"a": "x\\ud800y", "\\udc00k": ["\\uDBFF"], "pair": "\\ud83d\\ude00", "raw": "\xed\xa0\x80 \xff"}'
    )
    assert hostile_json.loads(body) == {
        "a": "x\ufffdy",
        "\ufffdk": ["\ufffd"],
        "pair": "\U0001f600",  # a correct pair stays the character it encodes
        "raw": "\ufffd\ufffd\ufffd \ufffd",
    }
    assert hostile_json.loads('{"a": "\ud800"}') == {"a": "\ufffd"}  # text already decoded


@pytest.mark.parametrize("body", [b"[" * 100_000, b"<html>", b"", b'{"a": 1'])
def test_garbage_is_unreadable_json(body: bytes) -> None:
    with pytest.raises(hostile_json.UnreadableJson):
        hostile_json.loads(body)


def test_nesting_depth_ignores_brackets_inside_strings() -> None:
    assert hostile_json.nesting_depth('{"a": "[[[[{{{{", "b": [[1]]}', 16) == 3
    assert hostile_json.nesting_depth("[" * 10_000, 16) == 17  # counted just past the limit
    with pytest.raises(hostile_json.UnreadableJson):
        hostile_json.loads(b'{"a": [[[[[[1]]]]]]}', max_depth=4)


class _Tokens:
    async def get_token(self, scope: str) -> str:
        return "t"


def _client(answers: list[httpx.Response], seen: list[str]) -> FnoClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return answers.pop(0)

    async def no_sleep(_seconds: float) -> None:
        return None

    return FnoClient("https://fno.example", _Tokens(), sleep=no_sleep, transport=httpx.MockTransport(handler))


def _gateway() -> httpx.Response:
    return httpx.Response(502, content=BAD_GATEWAY_PAGE, headers={"content-type": "text/html"})


def test_a_502_page_is_resent_for_a_read_but_never_for_a_create() -> None:
    async def run() -> tuple[list[str], list[str], Any]:
        reads: list[str] = []
        async with _client([_gateway(), httpx.Response(200, json={"value": [{"A": 1}]})], reads) as client:
            rows = [row async for row in client.query("Workers")]
        creates: list[str] = []
        async with _client([_gateway()], creates) as client:
            with pytest.raises(FnoError) as raised:
                await client.create("Activities", {"Purpose": "x"})
        return reads, creates, (rows, raised.value.status)

    reads, creates, (rows, status) = asyncio.run(run())
    assert reads == ["GET", "GET"] and rows == [{"A": 1}]
    assert creates == ["POST"] and status == 502  # it may have reached F&O: the pair job decides
