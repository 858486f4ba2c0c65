"""Scenario 4: what a mailbox costs per day and per month, from the steady-state counts.

The prices are Azure list prices (USD, pay-as-you-go) as remembered on 2025-11 and NOT verified here;
check https://azure.microsoft.com/pricing/details/functions/ and .../storage/queues/ and .../tables/."""

from __future__ import annotations

from typing import Any

PRICES = {
    "as_of": "2025-11 (list prices, unverified here)",
    "flex_per_million_executions_usd": 0.40,
    "flex_per_gb_second_usd": 0.000026,
    "flex_free_executions_per_month": 250_000,
    "flex_free_gb_seconds_per_month": 100_000,
    "instance_memory_gb": 2.048,
    "queue_per_10k_operations_usd": 0.004,
    "table_per_10k_transactions_usd": 0.00036,
}
CYCLES_PER_DAY = 288  # the timer runs every 5 minutes
CHANGES_PER_MAILBOX_PER_DAY = 40  # a busy sales person: appointments, tasks and contacts, either side
# Reads an idle cycle does not show, per mailbox and hour at the defaults: the default Contacts folder
# (SYNC_CONTACT_MARK_SCAN_MINUTES, 60) and the list of To Do lists (SYNC_TODO_LISTS_REFRESH_MINUTES, 360).
HOURLY_READS_PER_MAILBOX = 1 + 60 / 360
QUEUE_OPS_PER_MESSAGE = 3  # put, get, delete (the trigger's gets are batched, so this is an upper bound)
SECONDS_PER_CALL = 0.040  # the executions wait on the wire: duration ~ calls x latency


def estimate(
    steady: dict[str, Any], functions: dict[str, Any] | None = None, mailboxes_in_tenant: int = 200
) -> dict[str, Any]:
    """`functions`: the Functions-path figures (functions_path.py); an idle execution's Table requests are
    taken from there (the Table requests an execution really sends), not from the state-store calls."""
    idle, busy = steady["idle"], steady["steady"]
    mailboxes = idle["mailboxes"]
    edits = busy["edits"]
    # Per mailbox per day: an idle cycle's cost every cycle, plus each change's own cost.
    idle_graph = idle["graph_requests"] / mailboxes
    idle_fno = idle["fno_requests"] / mailboxes
    idle_messages = (idle["queue_messages"] + 1) / mailboxes  # +1: the timer's own execution
    idle_store = idle["store_calls"] / mailboxes
    if functions is not None:
        measured = functions["idle"]
        idle_store = idle_messages * measured["table_requests"] / measured["executions"]
    change_graph = busy["graph_marginal_requests_per_change"]
    change_fno = (busy["fno_requests"] - idle["fno_requests"] * (steady["cycles"] + 1)) / edits
    change_messages = max(
        0.0, (busy["queue_messages"] - idle["queue_messages"] * (steady["cycles"] + 1)) / edits
    )
    change_store = max(0.0, (busy["store_calls"] - idle["store_calls"] * (steady["cycles"] + 1)) / edits)
    n, c = CYCLES_PER_DAY, CHANGES_PER_MAILBOX_PER_DAY
    # The periodic reconciliation, in step (it runs inside the mailbox scans: no execution of its own).
    reconcile = steady.get("reconcile") or {}
    per_day = 24 / reconcile["interval_hours"] if reconcile else 0.0
    day = {
        "graph_requests": round(
            n * idle_graph
            + c * change_graph
            + 24 * HOURLY_READS_PER_MAILBOX
            + per_day * reconcile.get("graph_requests_per_mailbox", 0.0)
        ),
        "fno_requests": round(
            n * idle_fno + c * max(0.0, change_fno) + per_day * reconcile.get("fno_requests_per_mailbox", 0.0)
        ),
        "executions": round(n * idle_messages + c * change_messages),
        "table_transactions": round(
            n * idle_store + c * change_store + per_day * reconcile.get("store_calls_per_mailbox", 0.0)
        ),
    }
    return {
        "activity": {
            "cycles_per_day": n,
            "changes_per_mailbox_per_day": c,
            "mailboxes_in_tenant": mailboxes_in_tenant,
            "reconciliations_per_mailbox_per_day": per_day,
        },
        **_priced(day, mailboxes_in_tenant),
    }


def _priced(day: dict[str, Any], mailboxes_in_tenant: int) -> dict[str, Any]:
    """Per mailbox per day -> per tenant per month, and what it costs."""
    day["queue_operations"] = day["executions"] * QUEUE_OPS_PER_MESSAGE
    calls_per_execution = (day["graph_requests"] + day["fno_requests"]) / max(1, day["executions"])
    seconds = day["executions"] * (0.01 + calls_per_execution * SECONDS_PER_CALL)
    month = {k: v * 30 * mailboxes_in_tenant for k, v in day.items()}
    gb_s = seconds * 30 * mailboxes_in_tenant * PRICES["instance_memory_gb"]
    usd = {
        "executions": max(0, month["executions"] - PRICES["flex_free_executions_per_month"])
        / 1e6
        * PRICES["flex_per_million_executions_usd"],
        "execution_time": max(0.0, gb_s - PRICES["flex_free_gb_seconds_per_month"])
        * PRICES["flex_per_gb_second_usd"],
        "queues": month["queue_operations"] / 1e4 * PRICES["queue_per_10k_operations_usd"],
        "tables": month["table_transactions"] / 1e4 * PRICES["table_per_10k_transactions_usd"],
    }
    return {
        "per_mailbox_per_day": day,
        "tenant_per_month": {**month, "gb_seconds": round(gb_s)},
        "usd_per_month": {k: round(v, 2) for k, v in usd.items()} | {"total": round(sum(usd.values()), 2)},
        "prices": PRICES,
    }


def estimate_notified(
    notified: dict[str, Any], functions: dict[str, Any] | None = None, mailboxes_in_tenant: int = 200
) -> dict[str, Any]:
    """The same with change notifications on (bench/idle_notified.py): every count measured, the safety polls,
    the To Do back-off, the hourly reads and the reconciliation included in the idle window's counts."""
    idle, busy = notified["idle"], notified["changes"]
    mailboxes = idle["mailboxes"]
    n, c = CYCLES_PER_DAY, CHANGES_PER_MAILBOX_PER_DAY
    # The tenant's own executions (timer, F&O feeds) are shared by its mailboxes.
    idle_executions = (
        idle["executions_per_mailbox_and_cycle"] + idle["tenant_executions_per_cycle"] / mailboxes
    )
    idle_store = idle["store_calls_per_cycle"] / mailboxes
    if functions is not None:  # what an execution really sends to Table storage (as estimate())
        measured = functions["idle"]
        idle_store = idle_executions * measured["table_requests"] / measured["executions"]
    edits = max(1, busy["edits"])
    cycles = busy["cycles"]
    change_graph = max(
        0.0, (busy["graph_requests"] - idle["graph_requests"] / idle["cycles"] * cycles) / edits
    )
    busy_executions = busy["executions_per_mailbox_and_cycle"] * mailboxes * cycles
    change_executions = max(
        0.0, (busy_executions - idle["executions_per_mailbox_and_cycle"] * mailboxes * cycles) / edits
    )
    change_store = max(0.0, (busy["store_calls_per_cycle"] - idle["store_calls_per_cycle"]) * cycles / edits)
    day = {
        "graph_requests": round(n * idle["graph_requests_per_mailbox_and_cycle"] + c * change_graph),
        "fno_requests": round(n * idle.get("fno_requests_per_cycle", 0.0) / mailboxes),
        "executions": round(n * idle_executions + c * change_executions),
        "table_transactions": round(n * idle_store + c * change_store),
    }
    return {
        "activity": {
            "cycles_per_day": n,
            "changes_per_mailbox_per_day": c,
            "mailboxes_in_tenant": mailboxes_in_tenant,
        },
        "per_change": {"graph_requests": round(change_graph, 3), "executions": round(change_executions, 3)},
        **_priced(day, mailboxes_in_tenant),
    }
