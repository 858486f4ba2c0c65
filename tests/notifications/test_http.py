"""The HTTP functions called directly, as the Functions host calls them (azure.functions.HttpRequest)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import azure.functions as func
import pytest

from sync_core import functions
from sync_core.app import open_store
from sync_core.notifications.client_state import make_client_state
from sync_core.pipeline.messages import ScanMailbox, decode
from sync_core.pipeline.queues import InProcessQueues
from sync_core.state.base import MailboxRecord
from tests.notifications.webhook import USER_FUNCTIONS

EXAMPLES = Path(__file__).resolve().parents[2] / "simulators" / "reference" / "graph-examples"
SECRET = "a-notification-secret-of-forty-characters"
ALICE = "622eaaff-0683-4862-9de4-f2ec83c2bd98"
BOB = "722effaf-0433-4272-9ac4-d5ec11c3cd77"
SHARED = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
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
    monkeypatch.setattr(functions, "storage_queues", lambda config: kept)

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


def test_items_without_a_genuine_client_state_are_ignored(queues: KeptQueues) -> None:
    resource = f"Users/{ALICE}/Events/AAMk1="
    items = [
        {**_item("appointment", ALICE, resource), "clientState": "secretClientValue"},
        {
            **_item("appointment", ALICE, resource),
            "clientState": _state("appointment", ALICE, "another-secret-" * 3),
        },
        {k: v for k, v in _item("appointment", ALICE, resource).items() if k != "clientState"},
        # Genuine clientState, but of another kind or another mailbox than the resource names.
        _item("email", ALICE, resource),
        _item("appointment", BOB, resource),
        # Genuine, but the mailbox is skipped, or the kind does not serve it (a private list in a shared box).
        _item("appointment", BOB, f"Users/{BOB}/Events/AAMk1="),
        _item("contact", SHARED, f"Users/{SHARED}/Contacts/AAMk4="),
        # Genuine, but the resource is foreign or broken.
        _item("appointment", ALICE, f"Users/{ALICE}/todo/lists/x"),
        _item("appointment", ALICE, None),
        "not an object",
    ]
    answer = _post("graph_notifications", {"value": items})
    assert answer.status_code == 202  # Graph would only retry: ignored items are still acknowledged
    assert _queued(queues) == []


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
