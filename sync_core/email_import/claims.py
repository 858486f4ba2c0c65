"""The state-store record that makes an import happen once per internetMessageId and company.

Kept as a `Link` of kind "email" in a partition of its own per company (`import:<company>`, never a mailbox
address, so no mailbox scan lists it), keyed on the Graph side by the message's identity (`entry_id`):

- pending: a worker claimed the import (insert-only, ETag-guarded: of two workers one gets
  ConcurrencyError); `fno_key` is `pending:<entry>`, `synced_at` the claim time.
- created: the activity exists (`fno_key` is its key); its parent links may be incomplete.
- linked: activity and parent links done; only the message's category may still need the swap.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sync_core.runtime import owner
from sync_core.state.base import PENDING, Link, StateStore

KIND = "email"


def partition(company: str) -> str:
    return f"import:{company.lower()}"


def state_of(link: Link) -> str:
    if link.claimed_side == "fno":
        return "pending"
    return str(link.snapshot.get("state") or "created")


def is_stale(link: Link, now: datetime, timeout: timedelta) -> bool:
    """A pending claim this old was left by a worker that died: its create was never sent, or what it
    created is visible by now (the import looks for it first), so another worker may take over."""
    return link.synced_at is None or now - link.synced_at >= timeout


def claim_key(link: Link) -> str:
    """The claim's name in runtime/owner.py's registry of creates in flight."""
    return f"{KIND}|{link.mailbox}|{link.graph_id}"


async def find(store: StateStore, company: str, entry: str) -> Link | None:
    return await store.get_link_by_graph(KIND, partition(company), entry)


async def claim(store: StateStore, company: str, entry: str, now: datetime, previous: Link | None) -> Link:
    """Insert a pending claim, or take over a stale one (`previous`, by its ETag)."""
    link = Link(
        kind=KIND,
        mailbox=partition(company),
        fno_key=PENDING + entry,
        graph_id=entry,
        snapshot={"state": "pending"},
        owner=owner.this_process(),
        synced_at=now,
        etag=previous.etag if previous else None,
    )
    return await store.save_link(link)


async def advance(store: StateStore, link: Link, fno_key: str, state: str, now: datetime) -> Link:
    """Move the record on to `created` or `linked` (ETag-guarded)."""
    if link.fno_key == fno_key and state_of(link) == state:
        return link
    record = link.model_copy(update={"fno_key": fno_key, "snapshot": {"state": state}, "synced_at": now})
    return await store.save_link(record)
