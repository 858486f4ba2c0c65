"""Plan a cycle: resolve the mailboxes in scope, refresh the registry, queue one scan per mailbox and
kind plus one F&O feed scan per kind (one query for all mailboxes, not one per mailbox)."""

from __future__ import annotations

import logging
import uuid

from sync_core.d365 import entities
from sync_core.exchange.errors import GraphError
from sync_core.pipeline.context import SyncContext
from sync_core.pipeline.messages import ScanFnoFeed, ScanMailbox
from sync_core.state.base import MailboxRecord

log = logging.getLogger(__name__)
CATEGORY_COLOR = "preset7"  # blue in Outlook's preset list


async def mailboxes_in_scope(ctx: SyncContext) -> list[str]:
    scope = {m.lower() for m in ctx.settings.mailboxes}
    if ctx.settings.mailbox_group:
        scope.update(m.lower() for m in await ctx.graph.list_group_member_mails(ctx.settings.mailbox_group))
    return sorted(scope)


async def refresh_registry(ctx: SyncContext) -> list[MailboxRecord]:
    """Match each mailbox to its worker and read its time zone; skipped mailboxes are recorded, not fatal."""
    addresses = await mailboxes_in_scope(ctx)
    workers = await entities.workers_by_email(ctx.fno, addresses) if addresses else {}
    records: list[MailboxRecord] = []
    for address in addresses:
        previous = await ctx.store.get_mailbox(address)
        record = await _resolve_mailbox(ctx, address, workers.get(address), previous)
        if record.status != "ok":
            ctx.report.skip_mailbox(address, record.reason)
            log.info("mailbox skipped", extra={"reason": record.reason})
        if not ctx.dry_run:
            record = await ctx.store.upsert_mailbox(record)
        ctx.registry[address] = record
        records.append(record)
    return records


async def _resolve_mailbox(
    ctx: SyncContext, address: str, worker: dict[str, object] | None, previous: MailboxRecord | None
) -> MailboxRecord:
    base = MailboxRecord(mailbox=address, company=ctx.settings.company.lower())
    if previous is not None:
        base = previous.model_copy(update={"company": ctx.settings.company.lower(), "etag": None})
    if worker is None:
        return base.model_copy(
            update={"status": "skipped", "reason": "no F&O worker has this address as PrimaryContactEmail"}
        )
    try:
        user = await ctx.graph.get_user(address)
        if user is None:
            return base.model_copy(
                update={"status": "skipped", "reason": "mailbox not found in Microsoft Graph"}
            )
        time_zone = await ctx.graph.get_mailbox_time_zone(address)
        if not ctx.dry_run and (previous is None or previous.status != "ok"):
            # Once per mailbox (and again after a skip): make sure the user can see and use the category.
            await ctx.graph.ensure_category(address, ctx.settings.category, CATEGORY_COLOR)
    except GraphError as exc:
        return base.model_copy(
            update={"status": "skipped", "reason": f"Graph refused access ({exc.status} {exc.code})"}
        )
    return base.model_copy(
        update={
            "user_id": user.id,
            "personnel_number": str(worker.get("PersonnelNumber") or ""),
            "time_zone": time_zone or "UTC",
            "status": "ok",
            "reason": "",
        }
    )


async def plan_cycle(ctx: SyncContext) -> list[ScanMailbox | ScanFnoFeed]:
    cycle_id = uuid.uuid4().hex
    records = await refresh_registry(ctx)
    messages: list[ScanMailbox | ScanFnoFeed] = []
    for kind in ctx.kinds:
        ctx.report.touch(kind)
        messages.extend(
            ScanMailbox(kind=kind, mailbox=r.mailbox, cycle_id=cycle_id) for r in records if r.status == "ok"
        )
        messages.append(ScanFnoFeed(kind=kind, cycle_id=cycle_id))
    return messages
