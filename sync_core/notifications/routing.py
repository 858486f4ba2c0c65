"""Which mailbox and kind a notification is about, by point reads only (the webhook must answer Graph
within 3 seconds whatever the tenant's size).

Two sources, in this order: the clientState, verified with our key (it names the kind and the mailbox's Entra
object id: `state.get_mailbox_by_user`), then the `subscriptionId`, looked up in our record of the
subscriptions we made (subscriptions.subscription_target). The `resource` never decides: Graph spells it
several ways and its ids contain `/`, so a resource we cannot read must not cost a change its scan."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sync_core.contacts.registry import serves
from sync_core.notifications.client_state import verify_client_state
from sync_core.notifications.subscriptions import KIND_COLLECTIONS, subscription_target
from sync_core.pipeline.context import SyncContext
from sync_core.state.base import MailboxRecord

# Graph's subscription ids are GUIDs (resources/changenotification.md: subscriptionId, Guid).
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Target:
    record: MailboxRecord
    kind: str
    verified: bool  # True: by the clientState; False: by the subscription id alone


@dataclass
class Router:
    """One per batch: every mailbox and subscription is read at most once per batch."""

    ctx: SyncContext
    key: bytes | None
    _by_user: dict[str, MailboxRecord | None] = field(default_factory=dict)
    _by_mailbox: dict[str, MailboxRecord | None] = field(default_factory=dict)
    _subscriptions: dict[str, tuple[str, str] | None] = field(default_factory=dict)

    async def target(self, item: dict[str, Any]) -> Target | None:
        """None when neither the clientState nor the subscription names a mailbox and kind in scope."""
        origin = verify_client_state(self.key, item.get("clientState")) if self.key else None
        if origin is not None and self._enabled(origin.kind):
            record = await self._user(origin.user_id)
            if self._serves(record, origin.kind):
                assert record is not None
                return Target(record, origin.kind, verified=True)
        found = await self._subscription(item.get("subscriptionId"))
        if found is not None and self._enabled(found[0]):
            kind, mailbox = found
            record = await self._mailbox(mailbox)
            if self._serves(record, kind):
                assert record is not None
                return Target(record, kind, verified=False)
        return None

    def _enabled(self, kind: str) -> bool:
        return kind in KIND_COLLECTIONS and kind in self.ctx.kinds

    def _serves(self, record: MailboxRecord | None, kind: str) -> bool:
        return record is not None and record.status == "ok" and serves(kind, record, self.ctx.settings)

    async def _user(self, user_id: str) -> MailboxRecord | None:
        if user_id not in self._by_user:
            self._by_user[user_id] = await self.ctx.store.get_mailbox_by_user(user_id)
        return self._by_user[user_id]

    async def _mailbox(self, mailbox: str) -> MailboxRecord | None:
        if mailbox not in self._by_mailbox:
            self._by_mailbox[mailbox] = await self.ctx.store.get_mailbox(mailbox)
        return self._by_mailbox[mailbox]

    async def _subscription(self, value: object) -> tuple[str, str] | None:
        if not isinstance(value, str) or not GUID.fullmatch(value):
            return None  # not a subscription id Graph could send: no read for it
        sub_id = value.lower()
        if sub_id not in self._subscriptions:
            self._subscriptions[sub_id] = await subscription_target(self.ctx, sub_id)
        return self._subscriptions[sub_id]
