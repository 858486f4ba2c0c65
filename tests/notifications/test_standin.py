"""The Graph stand-in's /subscriptions over HTTP: the handshake, expiry bounds, and opt-in delivery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from simulators.graph.subscriptions import book, graph_time
from simulators.serve import serve
from tests.e2e.harness import TOKEN, Tenant

ECHO_MODES = ("echo", "encoded", "wrong", "json", "500")


class Receiver:
    """A notification endpoint whose answer to the handshake a test chooses."""

    def __init__(self) -> None:
        self.mode = "echo"
        self.received: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            token = request.query_params.get("validationToken")
            if token is None:
                self.received.append(await request.json())
                return Response(status_code=202)
            raw = request.url.query.partition("=")[2]
            answers = {
                "echo": PlainTextResponse(token),
                "encoded": PlainTextResponse(raw),
                "wrong": PlainTextResponse(token + "x"),
                "json": Response(f'"{token}"', media_type="application/json"),
                "500": Response(status_code=500),
            }
            return answers[self.mode]

        return Starlette(routes=[Route("/hook", endpoint, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    found = Receiver()
    with serve(found.app()) as server:
        yield found, server.url + "/hook"


def _client(tenant: Tenant) -> httpx.Client:
    return httpx.Client(base_url=tenant.environ["GRAPH_URL"], headers={"Authorization": f"Bearer {TOKEN}"})


def _body(tenant: Tenant, url: str, **changes: Any) -> dict[str, Any]:
    user = tenant.graph.find_mailbox("alice@contoso.com")
    assert user is not None
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": url,
        "lifecycleNotificationUrl": url,
        "resource": f"/users/{user.user.id}/events",
        "expirationDateTime": graph_time(tenant.now + timedelta(days=2)),
        "clientState": "our-secret-state",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize("mode", ECHO_MODES)
def test_create_needs_the_decoded_token_echoed_as_plain_text(
    tenant: Tenant, receiver: tuple[Receiver, str], mode: str
) -> None:
    found, url = receiver
    found.mode = mode
    with _client(tenant) as client:
        answer = client.post("/subscriptions", json=_body(tenant, url))
    if mode == "echo":
        assert answer.status_code == 201
        created = answer.json()
        assert created["clientState"] == "our-secret-state" and created["resource"].endswith("/events")
        assert created["expirationDateTime"].endswith("0Z") and created["applicationId"]
        assert len(book(tenant.graph).validations) == 2  # notification and lifecycle URL
    else:
        assert answer.status_code == 400
        assert "validation" in answer.json()["error"]["message"]
        assert book(tenant.graph).active() == []


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"expirationDateTime": "2020-01-01T00:00:00Z"}, 400),  # in the past
        ({"expiration": "x"}, 400),  # unknown property
        ("too-long", 400),
        ({"clientState": "x" * 129}, 400),
        ({"changeType": "created,moved"}, 400),
        ({"notificationUrl": "http://example.com/hook"}, 400),  # Graph wants https
        ({"resource": "/users/nobody@contoso.com/events"}, 404),
        ({"resource": "/users/alice@contoso.com/todo/lists"}, 400),
        ({"resource": "/users/alice@contoso.com/contactFolders/AAMkNope=/contacts"}, 404),
    ],
)
def test_create_refuses_what_graph_refuses(
    tenant: Tenant, receiver: tuple[Receiver, str], changes: Any, status: int
) -> None:
    _, url = receiver
    if changes == "too-long":
        changes = {"expirationDateTime": graph_time(tenant.now + timedelta(minutes=10081))}
    with _client(tenant) as client:
        answer = client.post("/subscriptions", json=_body(tenant, url, **changes))
    assert answer.status_code == status, answer.text
    assert book(tenant.graph).active() == []


def test_short_lifetimes_are_raised_to_45_minutes_and_expired_ones_vanish(
    tenant: Tenant, receiver: tuple[Receiver, str]
) -> None:
    _, url = receiver
    with _client(tenant) as client:
        created = client.post(
            "/subscriptions",
            json=_body(tenant, url, expirationDateTime=graph_time(tenant.now + timedelta(minutes=5))),
        ).json()
        assert created["expirationDateTime"] == graph_time(tenant.now + timedelta(minutes=45))
        renewed = client.patch(
            f"/subscriptions/{created['id']}",
            json={"expirationDateTime": graph_time(tenant.now + timedelta(days=3))},
        )
        assert renewed.status_code == 200
        assert client.patch(f"/subscriptions/{created['id']}", json={"resource": "x"}).status_code == 400
        assert [s["id"] for s in client.get("/subscriptions").json()["value"]] == [created["id"]]
        tenant.advance(days=3, seconds=1)
        assert client.get(f"/subscriptions/{created['id']}").status_code == 404
        assert client.patch(f"/subscriptions/{created['id']}", json={}).status_code == 404
        assert client.delete(f"/subscriptions/{created['id']}").status_code == 404


def test_delivery_is_opt_in_and_matches_mailbox_collection_and_change_type(
    tenant: Tenant, receiver: tuple[Receiver, str]
) -> None:
    found, url = receiver
    subs = book(tenant.graph)
    assert subs.notify("alice@contoso.com", "events", "AAMk1=") == 0  # no subscription: nothing is sent
    assert subs.deliveries == []
    with _client(tenant) as client:
        client.post("/subscriptions", json=_body(tenant, url, changeType="updated"))
    assert subs.notify("bob@contoso.com", "events", "AAMk1=") == 0
    assert subs.notify("alice@contoso.com", "messages", "AAMk1=") == 0
    assert subs.notify("alice@contoso.com", "events", "AAMk1=", "created") == 0
    assert subs.notify("alice@contoso.com", "events", "AAMk1=", spelling="key") == 1
    item = found.received[-1]["value"][0]
    user = tenant.graph.find_mailbox("alice@contoso.com")
    assert user is not None
    assert item["resource"] == f"Users('{user.user.id}')/events('AAMk1=')"
    assert item["clientState"] == "our-secret-state" and item["changeType"] == "updated"
    assert set(item) == {
        "subscriptionId", "subscriptionExpirationDateTime", "changeType", "resource", "resourceData",
        "clientState", "tenantId",
    }  # fmt: skip
    sub_id = item["subscriptionId"]
    assert subs.notify_lifecycle(sub_id, "subscriptionRemoved") == 1
    assert found.received[-1]["value"][0]["lifecycleEvent"] == "subscriptionRemoved"
    assert subs.active() == []
