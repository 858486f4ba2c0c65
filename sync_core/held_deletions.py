"""Deletions the safety valve holds for one mailbox and kind: what they are, and the operator's answer.

Shared by `approve-deletes`, `reject-deletes` (cli_approve.py) and the console. The rows are the linked
pairs whose F&O or Exchange side is gone now, with the subject and date the pair had when last synced (the
link's snapshot, so nothing more is read than the existence checks).

- Approve: the hold is marked approved; the next deletion check of that mailbox and kind applies it.
- Reject: the administrator wants to keep what is left. The vanished pairs' links are forgotten, so the
  deletion check never counts them again (the deletion is not asked a second time), and the surviving side
  of each becomes an unlinked item that the sync pairs as new: a full round of the Exchange side (its delta
  token forgotten) and a reconciliation at the next scan (unlinked F&O items) bring each one to the side it
  vanished from. The pair job's stamp lookups find nothing there any more, so it creates the partner again;
  nothing is created twice because a survivor has at most one partner to recreate. Order for a crash: the
  full round is requested before any link is forgotten, and the hold is cleared last, so a rejection cut
  short is done again by repeating it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sync_core.cli_ops import audit_action, reconcile_at_next_scan
from sync_core.pipeline import reconcile
from sync_core.pipeline.valve import (
    VALVE_ITEM,
    DeletionState,
    load_state,
    missing_fno_keys,
    save_state,
    settled_links,
    would_do,
)
from sync_core.runtime.context import SyncContext
from sync_core.runtime.keys import exchange_cursor_name
from sync_core.state.base import Cursor, Link


class HeldError(Exception):
    """The kind or mailbox cannot be asked about (a message for the operator)."""


@dataclass
class HeldDeletions:
    mailbox: str
    kind: str
    state: DeletionState
    cursor: Cursor | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)  # the vanished pairs, in the order of `rows`


async def find_held(ctx: SyncContext, kind_name: str, address: str) -> HeldDeletions:
    """The hold of one mailbox and kind and every linked pair with a vanished side right now."""
    kind = ctx.kinds.get(kind_name)
    if kind is None:
        raise HeldError(f"unknown kind {kind_name!r}; kinds: {', '.join(sorted(ctx.kinds))}")
    mailbox = await ctx.mailbox(address)
    if mailbox is None:
        raise HeldError("mailbox is not in the registry or is skipped; see `python -m sync_core status`")
    state, cursor = await load_state(ctx, kind.name, address)
    found = HeldDeletions(mailbox=address, kind=kind.name, state=state, cursor=cursor)
    links = settled_links(await ctx.store.list_links(kind.name, address))
    fno_gone = await missing_fno_keys(ctx, kind, [link.fno_key for link in links]) if links else set()
    for link in links:
        graph_gone = await kind.graph_side.get(ctx, mailbox, link.graph_id) is None
        if link.fno_key not in fno_gone and not graph_gone:
            continue
        in_fno = link.fno_key in fno_gone
        action = (
            "forget" if in_fno and graph_gone else would_do(kind, link, deleted_in_fno=in_fno, now=ctx.now())
        )
        found.links.append(link)
        found.rows.append(
            {
                "action": action,
                "vanishedIn": "both" if in_fno and graph_gone else ("F&O" if in_fno else "Exchange"),
                "fnoKey": link.fno_key,
                "graphId": link.graph_id,
                **summary(link.snapshot),
            }
        )
    # Oldest first, as an administrator reads a calendar.
    order = sorted(range(len(found.rows)), key=lambda i: (found.rows[i]["date"], found.rows[i]["subject"]))
    found.rows = [found.rows[i] for i in order]
    found.links = [found.links[i] for i in order]
    return found


async def approve(ctx: SyncContext, held: HeldDeletions, who: str) -> None:
    """The next deletion check applies the hold. The store is written even in a dry-run context (the
    commands open one so that nothing else is written)."""
    ctx.dry_run, was = False, ctx.dry_run
    try:
        approved = held.state.model_copy(update={"approved": True})
        await save_state(ctx, held.kind, held.mailbox, approved, held.cursor)
    finally:
        ctx.dry_run = was
    await audit_action(
        ctx.store, "deletions-approved", held.mailbox, who, kind=held.kind, items=len(held.rows)
    )


async def reject(ctx: SyncContext, held: HeldDeletions, who: str) -> int:
    """Keep what is left: forget the vanished pairs' links and let the sync pair the survivors as new (the
    module's docstring). Returns how many survivors will be recreated on the side they vanished from."""
    store = ctx.store
    await store.delete_cursor(exchange_cursor_name(held.kind, held.mailbox))
    if ctx.settings.reconcile_hours > 0:
        await reconcile_at_next_scan(store, reconcile.cursor_name(held.kind, held.mailbox))
    for link in held.links:
        await store.delete_link(link)
    ctx.dry_run, was = False, ctx.dry_run
    try:
        cleared = DeletionState(fno_checked_at=held.state.fno_checked_at)
        await save_state(ctx, held.kind, held.mailbox, cleared, held.cursor)
    finally:
        ctx.dry_run = was
    await store.clear_failure(held.kind, held.mailbox, VALVE_ITEM)
    restored = sum(1 for row in held.rows if row["vanishedIn"] != "both")
    await audit_action(
        store,
        "deletions-rejected",
        held.mailbox,
        who,
        kind=held.kind,
        items=len(held.rows),
        restored=restored,
    )
    return restored


def summary(snapshot: dict[str, Any]) -> dict[str, str]:
    """Subject (or name) and date of a pair as last synced: appointments and tasks keep `subject`/`title`
    and `start`/`due`, contacts their name parts (model/*_base.py)."""
    name = " ".join(str(snapshot.get(part) or "") for part in ("given_name", "surname")).strip()
    subject = (
        str(snapshot.get("subject") or snapshot.get("title") or "") if "surname" not in snapshot else name
    )
    when = snapshot.get("start") or snapshot.get("due") or ""
    return {"subject": subject, "date": str(when)}
