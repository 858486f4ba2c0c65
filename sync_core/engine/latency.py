"""Sync latency: how long a change took from its source side's last-modified time to our write.

One rule for the telemetry histogram (telemetry/hooks.py) and the audit entry the console charts."""

from __future__ import annotations

from datetime import datetime

from sync_core.engine.types import ActionKind, Decision, SideView


def sources(decision: Decision, fno: SideView, graph: SideView) -> list[tuple[str, SideView]]:
    """Which side's change each write carried: F&O's to Exchange, Exchange's to F&O."""
    action = decision.action
    if action is ActionKind.CREATE_IN_GRAPH:
        return [("to_exchange", fno)]
    if action is ActionKind.CREATE_IN_FNO:
        return [("to_fno", graph)]
    if action in (ActionKind.UPDATE, ActionKind.LINK):
        found = []
        if decision.write_graph:
            found.append(("to_exchange", fno))
        if decision.write_fno:
            found.append(("to_fno", graph))
        return found
    return []  # deletions and unlinks: neither side says when the item went away


def seconds_between(earlier: datetime, later: datetime) -> float:
    # Clocks differ between F&O, Exchange and us: a change "from the future" took no time.
    return max(0.0, (later - earlier).total_seconds())


def pair_latency(decision: Decision, fno: SideView, graph: SideView, now: datetime) -> float | None:
    """Seconds the slowest change this write carried waited (None when no source time is known)."""
    waited = [
        seconds_between(side.modified_at, now)
        for _, side in sources(decision, fno, graph)
        if side.modified_at is not None
    ]
    return round(max(waited), 3) if waited else None
