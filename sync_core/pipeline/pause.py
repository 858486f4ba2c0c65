"""A paused mailbox (`python -m sync_core pause --mailbox ...`): nothing of it is scanned or written.

Its pause lives on its registry record (state/base.py MailboxRecord), so the Functions and the local runner
see it alike. The planner and change notifications queue no scan for it; a scan already queued does
nothing, and its delta token stays, so the first scan after `resume` lists what changed meanwhile. An item
message already queued for it (a pair from the F&O feed, a retry, an e-mail import) is parked on the
failure work list (pipeline/retry.py) without using up an attempt of the queue: its failure record keeps the
message, the planner does not queue it while the pause lasts, and `resume` makes it due at once."""

from __future__ import annotations

import logging

from sync_core.pipeline.retry import PARKED, backoff, item_key, retry_text
from sync_core.runtime.context import SyncContext
from sync_core.runtime.messages import ImportMessage, SyncPair
from sync_core.state.base import MailboxRecord

log = logging.getLogger(__name__)


def pause_note(record: MailboxRecord) -> str:
    """Why the mailbox is not synced, for the cycle report (the actor stays out of the reason's class)."""
    since = record.paused_at.isoformat() if record.paused_at else "-"
    why = f" ({record.pause_reason})" if record.pause_reason else ""
    return (
        f"paused by an operator: {record.paused_by or 'unknown'} since {since}{why};"
        f" `python -m sync_core resume --mailbox {record.mailbox}` resumes it"
    )


async def is_paused(ctx: SyncContext, mailbox: str) -> bool:
    record = await ctx.mailbox_record(mailbox)  # the pair job then finds it without another read
    return record is not None and record.paused


async def park(ctx: SyncContext, message: SyncPair | ImportMessage) -> None:
    """Keep the message on the work list until the mailbox is resumed."""
    log.info("item of a paused mailbox parked", extra={"kind": message.kind})
    if ctx.dry_run:
        return
    now = ctx.now()
    await ctx.store.record_failure(
        message.kind,
        message.mailbox,
        item_key(message),
        PARKED,
        now,
        message=retry_text(message),
        retry_at=now + backoff(ctx, 0),
    )
