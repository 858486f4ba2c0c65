"""`forget --clean-mailbox` deletes the Graph subscriptions the product made for that mailbox, and only
those."""

from __future__ import annotations

from simulators.graph.subscriptions import book
from tests.e2e.harness import Tenant
from tests.ops.helpers import ALICE, BOB, command


def _collections(tenant: Tenant, mailbox: str) -> list[str]:
    user = tenant.graph.find_mailbox(mailbox)
    assert user is not None
    return sorted(s.collection for s in book(tenant.graph).active() if s.user_id == user.user.id)


def test_forget_deletes_the_mailboxs_subscriptions_only(notified_tenant: Tenant) -> None:
    tenant = notified_tenant
    tenant.cycle()
    assert _collections(tenant, ALICE) == ["contacts", "events", "messages"]
    bob = _collections(tenant, BOB)
    assert command(tenant, "forget", "--mailbox", ALICE, "--clean-mailbox", "--actor", "ops") == 0
    assert _collections(tenant, ALICE) == [] and _collections(tenant, BOB) == bob
    tenant.cycle()  # alice is left paused: no subscription is made for her again
    assert _collections(tenant, ALICE) == [] and _collections(tenant, BOB) == bob
