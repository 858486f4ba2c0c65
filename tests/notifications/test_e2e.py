"""End to end through the Functions and Azurite: an Outlook edit -> Graph notification -> the HTTP function ->
one scan message -> sync, without the timer. Lifecycle notifications: missed and subscriptionRemoved."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.storage.queue import BinaryBase64DecodePolicy, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from simulators.graph.subscriptions import book
from sync_core import functions
from sync_core.pipeline import poll_schedule
from sync_core.runtime.messages import ScanMailbox, decode
from tests.e2e.harness import Tenant
from tests.e2e.test_functions import _drain, _full_cycle, functions_tenant
from tests.instance_run import run as run_functions
from tests.notifications.conftest import SECRET
from tests.notifications.webhook import webhook

pytestmark = pytest.mark.azurite
ALICE = "alice@contoso.com"


@pytest.fixture
def azure_tenant(
    tmp_path: Path, azurite_connection_string: str, unique_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tenant]:
    with webhook() as url:
        extra = {"SYNC_NOTIFICATION_URL": url, "SYNC_NOTIFICATION_SECRET": SECRET}
        with functions_tenant(
            tmp_path, azurite_connection_string, unique_prefix, monkeypatch, extra
        ) as tenant:
            yield tenant


async def _peek_scans(tenant: Tenant) -> list[tuple[str, str]]:
    settings = tenant.settings()
    async with QueueClient.from_connection_string(
        settings.storage_connection,
        settings.scan_queue,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy(),
    ) as queue:
        found = []
        for message in await queue.peek_messages(max_messages=32):
            decoded = decode(message.content)
            assert isinstance(decoded, ScanMailbox)
            found.append((decoded.mailbox, decoded.kind))
        return sorted(found)


def _linked_event(tenant: Tenant) -> dict[str, object]:
    return next(e for e in tenant.graph.events(ALICE) if "D365 Sync" in (e.get("categories") or []))


def test_an_outlook_edit_syncs_through_a_notification_without_the_timer(azure_tenant: Tenant) -> None:
    tenant = azure_tenant
    run_functions(_full_cycle(tenant))
    subs = book(tenant.graph)
    assert len(subs.active()) == 10
    event = _linked_event(tenant)
    tenant.graph.update_event(ALICE, str(event["id"]), {"subject": "Moved by a notification"})

    assert subs.notify(ALICE, "events", str(event["id"]), spelling="tenant") == 1
    assert asyncio.run(_peek_scans(tenant)) == [(ALICE, "appointment")]
    settings = tenant.settings()
    assert run_functions(_drain(tenant, settings.scan_queue, "scan")) == 1
    assert run_functions(_drain(tenant, settings.item_queue, "sync_item")) >= 1
    assert any(a.get("Purpose") == "Moved by a notification" for a in tenant.appointments())


def test_lifecycle_missed_scans_and_removed_is_made_again(azure_tenant: Tenant) -> None:
    tenant = azure_tenant
    run_functions(_full_cycle(tenant))
    subs = book(tenant.graph)
    alice = tenant.graph.find_mailbox(ALICE)
    assert alice is not None
    events_sub = next(
        s for s in subs.active() if s.user_id == alice.user.id.lower() and s.collection == "events"
    )

    assert subs.notify_lifecycle(events_sub.id, "missed") == 1
    assert asyncio.run(_peek_scans(tenant)) == [(ALICE, "appointment")]
    run_functions(_drain(tenant, tenant.settings().scan_queue, "scan"))

    assert subs.notify_lifecycle(events_sub.id, "subscriptionRemoved") == 1
    remade = [s for s in subs.active() if s.user_id == alice.user.id.lower() and s.collection == "events"]
    assert len(remade) == 1 and remade[0].id != events_sub.id  # made again inline, within the time budget
    assert asyncio.run(_peek_scans(tenant)) == [(ALICE, "appointment")]
    # The next timer cycle keeps the new one (no second subscription, no Graph call for it).
    mark = len(tenant.graph.request_log)
    run_functions(_full_cycle(tenant))
    assert [r for r in tenant.graph.request_log[mark:] if r["path"].startswith("/subscriptions")] == []


def test_after_the_secret_changes_old_client_states_are_refused_until_the_planner_remakes_them(
    azure_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """change-notifications-delivery-webhooks.md: a notification whose clientState does not match is not
    valid, so a known subscription id alone routes nothing; the next cycle remakes the subscriptions with the
    new secret and their notifications are scanned again. The id holds '/', '+' and '='."""
    tenant = azure_tenant
    run_functions(_full_cycle(tenant))
    monkeypatch.setenv("SYNC_NOTIFICATION_SECRET", SECRET[::-1] + "-rotated")
    functions.settings.cache_clear()
    subs = book(tenant.graph)
    subs.notify(ALICE, "events", "AAMk/x+y=/z")
    assert asyncio.run(_peek_scans(tenant)) == []
    run_functions(_full_cycle(tenant))  # remakes every subscription with the new secret
    for spelling in ("path", "key", "tenant"):
        assert subs.notify(ALICE, "events", "AAMk/x+y=/z", spelling=spelling) >= 1
        assert asyncio.run(_peek_scans(tenant)) == [(ALICE, "appointment")], spelling
        run_functions(_drain(tenant, tenant.settings().scan_queue, "scan"))


def test_with_healthy_subscriptions_the_timer_leaves_the_feeds_to_notifications(
    azure_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notification-first (pipeline/poll_schedule.py): once every subscribed feed was read after its
    subscription was made, a timer cycle reads none of them; an Outlook edit reaches F&O through its
    notification alone. No safety-poll slot may fall into the test's few seconds of real time."""
    monkeypatch.setattr(
        poll_schedule, "last_slot", lambda now, key, interval: datetime(2000, 1, 1, tzinfo=UTC)
    )
    tenant = azure_tenant
    run_functions(_full_cycle(tenant))  # first sync; the subscriptions are made after its scans
    run_functions(_full_cycle(tenant))  # every feed read once since

    mark = len(tenant.graph.request_log)
    run_functions(_full_cycle(tenant))
    workers = {ALICE, "bob@contoso.com", "carol@contoso.com"}  # their feeds have subscriptions
    feeds = [
        r
        for r in tenant.graph.request_log[mark:]
        if r.get("mailbox") in workers and r["path"].endswith(("/calendarView/delta", "/messages"))
    ]
    assert feeds == []  # events and e-mail import left to notifications

    event = _linked_event(tenant)
    tenant.graph.update_event(ALICE, str(event["id"]), {"subject": "Moved, notified only"})
    assert book(tenant.graph).notify(ALICE, "events", str(event["id"])) == 1
    settings = tenant.settings()
    assert run_functions(_drain(tenant, settings.scan_queue, "scan")) == 1
    run_functions(_drain(tenant, settings.item_queue, "sync_item"))
    assert any(a.get("Purpose") == "Moved, notified only" for a in tenant.appointments())


def test_the_notification_of_an_fno_edit_written_to_outlook_costs_no_scan(azure_tenant: Tenant) -> None:
    """The echo filter (sync_core/notifications/echo.py) through the HTTP function on Azurite: Graph's
    notification of our own write names the version the link holds, so nothing is queued and no feed is
    read; the user's next edit in Outlook is scanned."""
    tenant = azure_tenant
    run_functions(_full_cycle(tenant))
    tenant.fno.update(
        "Activities",
        {"dataAreaId": "usmf", "ActivityNumber": tenant.handles["review"]},
        {"Purpose": "Edited in F&O"},
    )
    run_functions(_full_cycle(tenant))  # the F&O feed queues it; the pair job writes the event
    [event] = [e for e in tenant.graph.events(ALICE) if e.get("subject") == "Edited in F&O"]
    settings = tenant.settings()
    assert run_functions(_drain(tenant, settings.scan_queue, "scan")) == 0

    mark = len(tenant.graph.request_log)
    assert book(tenant.graph).notify(ALICE, "events", str(event["id"])) == 1  # the echo, answered 202
    assert asyncio.run(_peek_scans(tenant)) == []
    assert tenant.graph.request_log[mark:] == []  # no delta read (no Graph request at all)

    tenant.graph.update_event(ALICE, str(event["id"]), {"subject": "Then edited in Outlook"})
    assert book(tenant.graph).notify(ALICE, "events", str(event["id"])) == 1
    assert asyncio.run(_peek_scans(tenant)) == [(ALICE, "appointment")]
    assert run_functions(_drain(tenant, settings.scan_queue, "scan")) == 1
    run_functions(_drain(tenant, settings.item_queue, "sync_item"))
    assert any(a.get("Purpose") == "Then edited in Outlook" for a in tenant.appointments())
