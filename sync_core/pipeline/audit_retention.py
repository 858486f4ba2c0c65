"""Audit retention (SYNC_AUDIT_RETENTION_DAYS): each planning run removes one bounded batch of entries older
than the retention, so a backlog (the setting lowered, a long-lived deployment) drains over a few cycles
without one long run."""

from __future__ import annotations

import logging
from datetime import timedelta

from sync_core.runtime.context import SyncContext

log = logging.getLogger(__name__)
BATCH = 500  # entries removed per cycle at most: about five Table transactions of 100


async def prune_audit(ctx: SyncContext) -> int:
    """Remove one batch of expired audit entries; returns how many (nothing in a dry run or with 0 days)."""
    days = ctx.settings.audit_retention_days
    if days == 0 or ctx.dry_run:
        return 0
    removed = await ctx.store.purge_audit(ctx.now() - timedelta(days=days), batch=BATCH)
    if removed:
        log.info("audit entries past retention removed", extra={"removed": removed})
    return removed
