"""State store: links, cursors, mailbox registry, audit log and failures (SQLite or Azure Tables)."""

from sync_core.state.base import (
    AuditEntry,
    ConcurrencyError,
    Cursor,
    Failure,
    Link,
    MailboxRecord,
    StateError,
    StateStore,
)
from sync_core.state.factory import open_state_store

__all__ = [
    "AuditEntry",
    "ConcurrencyError",
    "Cursor",
    "Failure",
    "Link",
    "MailboxRecord",
    "StateError",
    "StateStore",
    "open_state_store",
]
