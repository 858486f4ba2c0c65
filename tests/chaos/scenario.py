"""One chaos scenario per seed: runs of the sync process killed at random points, edits on both sides in
between, then clean runs until a run writes nothing; then the end state is checked.

Everything random comes from `random.Random(seed)`, so a seed names its scenario: which runs are killed
and how, which write the kill follows, which edits are made. (A kill on a timer, and therefore what follows
it, also depends on how fast the machine is; a kill after the k-th write does not.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.harness import ChaosTenant, KillPlan, RunRecord, chaos_tenant, run_sync
from tests.chaos.world import World

CHAOS_RUNS = 6  # runs with kills and edits, per seed
MAX_CLEAN_RUNS = 4  # then clean runs until one writes nothing
FIRST_RUN_WRITES = 55  # about what the first sync of the sample tenant writes
P_KILL_AFTER_WRITE = 0.3
P_KILL_AFTER_CREATE = 0.15
P_KILL_ON_TIMER = 0.2


@dataclass
class Outcome:
    seed: int
    runs: list[RunRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    failures_left: list[dict[str, object]] = field(default_factory=list)
    compared_pairs: int = 0

    @property
    def kills(self) -> list[RunRecord]:
        return [r for r in self.runs if r.killed]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        lines = [
            f"chaos seed {self.seed}: {'OK' if self.ok else 'FAILED'}; {len(self.kills)} kill(s), "
            f"{len(self.runs)} runs, {self.compared_pairs} pairs compared"
        ]
        lines += [f"  {run.describe()}" for run in self.runs]
        if self.problems:
            lines.append(f"  {len(self.problems)} problem(s):")
            lines += [f"    - {p}" for p in self.problems]
        if not self.ok and self.runs and self.runs[-1].stderr_tail.strip():
            lines.append("  stderr of the last run (tail):")
            lines += [f"    {line}" for line in self.runs[-1].stderr_tail.strip().splitlines()[-15:]]
        return "\n".join(lines)


def _plan(rng: random.Random, number: int, pending_edits: int) -> KillPlan:
    roll = rng.random()
    # About as many writes as the run will make: the first sync, or a few per edit since the last clean run.
    span = FIRST_RUN_WRITES if number == 1 else max(2, 3 * pending_edits)
    if roll < P_KILL_AFTER_WRITE:
        return KillPlan("after_write", k=rng.randint(1, span))
    if roll < P_KILL_AFTER_WRITE + P_KILL_AFTER_CREATE:
        return KillPlan("after_write", k=rng.randint(1, max(1, span // 2)), creates_only=True)
    if roll < P_KILL_AFTER_WRITE + P_KILL_AFTER_CREATE + P_KILL_ON_TIMER:
        return KillPlan("timer", seconds=round(rng.uniform(0.0, 3.0), 2))
    return KillPlan()


def run_scenario(tmp_path: Path, seed: int, *, chaos_runs: int = CHAOS_RUNS) -> Outcome:
    rng = random.Random(seed)
    outcome = Outcome(seed)
    with chaos_tenant(tmp_path, seed) as tenant:
        world = World.seeded(tenant, rng, seed)
        _chaos(tenant, world, rng, outcome, chaos_runs)
        _settle(tenant, outcome)
        outcome.problems += _final_checks(tenant, world, outcome)
    return outcome


def _chaos(tenant: ChaosTenant, world: World, rng: random.Random, outcome: Outcome, chaos_runs: int) -> None:
    pending = 0  # edits made since the last run that finished
    for number in range(1, chaos_runs + 1):
        edits = world.edit_round(rng.randint(1, 4)) if number > 1 else []
        pending += len(edits)
        plan = _plan(rng, number, pending)
        if number == chaos_runs and not outcome.kills:
            # Never a scenario without a kill: the last chaos run dies right after one of its first writes.
            plan = KillPlan("after_write", k=1)
        record = run_sync(tenant, number, plan, edits)
        outcome.runs.append(record)
        if not record.killed:
            pending = 0


def _settle(tenant: ChaosTenant, outcome: Outcome) -> None:
    """Clean runs until one writes nothing (at most MAX_CLEAN_RUNS)."""
    for _ in range(MAX_CLEAN_RUNS):
        record = run_sync(tenant, len(outcome.runs) + 1, KillPlan(), [])
        outcome.runs.append(record)
        if not record.writes:
            return


def _final_checks(tenant: ChaosTenant, world: World, outcome: Outcome) -> list[str]:
    problems: list[str] = []
    last = outcome.runs[-1]
    if last.writes:
        shown = ", ".join(f"{w['service']} {w['method']} {w['path']} {w['status']}" for w in last.writes[:8])
        problems.append(
            f"not quiescent: the last of {MAX_CLEAN_RUNS} clean runs still wrote {len(last.writes)} time(s): {shown}"
        )
    if last.returncode != 0:
        problems.append(f"the last run exited {last.returncode}")
    if last.report is None:
        problems.append("the last run printed no JSON summary")
    elif last.report.get("failures"):
        problems.append(f"the last run reported failures: {last.report['failures']}")
    outcome.failures_left = list(tenant.failures())
    for failure in outcome.failures_left:
        problems.append(f"failure left in the store: {failure}")
    problems += world.check()
    outcome.compared_pairs = len(world.pairs)
    # The test must not pass vacuously.
    problems += world.sanity()
    if not outcome.kills:
        problems.append("no run was killed")
    return problems
