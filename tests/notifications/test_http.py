"""The HTTP functions called directly, as the Functions host calls them (azure.functions.HttpRequest)."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import azure.functions as func
import pytest

from sync_core import functions, instance
from sync_core.app import open_store
from sync_core.notifications.client_state import make_client_state
from sync_core.runtime.messages import ScanMailbox, decode
from sync_core.runtime.queues import InProcessQueues
from sync_core.state.base import MailboxRecord
from sync_core.state.sqlite import SqliteStateStore
from sync_core.telemetry import names
from tests.notifications.webhook import USER_FUNCTIONS
from tests.telemetry.conftest import Captured

EXAMPLES = Path(__file__).resolve().parents[2] / "simulators" / "reference" / "graph-examples"
SECRET = "a-notification-secret-of-forty-characters"
ALICE = "622eaaff-0683-4862-9de4-f2ec83c2bd98"
BOB = "722effaf-0433-4272-9ac4-d5ec11c3cd77"
SHARED = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
UNKNOWN_SUBSCRIPTION = "5f3c5a1e-6a9b-4d3e-9a51-0c1f0f7e2b11"
KNOWN_SUBSCRIPTION = "c6126aa3-0ed8-412f-a988-71e6cee627c4"
TOKEN = "Validation: Testing client application reachability for subscription Request-Id: 1+2=3&x/y"


class KeptQueues(InProcessQueues):
    async def close(self) -> None:  # the function closes its queues; the test still wants to look
        return None


@pytest.fixture
def queues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KeptQueues]:
    env = {
        "D365_URL": "https://fno.example",
        "GRAPH_URL": "https://graph.example/v1.0",
        "SYNC_AUTH": "static",
        "SYNC_STATIC_TOKEN": "t",
        "SYNC_MAILBOXES": "alice@contoso.com,bob@contoso.com",
        "SYNC_COMPANY": "usmf",
        "SYNC_STATE_DIR": str(tmp_path / "state"),
        "SYNC_SHARED_LISTS": json.dumps([{"name": "North", "mailbox": "north@contoso.com", "folder": "N"}]),
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
            await store.upsert_mailbox(
                MailboxRecord(mailbox="bob@contoso.com", user_id=BOB, status="skipped")
            )
            await store.upsert_mailbox(
                MailboxRecord(
                    mailbox="north@contoso.com", user_id=SHARED, personnel_number="@shared:north@contoso.com"
                )
            )
        finally:
            await store.close()

    asyncio.run(seed())
    yield kept
    functions.settings.cache_clear()


def _call(function: str, req: func.HttpRequest) -> func.HttpResponse:
    return asyncio.run(USER_FUNCTIONS[function](req))


def _post(function: str, body: Any) -> func.HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    route = "notifications" if function == "graph_notifications" else "lifecycle"
    return _call(function, func.HttpRequest("POST", f"https://func.example/api/graph/{route}", body=raw))


def _queued(queues: KeptQueues) -> list[tuple[str, str]]:
    found = []
    for text, _count in queues.take(functions.settings().scan_queue, 1000):
        message = decode(text)
        assert isinstance(message, ScanMailbox) and message.cycle_id.startswith("notification-")
        found.append((message.mailbox, message.kind))
    return sorted(found)


def _state(kind: str, user: str, secret: str = SECRET) -> str:
    return make_client_state(secret.encode(), kind, user)


def _item(kind: str, user: str, resource: str | None, **extra: Any) -> dict[str, Any]:
    return {"subscriptionId": "s1", "changeType": "updated", "resource": resource,
            "clientState": _state(kind, user), **extra}  # fmt: skip


@pytest.mark.parametrize("function", ["graph_notifications", "graph_lifecycle"])
def test_validation_echoes_the_decoded_token_as_plain_text(queues: KeptQueues, function: str) -> None:
    url = f"https://func.example/api/graph/x?validationToken={quote(TOKEN, safe='')}"
    # The host hands the query over decoded...
    answer = _call(function, func.HttpRequest("POST", url, params={"validationToken": TOKEN}, body=b""))
    assert (answer.status_code, answer.get_body().decode(), answer.mimetype) == (200, TOKEN, "text/plain")
    # ...and a request built from the URL alone is decoded exactly once.
    answer = _call(function, func.HttpRequest("POST", url, body=b""))
    assert answer.get_body().decode() == TOKEN
    assert _queued(queues) == []


def test_everything_is_404_when_notifications_are_off(
    queues: KeptQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_NOTIFICATION_URL", "")
    functions.settings.cache_clear()
    url = f"https://func.example/api/graph/notifications?validationToken={quote(TOKEN)}"
    assert _call("graph_notifications", func.HttpRequest("POST", url, body=b"")).status_code == 404
    body = {"value": [_item("appointment", ALICE, f"Users/{ALICE}/Events/AAMk=")]}
    assert _post("graph_notifications", body).status_code == 404
    assert _queued(queues) == []


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b'{"value": 3}', b'{"value": [' + b"{}," * 1001 + b"{}]}"]
)
def test_a_body_that_is_no_notification_collection_is_400(queues: KeptQueues, body: bytes) -> None:
    assert _post("graph_notifications", body).status_code == 400
    assert _queued(queues) == []


def test_one_scan_per_mailbox_and_kind_per_batch(queues: KeptQueues) -> None:
    items = [
        # The same change in the three spellings Graph uses, plus a second event: one appointment scan.
        _item("appointment", ALICE, f"users/{ALICE}@84bd8158-6d4d-4958-8b9f-9d6445542f95/events/AAMk1="),
        _item("appointment", ALICE, f"Users/{ALICE}/Events/AAMk1="),
        _item("appointment", ALICE, f"Users('{ALICE}')/events('AAMk1=')"),
        _item("appointment", ALICE, f"Users/{ALICE}/Events/AAMk2="),
        _item("email", ALICE, f"Users/{ALICE}/Messages/AAMk3="),
        _item("shared_contact", SHARED, f"Users/{SHARED}/ContactFolders/AQMk=/Contacts/AAMk4="),
    ]
    answer = _post("graph_notifications", {"value": items})
    assert answer.status_code == 202
    assert _queued(queues) == [
        ("alice@contoso.com", "appointment"),
        ("alice@contoso.com", "email"),
        ("north@contoso.com", "shared_contact"),
    ]


def test_items_that_name_nothing_we_sync_are_dropped_logged_and_counted(
    queues: KeptQueues, otel: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    resource = f"Users/{ALICE}/Events/AAMk1="
    items = [
        {**_item("appointment", ALICE, resource), "clientState": "secretClientValue"},
        {
            **_item("appointment", ALICE, resource),
            "clientState": _state("appointment", ALICE, "another-secret-" * 3),
            "subscriptionId": UNKNOWN_SUBSCRIPTION,
        },
        {k: v for k, v in _item("appointment", ALICE, resource).items() if k != "clientState"},
        # Genuine, but the mailbox is skipped, or the kind does not serve it (a private list in a shared box).
        _item("appointment", BOB, f"Users/{BOB}/Events/AAMk1="),
        _item("contact", SHARED, f"Users/{SHARED}/Contacts/AAMk4="),
        # Genuine, but for a user the registry does not know.
        _item("appointment", "00000000-0000-4000-8000-000000000001", resource),
        "not an object",
    ]
    with caplog.at_level(logging.INFO):
        answer = _post("graph_notifications", {"value": items})
    assert answer.status_code == 202  # Graph would only retry: dropped items are still acknowledged
    assert _queued(queues) == []
    assert otel.total(names.MESSAGES, sync__message_type="change-notification", sync__outcome="dropped") == 6
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and dropped[0].levelno == logging.WARNING
    text = dropped[0].getMessage()
    assert "6 change notifications dropped" in text and UNKNOWN_SUBSCRIPTION in text
    assert "contoso" not in caplog.text and "AAMk" not in caplog.text  # no address, no item id


def test_a_genuine_client_state_scans_whatever_the_resource_says(queues: KeptQueues, otel: Captured) -> None:
    items = [
        # Ids in Outlook's alphabet ('/', '+', '=') in the path spelling that used to be dropped.
        _item("appointment", ALICE, f"Users/{ALICE}/Events/AAMk/abc+d=="),
        _item("email", ALICE, f"Users('{ALICE}')/messages('AAMk/x+y=')"),
        # Resources that disagree with the clientState, or that nobody could read: scanned all the same.
        _item("appointment", ALICE, f"Users/{BOB}/Events/AAMk1="),
        _item("appointment", ALICE, f"Users/{ALICE}/todo/lists/x"),
        _item("email", ALICE, None),
        _item("email", ALICE, "Users/%%%/Messages/&&&"),
    ]
    assert _post("graph_notifications", {"value": items}).status_code == 202
    assert _queued(queues) == [("alice@contoso.com", "appointment"), ("alice@contoso.com", "email")]
    unread = {"sync__message_type": "change-notification", "sync__outcome": "resource-unread"}
    assert otel.total(names.MESSAGES, sync__kind="appointment", **unread) == 2
    assert otel.total(names.MESSAGES, sync__kind="email", **unread) == 2
    assert otel.total(names.MESSAGES, sync__outcome="dropped") == 0


def test_twenty_edits_with_ids_in_outlooks_alphabet_all_lead_to_a_scan(
    queues: KeptQueues, otel: Captured
) -> None:
    ids = ["AAMkAGI2T/+abc/def==", "AAMk/AGI2/", "/AAMkAGI2", "AAMk+/+/=", "AAkALgAAAA-EWg0AG_nUPtcQ"]
    spellings = [
        "users/{user}@84bd8158-6d4d-4958-8b9f-9d6445542f95/events/{id}",
        "Users/{user}/Events/{id}",
        "Users('{user}')/events('{id}')",
        "Users/{user}/calendars/{id}/events/{id}",
    ]
    for n, (item_id, spelling) in enumerate(itertools.product(ids, spellings)):
        _post(
            "graph_notifications",
            {"value": [_item("appointment", ALICE, spelling.format(user=ALICE, id=item_id))]},
        )
        assert _queued(queues) == [("alice@contoso.com", "appointment")], n
    assert otel.total(names.MESSAGES, sync__message_type="change-notification") == 0  # nothing unread


def test_a_known_subscription_does_not_route_an_item_whose_client_state_cannot_be_verified(
    queues: KeptQueues,
) -> None:
    # change-notifications-delivery-webhooks.md: a notification whose clientState does not match must not
    # be treated as valid; the subscription id alone decides nothing (the timer scans meanwhile).
    old_state = _state("email", ALICE, "the-secret-before-it-was-changed-" * 2)
    items = [
        {
            **_item("email", ALICE, "Users/x/Messages/y"),
            "clientState": old_state,
            "subscriptionId": KNOWN_SUBSCRIPTION,
        },
        {**_item("email", ALICE, None), "clientState": None, "subscriptionId": KNOWN_SUBSCRIPTION.upper()},
    ]
    assert _post("graph_notifications", {"value": items}).status_code == 202
    assert _queued(queues) == []


def test_the_webhook_finds_its_mailbox_by_point_lookups(
    queues: KeptQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def counted(name: str) -> Any:
        original = getattr(SqliteStateStore, name)

        async def call(self: SqliteStateStore, *args: Any) -> Any:
            calls.append(name)
            return await original(self, *args)

        return call

    for name in ("get_mailbox_by_user", "get_mailbox", "list_mailboxes", "get_cursor"):
        monkeypatch.setattr(SqliteStateStore, name, counted(name))
    items = [_item("appointment", ALICE, f"Users/{ALICE}/Events/AAMk{n}=") for n in range(20)]
    items.append(_item("email", ALICE, f"Users/{ALICE}/Messages/AAMk="))
    assert _post("graph_notifications", {"value": items}).status_code == 202
    assert _queued(queues) == [("alice@contoso.com", "appointment"), ("alice@contoso.com", "email")]
    assert "list_mailboxes" not in calls
    assert calls.count("get_mailbox_by_user") == 1  # one read per user and batch, however many items


def test_published_sample_payload_with_our_client_state(queues: KeptQueues) -> None:
    sample = json.loads((EXAMPLES / "changenotification-collection-outlook.json").read_text("utf-8"))
    body = copy.deepcopy(sample["request_body"])
    body["value"][0]["resource"] = body["value"][0]["resource"].replace(
        "622eaaff-0683-4862-9de4-f2ec83c2bd98", ALICE
    )
    assert _post("graph_notifications", body).status_code == 202
    assert _queued(queues) == []  # the sample's placeholder clientState is not ours
    body["value"][0]["clientState"] = _state("email", ALICE)
    assert _post("graph_notifications", body).status_code == 202
    assert _queued(queues) == [("alice@contoso.com", "email")]


def test_lifecycle_missed_queues_a_scan(queues: KeptQueues) -> None:
    sample = json.loads((EXAMPLES / "changenotification-lifecycle-missed.json").read_text("utf-8"))
    body = copy.deepcopy(sample["request_body"])
    assert _post("graph_lifecycle", body).status_code == 202
    assert _queued(queues) == []  # placeholder clientState
    body["value"][0]["clientState"] = _state("appointment", ALICE)
    body["value"].append({**body["value"][0], "lifecycleEvent": "somethingNew"})
    assert _post("graph_lifecycle", body).status_code == 202
    assert _queued(queues) == [("alice@contoso.com", "appointment")]


def test_a_paused_mailbox_queues_no_scan(queues: KeptQueues) -> None:
    async def pause() -> None:
        store = open_store(functions.settings())
        try:
            await store.set_mailbox_pause("alice@contoso.com", True, by="admin", reason="test")
        finally:
            await store.close()

    asyncio.run(pause())
    assert _post("graph_notifications", {"value": [_item("email", ALICE, None)]}).status_code == 202
    assert _queued(queues) == []
