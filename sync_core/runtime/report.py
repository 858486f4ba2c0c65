"""What a cycle did: counts per kind and direction, skipped mailboxes, failures, planning steps that failed,
and (dry run) the plan."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("created", "updated", "deleted", "unlinked", "unchanged")
DIRECTIONS = ("to_exchange", "to_fno")


@dataclass(frozen=True)
class FailureNote:
    kind: str
    mailbox: str
    fno_key: str | None
    graph_id: str | None
    reason: str


@dataclass(frozen=True)
class PlanningProblem:
    """A planning step that failed (after its retries); the rest of the cycle went on without it.

    `step` names what was being done, `service` who failed ("F&O", "Microsoft Graph", "state store"),
    `reason` says why without hosts, URLs or personal data, `mailbox` the mailbox concerned, if one."""

    step: str
    service: str
    reason: str
    mailbox: str | None = None


@dataclass(frozen=True)
class ConfigWarning:
    """Something in the configuration keeps a part of the sync from working while the rest runs (e.g. the
    F&O parent-link entity is not published). Reported once a cycle; not a failure (exit code stays 0)."""

    code: str
    message: str


@dataclass(frozen=True)
class PlannedAction:
    kind: str
    mailbox: str
    action: str
    fno_key: str | None
    graph_id: str | None
    reason: str


@dataclass
class CycleReport:
    counts: dict[str, dict[str, dict[str, int]]] = field(
        default_factory=lambda: defaultdict(lambda: {d: dict.fromkeys(ACTIONS, 0) for d in DIRECTIONS})
    )
    skipped_mailboxes: dict[str, str] = field(default_factory=dict)
    failures: list[FailureNote] = field(default_factory=list)
    planned: list[PlannedAction] = field(default_factory=list)
    planning_problems: list[PlanningProblem] = field(default_factory=list)
    warnings: list[ConfigWarning] = field(default_factory=list)
    conflicts: int = 0
    # Periodic reconciliations (pipeline/reconcile.py): "runs" and "out_of_step" (items queued or found gone).
    reconciliation: dict[str, int] = field(default_factory=lambda: {"runs": 0, "out_of_step": 0})
    # Failed items on the work list at the end of the cycle (pipeline/retry.py): later cycles retry them.
    waiting_for_retry: int = 0
    _unchanged_seen: set[tuple[str, str, str]] = field(default_factory=set)

    def count(self, kind: str, direction: str, action: str, n: int = 1) -> None:
        self.counts[kind][direction][action] += n

    def count_unchanged(self, kind: str, mailbox: str, pair: str) -> None:
        """A pair is often reported by both feeds in one cycle: count it once."""
        key = (kind, mailbox, pair)
        if key not in self._unchanged_seen:
            self._unchanged_seen.add(key)
            self.count(kind, "to_exchange", "unchanged")

    def touch(self, kind: str) -> None:
        """Make a kind appear in the report even when it did nothing."""
        _ = self.counts[kind]

    def skip_mailbox(self, mailbox: str, reason: str) -> None:
        self.skipped_mailboxes[mailbox] = reason

    def fail(self, note: FailureNote) -> None:
        self.failures.append(note)

    def warn(self, code: str, message: str) -> None:
        if all(w.code != code for w in self.warnings):
            self.warnings.append(ConfigWarning(code, message))

    def planning_problem(self, problem: PlanningProblem) -> None:
        self.planning_problems.append(problem)

    @property
    def failed(self) -> bool:
        """Something failed: an item, or a planning step (the command exits 1)."""
        return bool(self.failures or self.planning_problems)

    def total(self, action: str) -> int:
        return sum(per[d][action] for per in self.counts.values() for d in DIRECTIONS)

    @property
    def writes(self) -> int:
        return sum(self.total(a) for a in ACTIONS if a != "unchanged")

    def to_json(self, *, dry_run: bool) -> dict[str, Any]:
        return {
            "dryRun": dry_run,
            "counts": {
                kind: {d: dict(v) for d, v in per.items()} for kind, per in sorted(self.counts.items())
            },
            "conflicts": self.conflicts,
            "waitingForRetry": self.waiting_for_retry,
            "skippedMailboxes": [
                {"mailbox": m, "reason": r} for m, r in sorted(self.skipped_mailboxes.items())
            ],
            "failures": [
                {
                    "kind": f.kind,
                    "mailbox": f.mailbox,
                    "fnoKey": f.fno_key,
                    "graphId": f.graph_id,
                    "reason": f.reason,
                }
                for f in self.failures
            ],
            "warnings": [{"code": w.code, "message": w.message} for w in self.warnings],
            "planningProblems": [
                {"step": p.step, "service": p.service, "mailbox": p.mailbox, "reason": p.reason}
                for p in self.planning_problems
            ],
            "plan": [
                {
                    "kind": p.kind,
                    "mailbox": p.mailbox,
                    "action": p.action,
                    "fnoKey": p.fno_key,
                    "graphId": p.graph_id,
                    "reason": p.reason,
                }
                for p in self.planned
            ],
        }
