"""Find the marked messages of a mailbox and queue one `ImportMessage` per message.

No cursor: the category filter on the mailbox-wide message list answers "what is marked now" in one request,
whichever folder the message sits in, and an imported message leaves the list when its category is swapped.
"""

from __future__ import annotations

import logging

from sync_core.email_import import graph
from sync_core.email_import.claims import KIND
from sync_core.email_import.job import has_no_worker
from sync_core.exchange.errors import GraphNotFound
from sync_core.runtime.context import SyncContext
from sync_core.runtime.messages import ImportMessage

log = logging.getLogger(__name__)


async def queue_marked(ctx: SyncContext, mailbox: str) -> int:
    """Queue the mailbox's marked messages; returns how many."""
    found = await graph.list_marked(ctx, mailbox, ctx.settings.import_category)
    messages = [
        ImportMessage(kind=KIND, mailbox=mailbox, graph_id=str(item["id"]))
        for item in {str(i["id"]): i for i in found}.values()
    ]
    if messages:
        await ctx.queues.send(ctx.settings.item_queue, messages)
    return len(messages)


async def queue_unowned(ctx: SyncContext) -> int:
    """Mailboxes in scope without an F&O worker are skipped by the planner, yet their users still mark
    messages: queue those too, so that each gets the failure category and a recorded reason."""
    queued = 0
    for record in await ctx.mailbox_records():
        if not has_no_worker(record):
            continue
        try:
            queued += await queue_marked(ctx, record.mailbox)
        except GraphNotFound:
            log.info("mailbox without worker is not in Graph either; skipped", extra={"kind": KIND})
    return queued
