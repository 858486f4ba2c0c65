"""Subscriptions made, renewed and remade by the planner against the Graph stand-in over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

from simulators.graph.subscriptions import book
from sync_core.app import open_store
from sync_core.notifications.client_state import verify_client_state
from sync_core.notifications.subscriptions import FAILURE_KEY, LIFETIME
from tests.e2e.harness import Tenant
from tests.notifications.conftest import SECRET

WORKERS = ("alice@contoso.com", "bob@contoso.com", "carol@contoso.com")
SHARED = "sales-north@contoso.com"


def _subscription_calls(tenant: Tenant, mark: int) -> list[tuple[str, int]]:
    return [
        (r["method"], r["status"])
        for r in tenant.graph.request_log[mark:]
        if r["path"].startswith("/subscriptions")
    ]


def _by_mailbox(tenant: Tenant) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for sub in book(tenant.graph).active():
        user = tenant.graph.users[sub.user_id]
        found.setdefault(user.mail, []).append(sub.collection)
    return {mail: sorted(collections) for mail, collections in found.items()}


def test_off_by_default_nothing_is_subscribed(notified_tenant: Tenant) -> None:
    tenant = notified_tenant
    tenant.extra_env = {}
    tenant.cycle()
    assert book(tenant.graph).active() == []
    assert _subscription_calls(tenant, 0) == []


def test_a_cycle_subscribes_each_mailbox_and_kind_once_and_an_idle_cycle_calls_nothing(
    notified_tenant: Tenant,
) -> None:
    tenant = notified_tenant
    report = tenant.cycle()
    assert report.failures == []
    shared = next(m for m in _by_mailbox(tenant) if m not in WORKERS)
    assert _by_mailbox(tenant) == {
        **{m: ["contacts", "events", "messages"] for m in WORKERS},
        shared: ["contacts"],
    }
    subs = book(tenant.graph)
    # Each create validated both endpoints (notification and lifecycle) through the HTTP functions.
    assert len(subs.validations) == 20 and {v.status for v in subs.validations} == {200}
    assert sorted(set(tenant.handles["webhook_calls"])) == ["graph_lifecycle", "graph_notifications"]
    for sub in subs.active():
        origin = verify_client_state(SECRET.encode(), sub.client_state)
        assert origin is not None and origin.user_id == sub.user_id
        assert sub.expiration - tenant.now <= LIFETIME
        assert sub.lifecycle_url and sub.lifecycle_url.endswith("/api/graph/lifecycle")
    contact_subs = [s for s in subs.active() if s.collection == "contacts"]
    assert all(s.folder_key is not None and "/contactFolders/" in s.resource for s in contact_subs)

    mark = len(tenant.graph.request_log)
    tenant.cycle()
    assert _subscription_calls(tenant, mark) == []


def test_renewed_when_less_than_a_day_is_left_and_remade_when_graph_lost_it(notified_tenant: Tenant) -> None:
    tenant = notified_tenant
    tenant.cycle()
    subs = book(tenant.graph)
    first = {s.id: s.expiration for s in subs.active()}

    tenant.advance(days=2)
    mark = len(tenant.graph.request_log)
    tenant.cycle()
    assert _subscription_calls(tenant, mark) == [("PATCH", 200)] * 10
    assert {s.id for s in subs.active()} == set(first)
    assert all(s.expiration > first[s.id] for s in subs.active())

    lost = sorted(first)[0]
    subs.remove(lost)  # Graph dropped it without telling us
    tenant.advance(days=2)
    mark = len(tenant.graph.request_log)
    tenant.cycle()
    calls = _subscription_calls(tenant, mark)
    assert sorted(calls) == sorted([("PATCH", 200)] * 9 + [("PATCH", 404), ("DELETE", 404), ("POST", 201)])
    assert len(subs.active()) == 10 and lost not in {s.id for s in subs.active()}


def test_a_new_secret_remakes_every_subscription(notified_tenant: Tenant) -> None:
    tenant = notified_tenant
    tenant.cycle()
    old = {s.id for s in book(tenant.graph).active()}
    tenant.extra_env["SYNC_NOTIFICATION_SECRET"] = "another-secret-that-is-long-enough-0123456789"
    mark = len(tenant.graph.request_log)
    tenant.cycle()
    assert sorted(_subscription_calls(tenant, mark)) == sorted([("DELETE", 204), ("POST", 201)] * 10)
    assert not old & {s.id for s in book(tenant.graph).active()}


def test_a_failed_handshake_is_recorded_per_mailbox_and_the_cycle_goes_on(notified_tenant: Tenant) -> None:
    tenant = notified_tenant
    # Nothing answers at this URL: Graph refuses every subscription (400), the sync itself goes on.
    tenant.extra_env["SYNC_NOTIFICATION_URL"] = "http://127.0.0.1:9/unreachable"
    report = tenant.cycle()
    assert book(tenant.graph).active() == []
    notes = [f for f in report.failures if f.reason.startswith("change notifications")]
    assert len(notes) == 10 and all("400" in f.reason for f in notes)
    assert report.total("created") > 0  # items still synced

    async def failures() -> list[Any]:
        store = open_store(tenant.settings())
        try:
            return [f for f in await store.list_failures() if f.item_key == FAILURE_KEY]
        finally:
            await store.close()

    assert len(asyncio.run(failures())) == 10
    # Once the endpoint answers, the next cycle subscribes and clears the failures.
    tenant.extra_env["SYNC_NOTIFICATION_URL"] = tenant.handles["webhook_url"]
    tenant.cycle()
    assert len(book(tenant.graph).active()) == 10
    assert asyncio.run(failures()) == []
