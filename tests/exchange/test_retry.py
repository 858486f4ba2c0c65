"""The client is the one place that retries: Retry-After honoured, backoff otherwise, SDK retries off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from sync_core.exchange import GraphError, GraphThrottled
from sync_core.exchange.retry import MAX_BACKOFF, parse_retry_after

from .fakes import graph_error, make_client

MAILBOX = "adele@contoso.com"


def throttled(retry_after: str | None = None, status: int = 429) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    return graph_error(status, "TooManyRequests" if status == 429 else "ServiceUnavailable", headers=headers)


def test_parse_retry_after_forms() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("2.128") == pytest.approx(2.128)
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("100000") == 300.0
    for junk in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(junk) is None


async def test_429_is_retried_after_the_fractional_retry_after() -> None:
    answers = iter([throttled("2.128"), throttled("0.5"), httpx.Response(200, json={"id": "u"})])
    client, recorder, sleep = make_client(lambda request: next(answers))
    user = await client.get_user(MAILBOX)
    await client.close()
    assert user is not None
    assert sleep.delays == [pytest.approx(2.128), pytest.approx(0.5)]
    assert len(recorder.requests) == 3
    assert client.stats == {"requests": 3, "throttled": 2, "retries": 2}


async def test_sdk_retry_middleware_does_not_retry_on_its_own() -> None:
    # One 429 answer must produce exactly one more request: a second retry layer would multiply them.
    answers = iter([throttled("1"), httpx.Response(201, json={"id": "e"})])
    client, recorder, sleep = make_client(lambda request: next(answers))
    await client.create_event(MAILBOX, {"subject": "s", "transactionId": "t-1"})
    await client.close()
    assert len(recorder.requests) == 2
    assert sleep.delays == [1.0]
    middleware = client._transport._http._transport.pipeline._first_middleware
    names = []
    while middleware is not None:
        names.append(type(middleware).__name__)
        middleware = middleware.next
    assert "RetryHandler" not in names and "GraphTelemetryHandler" in names


async def test_503_without_retry_after_backs_off_exponentially_with_a_cap() -> None:
    client, recorder, sleep = make_client(lambda request: throttled(status=503), max_attempts=8)
    with pytest.raises(GraphThrottled) as caught:
        await client.get_event(MAILBOX, "e")
    await client.close()
    assert len(recorder.requests) == 8
    assert caught.value.status == 503
    assert len(sleep.delays) == 7
    for attempt, delay in enumerate(sleep.delays, start=1):
        ceiling = min(MAX_BACKOFF, 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert client.stats["throttled"] == 0 and client.stats["retries"] == 7


async def test_still_throttled_after_the_last_attempt_raises_with_retry_after() -> None:
    client, recorder, sleep = make_client(lambda request: throttled("3"), max_attempts=3)
    with pytest.raises(GraphThrottled) as caught:
        await client.request_json("GET", MAILBOX, "users/x/events")
    await client.close()
    assert caught.value.retry_after == 3.0 and caught.value.status == 429
    assert len(recorder.requests) == 3 and sleep.delays == [3.0, 3.0]


async def test_generic_post_is_not_repeated_after_503_but_429_is() -> None:
    client, recorder, sleep = make_client(lambda request: throttled(status=503))
    with pytest.raises(GraphThrottled):
        await client.request_json("POST", MAILBOX, "users/x/todo/lists/l/tasks", body={"title": "t"})
    assert len(recorder.requests) == 1

    answers = iter([throttled("1"), httpx.Response(201, json={"id": "t"})])
    recorder.handler = lambda request: next(answers)
    assert await client.request_json("POST", MAILBOX, "users/x/todo/lists/l/tasks", body={"title": "t"}) == {
        "id": "t"
    }
    await client.close()
    assert len(recorder.requests) == 3 and sleep.delays == [1.0]


async def test_event_create_is_retried_after_504_because_it_carries_a_transaction_id() -> None:
    answers = iter([throttled(status=504), httpx.Response(201, json={"id": "e"})])
    client, recorder, _ = make_client(lambda request: next(answers))
    await client.create_event(MAILBOX, {"subject": "s", "transactionId": "t-1"})
    await client.close()
    assert len(recorder.requests) == 2
    assert recorder.requests[0].content == recorder.requests[1].content


async def test_connect_errors_are_retried_and_then_reported_as_graph_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, recorder, sleep = make_client(handler, max_attempts=3)
    with pytest.raises(GraphError) as caught:
        await client.request_json("POST", MAILBOX, "users/x/contacts", body={"givenName": "A"})
    await client.close()
    assert caught.value.status == 0 and caught.value.code == "TransportError"
    assert len(recorder.requests) == 3 and len(sleep.delays) == 2


async def test_read_timeouts_are_not_repeated_for_a_generic_post() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client, recorder, sleep = make_client(handler)
    with pytest.raises(GraphError):
        await client.request_json("POST", MAILBOX, "users/x/contacts", body={"givenName": "A"})
    await client.close()
    assert len(recorder.requests) == 1 and sleep.delays == []


async def test_other_errors_are_not_retried() -> None:
    client, recorder, sleep = make_client(lambda request: graph_error(400, "ErrorInvalidRequest"))
    with pytest.raises(GraphError) as caught:
        await client.update_event(MAILBOX, "e", {"subject": "x"})
    await client.close()
    assert caught.value.status == 400 and len(recorder.requests) == 1 and sleep.delays == []
