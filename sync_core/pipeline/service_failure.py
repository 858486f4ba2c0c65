"""A whole service that could not be used, kept as an open failure so `failures` and `status` show it.

One record per service (kind `service`, mailbox `*`, item: the service's name), written when a cycle stops
because F&O or Graph is unusable (service_errors.py) and removed by the next cycle that gets through. It
waits for no retry: the next cycle is the retry."""

from __future__ import annotations

from sync_core.runtime.context import SyncContext
from sync_core.service_errors import ServiceUnusable
from sync_core.state.base import Failure

SERVICE_KIND = "service"
ALL_MAILBOXES = "*"


def unusable_service(ctx: SyncContext) -> ServiceUnusable | None:
    """The error of a client whose breaker is open (its service was found unusable this cycle)."""
    for error in (ctx.fno.breaker.error, ctx.graph.breaker.error):
        if isinstance(error, ServiceUnusable):
            return error
    return None


async def record_unusable(ctx: SyncContext, exc: ServiceUnusable) -> None:
    if ctx.dry_run:
        return
    reason = f"{exc.summary}; {exc.fix}"
    await ctx.store.record_failure(
        SERVICE_KIND, ALL_MAILBOXES, exc.service, reason, ctx.now(), message="", retry_at=None
    )


async def clear_recovered(ctx: SyncContext, failures: list[Failure]) -> None:
    """The cycle got through: a service recorded as unusable before is usable again."""
    for failure in failures:
        if failure.kind == SERVICE_KIND:
            await ctx.store.clear_failure(failure.kind, failure.mailbox, failure.item_key)
