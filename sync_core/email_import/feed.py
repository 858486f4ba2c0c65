"""The e-mail import as a one-way feed (runtime/feed.py): the mailbox scan queues one `ImportMessage` per
marked message, handled by `email_import/job.py`; the F&O feed scan, which has no F&O changes to follow,
queues the marked messages of mailboxes that have no worker so that they fail visibly."""

from __future__ import annotations

from sync_core.email_import.claims import KIND
from sync_core.email_import.scan import queue_marked, queue_unowned
from sync_core.runtime.context import SyncContext


class EmailImportFeed:
    name = KIND

    async def scan_mailbox(self, ctx: SyncContext, mailbox: str) -> None:
        await queue_marked(ctx, mailbox)

    async def scan_fno(self, ctx: SyncContext) -> None:
        await queue_unowned(ctx)
