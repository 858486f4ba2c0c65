"""JSON $batch: splitting, relative URLs, dependsOn, per-item 429 retries, order, raw bodies."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sync_core.exchange.batching import split_calls

from .fakes import GRAPH, body_of, make_client, path_of

MAILBOX = "adele@contoso.com"


def ok(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "status": 200,
        "headers": {"Content-Type": "application/json"},
        "body": {"echo": item["url"]},
    }


def answer_batch(responder: Any) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        assert path_of(request) == "/v1.0/$batch" and request.method == "POST"
        items = body_of(request)["requests"]
        # Graph answers batch items in any order.
        return httpx.Response(200, json={"responses": [responder(item) for item in reversed(items)]})

    return handler


async def test_more_than_twenty_requests_are_split_and_answers_keep_the_request_order() -> None:
    client, recorder, _ = make_client(answer_batch(ok))
    requests = [{"method": "GET", "url": f"/users/{MAILBOX}/events/e{i}"} for i in range(45)]
    answers = await client.batch(MAILBOX, requests)
    await client.close()

    sizes = [len(body_of(r)["requests"]) for r in recorder.requests]
    assert sizes == [20, 20, 5]
    assert [a["body"]["echo"] for a in answers] == [r["url"] for r in requests]
    assert [a["id"] for a in answers] == [str(i + 1) for i in range(45)]


async def test_items_use_relative_urls_depends_on_spelling_and_json_bodies() -> None:
    client, recorder, _ = make_client(answer_batch(ok))
    await client.batch(
        MAILBOX,
        [
            {
                "id": "a",
                "method": "post",
                "url": f"{GRAPH}/users/{MAILBOX}/events",
                "body": {"subject": None},
            },
            {"id": "b", "method": "GET", "url": f"users/{MAILBOX}/mailboxSettings", "depends_on": ["a"]},
        ],
    )
    await client.close()
    items = body_of(recorder.requests[0])["requests"]
    assert items[0]["url"] == f"/users/{MAILBOX}/events"
    assert items[0]["method"] == "POST"
    assert items[0]["body"] == {"subject": None}
    assert items[0]["headers"]["Content-Type"] == "application/json"
    assert items[1]["url"] == f"/users/{MAILBOX}/mailboxSettings"
    assert items[1]["dependsOn"] == ["a"] and "depends_on" not in items[1]
    assert "body" not in items[1]


def test_dependency_chains_are_never_split_across_calls() -> None:
    items: list[dict[str, Any]] = [{"id": str(i), "method": "GET", "url": "/x"} for i in range(30)]
    for i in range(15, 25):  # 15..24 form one chain
        items[i]["dependsOn"] = [str(i - 1)] if i > 15 else []
    calls = split_calls(items)
    assert all(len(call) <= 20 for call in calls)
    chain_calls = {index for index, call in enumerate(calls) for item in call if 15 <= int(item["id"]) < 25}
    assert len(chain_calls) == 1
    assert sorted(int(item["id"]) for call in calls for item in call) == list(range(30))


async def test_invalid_batches_are_refused_before_sending() -> None:
    client, recorder, _ = make_client(answer_batch(ok))
    with pytest.raises(ValueError, match="unique"):
        await client.batch(
            MAILBOX, [{"id": "1", "method": "GET", "url": "/a"}, {"id": "1", "method": "GET", "url": "/b"}]
        )
    with pytest.raises(ValueError, match="dependsOn"):
        await client.batch(MAILBOX, [{"id": "1", "method": "GET", "url": "/a", "dependsOn": ["9"]}])
    with pytest.raises(ValueError):
        await client.batch(MAILBOX, [{"method": "GET", "url": "https://evil.example.com/v1.0/a"}])
    chain = [
        {"id": str(i), "method": "GET", "url": "/a", "dependsOn": [str(i - 1)] if i else []}
        for i in range(21)
    ]
    with pytest.raises(ValueError, match="exceeds"):
        await client.batch(MAILBOX, chain)
    await client.close()
    assert recorder.requests == []


async def test_throttled_items_are_retried_after_their_retry_after_with_failed_dependents() -> None:
    rounds: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        items = body_of(request)["requests"]
        rounds.append([item["id"] for item in items])
        responses = []
        for item in items:
            if len(rounds) == 1 and item["id"] in ("2", "4"):
                wait = "1.5" if item["id"] == "2" else "3.25"
                responses.append(
                    {
                        "id": item["id"],
                        "status": 429,
                        "headers": {"Retry-After": wait},
                        "body": {"error": {"code": "TooManyRequests"}},
                    }
                )
            elif len(rounds) == 1 and item["id"] == "5":
                responses.append({"id": "5", "status": 424, "body": {"error": {"code": "FailedDependency"}}})
            else:
                responses.append(
                    {
                        "id": item["id"],
                        "status": 201 if item["method"] == "POST" else 200,
                        "body": {"round": len(rounds), "id": item["id"]},
                    }
                )
        return httpx.Response(200, json={"responses": responses})

    client, _, sleep = make_client(handler)
    requests: list[dict[str, Any]] = [
        {"method": "GET", "url": "/a"},
        {"method": "POST", "url": "/b", "body": {"transactionId": "t"}},
        {"method": "GET", "url": "/c"},
        {"method": "PATCH", "url": "/d", "body": {"x": None}},
        {"method": "GET", "url": "/e", "dependsOn": ["4"]},
        {"method": "GET", "url": "/f", "dependsOn": ["3"]},
    ]
    answers = await client.batch(MAILBOX, requests)
    await client.close()

    assert rounds == [["1", "2", "3", "4", "5", "6"], ["2", "4", "5"]]
    assert sleep.delays == [3.25]
    assert [a["status"] for a in answers] == [200, 201, 200, 200, 200, 200]
    assert [a["body"]["round"] for a in answers] == [1, 2, 1, 2, 2, 1]
    assert client.stats == {"requests": 2, "throttled": 2, "retries": 3}


async def test_retried_items_keep_only_dependencies_that_are_sent_again() -> None:
    sent: list[list[dict[str, Any]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        items = body_of(request)["requests"]
        sent.append(items)
        status = 429 if len(sent) == 1 and items[-1]["id"] == "2" else 200
        return httpx.Response(
            200,
            json={
                "responses": [{"id": "1", "status": 200, "body": {}}] * (len(sent) == 1)
                + [{"id": "2", "status": status, "body": {}}]
            },
        )

    client, _, _ = make_client(handler)
    await client.batch(
        MAILBOX, [{"method": "GET", "url": "/a"}, {"method": "GET", "url": "/b", "dependsOn": ["1"]}]
    )
    await client.close()
    assert [item["id"] for item in sent[1]] == ["2"]
    assert "dependsOn" not in sent[1][0]


async def test_items_still_throttled_after_the_last_attempt_are_returned_as_429() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        items = body_of(request)["requests"]
        return httpx.Response(
            200,
            json={
                "responses": [
                    {
                        "id": i["id"],
                        "status": 429,
                        "headers": {},
                        "body": {"error": {"code": "TooManyRequests"}},
                    }
                    for i in items
                ]
            },
        )

    client, recorder, sleep = make_client(handler, max_attempts=3)
    answers = await client.batch(MAILBOX, [{"method": "GET", "url": "/a"}])
    await client.close()
    assert len(recorder.requests) == 3 and len(sleep.delays) == 2
    assert answers[0]["status"] == 429


async def test_raw_item_bodies_and_missing_answers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "responses": [{"id": "1", "status": "200", "body": {"value": [{"id": "x", "extra": None}]}}]
            },
        )

    client, _, _ = make_client(handler)
    answers = await client.batch(
        MAILBOX, [{"method": "GET", "url": "/a"}, {"method": "POST", "url": "/b", "body": {}}]
    )
    await client.close()
    assert answers[0] == {"id": "1", "status": 200, "body": {"value": [{"id": "x", "extra": None}]}}
    assert answers[1]["status"] == 500 and answers[1]["body"]["error"]["code"] == "MissingBatchResponse"


async def test_the_batch_request_itself_is_retried_when_throttled() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "2"}),
            httpx.Response(200, json={"responses": [{"id": "1", "status": 200, "body": {}}]}),
        ]
    )
    client, recorder, sleep = make_client(lambda request: next(answers))
    result = await client.batch(MAILBOX, [{"method": "GET", "url": "/a"}])
    await client.close()
    assert len(recorder.requests) == 2 and sleep.delays == [2.0] and result[0]["status"] == 200


async def test_a_batch_that_progresses_each_round_is_not_cut_short_by_max_attempts() -> None:
    # Like Exchange: only four items of a mailbox run at once, the rest answer 429.
    def handler(request: httpx.Request) -> httpx.Response:
        items = body_of(request)["requests"]
        responses = [
            {"id": item["id"], "status": 200, "body": {}}
            if index < 4
            else {"id": item["id"], "status": 429, "headers": {"Retry-After": "0.5"}, "body": {}}
            for index, item in enumerate(items)
        ]
        return httpx.Response(200, json={"responses": responses})

    client, recorder, sleep = make_client(handler, max_attempts=2)
    answers = await client.batch(MAILBOX, [{"method": "GET", "url": f"/e{i}"} for i in range(20)])
    await client.close()
    assert [a["status"] for a in answers] == [200] * 20
    assert [len(body_of(r)["requests"]) for r in recorder.requests] == [20, 16, 12, 8, 4]
    assert sleep.delays == [0.5] * 4
