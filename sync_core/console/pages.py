"""What each page shows, read through the same functions the commands use: status_report.py (status),
the store's failures and audit (failures, audit), held_deletions.py (approve-deletes) and the chart's
counts (chart.py). Nothing here writes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sync_core.app import open_context
from sync_core.cli_errors import problem_of
from sync_core.console import chart
from sync_core.held_deletions import HeldDeletions, HeldError, find_held
from sync_core.runtime.queues import InProcessQueues
from sync_core.service_errors import host_of
from sync_core.settings import Settings
from sync_core.state.base import AuditEntry, Failure, StateStore
from sync_core.status_report import KINDS, MailboxStatus, StatusReport, collect_status, mailbox_status

AUDIT_ROWS = 40
CHART_DAYS = 14
# The chart reads at most this many audit entries (newest first): a bounded page in a large tenant.
CHART_ENTRIES = 20_000


def age(iso: str | None, now: datetime) -> str:
    """How long ago, in the largest unit that fits ("never" when there is no time)."""
    if not iso:
        return "never"
    seconds = max(0, int((now - datetime.fromisoformat(iso)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@dataclass
class Overview:
    report: StatusReport
    kinds: tuple[str, ...]
    by_state: dict[str, int]
    now: datetime


async def overview(store: StateStore, settings: Settings) -> Overview:
    report = await collect_status(store, settings.mailboxes)
    return Overview(
        report=report,
        kinds=KINDS,
        by_state=dict(Counter(m.state for m in report.mailboxes).most_common()),
        now=datetime.now(UTC),
    )


@dataclass
class MailboxPage:
    status: MailboxStatus
    failures: list[Failure]
    audit: list[AuditEntry]
    held: list[HeldDeletions] = field(default_factory=list)
    held_problem: str | None = None  # why the held items could not be listed
    kinds: list[str] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


async def mailbox(store: StateStore, settings: Settings, address: str) -> MailboxPage | None:
    status = await mailbox_status(store, address, settings.mailboxes)
    if status is None:
        return None
    failures = sorted(
        (f for f in await store.list_failures() if f.mailbox == address),
        key=lambda f: f.last_at,
        reverse=True,
    )
    page = MailboxPage(
        status=status,
        failures=failures,
        audit=await store.list_audit(AUDIT_ROWS, mailbox=address),
        kinds=[k.kind for k in status.kinds],
    )
    held_kinds = [k.kind for k in status.kinds if k.held_deletions]
    if held_kinds:
        page.held, page.held_problem = await held_items(settings, address, held_kinds)
    return page


async def held_items(
    settings: Settings, address: str, kinds: list[str]
) -> tuple[list[HeldDeletions], str | None]:
    """Each held kind's vanished pairs (reads F&O and Graph, as `approve-deletes --dry-run` does)."""
    found: list[HeldDeletions] = []
    try:
        async with open_context(settings, InProcessQueues(), dry_run=True) as ctx:
            for kind in kinds:
                found.append(await find_held(ctx, kind, address))
    except HeldError as exc:
        return found, str(exc)
    except Exception as exc:
        problem = problem_of(exc, fno_host=host_of(settings.d365_url), graph_host=host_of(settings.graph_url))
        if problem is None:
            raise
        return found, f"The held items cannot be listed now. {problem.what} What to do: {problem.fix}"
    return found, None


@dataclass
class ChartPage:
    charts: list[chart.Chart]
    days: int
    capped: bool  # more entries than CHART_ENTRIES: the oldest cycles are undercounted
    cut: bool  # more cycles than the chart shows: the oldest are left off


async def charts(store: StateStore, days: int = CHART_DAYS) -> ChartPage:
    since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    entries = await store.list_audit(CHART_ENTRIES, since=since)
    failures = [f for f in await store.list_failures() if f.first_at >= since]
    found, cut = chart.periods(entries)
    return ChartPage(
        charts=[
            chart.synced_chart(entries, found),
            chart.trouble_chart(entries, failures, found),
            chart.latency_chart(entries, found),
        ],
        days=days,
        capped=len(entries) >= CHART_ENTRIES,
        cut=cut,
    )


def detail_text(detail: dict[str, Any]) -> str:
    """An audit entry's detail in one line: `key: value` pairs (a conflict's fields shown by name)."""
    parts = []
    for key, value in detail.items():
        if key == "conflicts" and isinstance(value, list):
            fields = ", ".join(
                f"{c.get('field')} ({c.get('winner')} won)" for c in value if isinstance(c, dict)
            )
            parts.append(f"conflicts: {fields}")
        elif isinstance(value, list):
            parts.append(f"{key}: {', '.join(str(v) for v in value)}")
        else:
            parts.append(f"{key}: {value}")
    return "; ".join(parts)
