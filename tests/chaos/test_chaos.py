"""Nothing lost, nothing twice, whatever moment the sync process dies at.

Each seed runs `python -m sync_core run --once --json` as real processes against the sample tenant (every
kind, both ways) on the embedded store, SIGKILLs some of them (at a random moment, or right after the k-th
write a stand-in applied, before the answer arrives), edits both sides between runs, then runs clean until
a run writes nothing. Pass: every item exactly once on each side, every edit landed, the last run writes
nothing and exits 0, no failure left. A failure prints the seed's story (what was killed where, which check
failed), so `CHAOS_SEED_LIST=<seed> .venv/bin/pytest tests/chaos -k scenario` replays it.

CI runs a few fixed seeds. The long run (scripts/chaos.sh) takes `CHAOS_SEEDS=300` seeds from
`CHAOS_SEED_START` (default 1000) on.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.scenario import run_scenario

CI_SEEDS = (2, 3, 4)  # each of them loses or duplicates items against the code before the issue-13 fixes


def _seeds() -> list[int]:
    listed = os.environ.get("CHAOS_SEED_LIST", "").strip()
    if listed:
        return [int(s) for s in listed.replace(",", " ").split()]
    count = int(os.environ.get("CHAOS_SEEDS", "0") or 0)
    if count > 0:
        start = int(os.environ.get("CHAOS_SEED_START", "1000"))
        return list(range(start, start + count))
    return list(CI_SEEDS)


@pytest.mark.parametrize("seed", _seeds())
def test_chaos_scenario(tmp_path: Path, seed: int) -> None:
    outcome = run_scenario(tmp_path, seed)
    print(outcome.summary())  # the seed's story: shown for a failing seed, and with -s for every seed
    # Not vacuous: processes were killed, edits made, and the end state compared.
    assert outcome.kills, f"seed {seed}: no run was killed"
    assert outcome.compared_pairs > 0, f"seed {seed}: the end state was not compared"
    first = outcome.problems[0] if outcome.problems else ""
    assert outcome.ok, f"seed {seed}: {len(outcome.problems)} problem(s), first: {first} (story above)"
