"""Scenario 2: the first sync of one mailbox with many F&O appointments and contacts, against the
per-mailbox throttle (Graph: 10,000 requests per 10 minutes, 4 at a time), on scaled-down time."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.tenant import CATEGORY, COMPANY, NOW, CostModel, Shape, bench_tenant, mailbox_address


def _iso(value: Any) -> str:
    return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))


def run(state_dir: Path, appointments: int, contacts: int, costs: CostModel) -> dict[str, Any]:
    shape = Shape(mailboxes=1, appointments=0, tasks=0, contacts=0, shared_contacts=0)
    with bench_tenant(state_dir, shape) as tenant:
        day = NOW.replace(hour=0, minute=0, second=0)
        for n in range(appointments):
            start = day + timedelta(days=1 + n % 300, hours=7 + n % 10, minutes=n % 4 * 15)
            tenant.fno.add(
                "Activities",
                {
                    "dataAreaId": COMPANY,
                    "Category": "Appointment",
                    "Purpose": f"Visit {n}",
                    "OutlookText": "Agenda: numbers, next steps.",
                    "StartDateTime": _iso(start),
                    "EndDateTime": _iso(start + timedelta(minutes=45)),
                    "ResponsibleWorkerPersonnelNumber": "W00000",
                    "KeepSynchronized": "Yes",
                },
            )
        for n in range(contacts):
            tenant.fno.add(
                "ContactPersons",
                {
                    "dataAreaId": COMPANY,
                    "ContactPersonId": f"CP-F-{n:05d}",
                    "FirstName": f"Pat{n}",
                    "LastName": "Buyer",
                    "PrimaryEmailAddress": f"pat{n}@bench-retail.com",
                    "AssociatedPartyNumber": "000000900",
                    "ContactPersonResponsiblePersonnelNumber": "W00000",
                    "MicrosoftOutlookCategories": CATEGORY,
                },
            )
        tenant.set_costs(costs)
        mark = tenant.mark()
        started = time.perf_counter()
        report = tenant.cycle(SYNC_SHARED_LISTS="")  # this mailbox's own items only
        elapsed = time.perf_counter() - started
        counts = tenant.counts_since(mark)
    mailbox_requests = counts.per_mailbox_graph.get(mailbox_address(0), 0)
    window = costs.graph_window / costs.time_scale
    rate_ceiling = costs.graph_limit / window
    concurrency_ceiling = 4 / (costs.latency / costs.time_scale)
    rate = mailbox_requests / elapsed
    created = sum(report.counts[k]["to_exchange"]["created"] for k in report.counts)
    return {
        "appointments": appointments,
        "contacts": contacts,
        "created_in_exchange": created,
        "failures": len(report.failures),
        "seconds": round(elapsed, 1),
        "real_time_equivalent_minutes": round(elapsed * costs.time_scale / 60, 1),
        "graph_requests": mailbox_requests,
        "graph_requests_per_item": round(mailbox_requests / max(1, created), 3),
        "graph_429": counts.graph_429,
        "share_429": round(counts.graph_429 / max(1, counts.graph_requests), 4),
        "fno_requests": counts.fno_requests,
        "fno_429": counts.fno_429,
        "requests_per_second": round(rate, 1),
        "rate_ceiling_per_second": round(rate_ceiling, 1),
        "concurrency_ceiling_per_second": round(concurrency_ceiling, 1),
        "windows_spanned": round(elapsed / window, 2),
        "share_of_throttle_ceiling": round(rate / rate_ceiling, 3),
        # Stricter for a run of few windows: what the sliding window would have let through in this time
        # (a full window's worth at the start of each window), not the long-run rate.
        "share_of_sliding_window_allowance": round(
            mailbox_requests / (costs.graph_limit * max(1, math.ceil(elapsed / window))), 3
        ),
    }
