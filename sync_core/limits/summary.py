"""What `check-config` says about the limits: where they are kept, and a Graph limit set above Microsoft's."""

from __future__ import annotations

from sync_core.settings import Settings

from .store import limits_table

# Exchange's per-mailbox limit: 10,000 requests per 10 minutes ("Outlook service limits",
# https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
GRAPH_PER_SECOND = 10_000 / 600


def describe(settings: Settings) -> str:
    graph = f"Graph 4 in flight and {settings.graph_rate_limit} per {settings.graph_rate_window_seconds:g} s"
    fno = f"F&O {settings.fno_max_concurrent} in flight and {settings.fno_rate_limit} per "
    fno += f"{settings.fno_rate_window_seconds:g} s"
    if not settings.shared_limits:
        where = "by each instance on its own (SYNC_SHARED_LIMITS=false)"
    elif not settings.uses_azure_storage:
        where = "in this process (no Azure Storage: the local runner)"
    else:
        where = f"across all instances in the {limits_table(settings.table_prefix)} table"
    return f"limits ({graph} per mailbox; {fno}) kept {where}"


def warnings(settings: Settings) -> list[str]:
    if settings.graph_rate_limit / settings.graph_rate_window_seconds > GRAPH_PER_SECOND:
        return [
            "SYNC_GRAPH_RATE_LIMIT per SYNC_GRAPH_RATE_WINDOW_SECONDS is above Exchange's 10,000 requests per "
            "10 minutes per mailbox: expect 429 answers (and slower syncs) on busy mailboxes"
        ]
    return []
