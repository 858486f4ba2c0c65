"""Which mailbox and kind a notification is about, by point reads only (the webhook must answer Graph
within 3 seconds whatever the tenant's size).

Only by the clientState, verified with our key: it names the kind and the mailbox's Entra object id
(`state.get_mailbox_by_user`). change-notifications-delivery-webhooks.md says a notification whose
clientState does not match must not be treated as valid, so a known `subscriptionId` alone routes nothing
(after `SYNC_NOTIFICATION_SECRET` changes, the next cycle remakes every subscription and the timer scans
meanwhile). The `resource` never decides: Graph spells it several ways and its ids contain `/`, so a
resource we cannot read must not cost a change its scan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sync_core.contacts.registry import serves
from sync_core.notifications.client_state import verify_client_state
from sync_core.notifications.subscriptions import KIND_COLLECTIONS
from sync_core.runtime.context import SyncContext
from sync_core.state.base import MailboxRecord


@dataclass(frozen=True)
class Target:
    record: MailboxRecord
    kind: str


@dataclass
class Router:
    """One per batch: every user's mailbox record is read at most once per batch."""

    ctx: SyncContext
    key: bytes | None
    _by_user: dict[str, MailboxRecord | None] = field(default_factory=dict)

    async def target(self, item: dict[str, Any]) -> Target | None:
        """None when the clientState is not ours or names no mailbox and kind in scope."""
        origin = verify_client_state(self.key, item.get("clientState")) if self.key else None
        if origin is not None and self._enabled(origin.kind):
            record = await self._user(origin.user_id)
            if self._serves(record, origin.kind):
                assert record is not None
                return Target(record, origin.kind)
        return None

    def _enabled(self, kind: str) -> bool:
        return kind in KIND_COLLECTIONS and kind in self.ctx.scheduled()

    def _serves(self, record: MailboxRecord | None, kind: str) -> bool:
        # A paused mailbox is not scanned (sync_core/cli_ops.py pause): its notifications queue nothing.
        return (
            record is not None
            and record.status == "ok"
            and not record.paused
            and serves(kind, record, self.ctx.settings)
        )

    async def _user(self, user_id: str) -> MailboxRecord | None:
        if user_id not in self._by_user:
            self._by_user[user_id] = await self.ctx.store.get_mailbox_by_user(user_id)
        return self._by_user[user_id]
