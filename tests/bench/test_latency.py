"""The latency harness (`python -m bench --latency`, bench/latency.py) at a small size: three edits each way
in each run (notifications on; timer only), through worker processes on Azurite and the webhook over HTTP.
Only that every edit arrives, once; the seconds it took are the benchmark's, never asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import latency
from bench.tenant import Shape

pytestmark = pytest.mark.azurite

PLAN = latency.Plan(
    edits=3,
    gap=0.2,
    timer_seconds=4.0,
    seed=3,
    shape=Shape(mailboxes=1, appointments=6, tasks=0, contacts=6, shared_contacts=1),
    # The workers poll an empty queue at most every 0.5 s instead of host.json's 5 s: a shorter test.
    worker_args=("--max-polling-interval", "0.5"),
    quiet_seconds=1.0,
)


def test_every_edit_arrives_once_each_way_with_notifications_and_by_the_timer(
    tmp_path: Path, azurite_connection_string: str
) -> None:
    result = latency.run(tmp_path, PLAN, azurite_connection_string)

    assert latency.problems(result) == []
    events, timer = result["events"], result["timer"]
    assert events["subscriptions"] > 0
    # Path a rides on the notifications: one delivered per Outlook edit, none refused.
    assert events["notifications_delivered"] >= PLAN.edits
    assert {side: (d["edits"], d["arrived"]) for side, d in timer["directions"].items()} == {
        "outlook": (3, 3),
        "fno": (3, 3),
    }
    expected_events = {"outlook": (3, 3)}
    if result["fno_events_available"]:
        expected_events["fno"] = (3, 3)
    assert {s: (d["edits"], d["arrived"]) for s, d in events["directions"].items()} == expected_events
    rows = latency.rows(result)
    assert len(rows) == 8 and all(met is not False for _, _, _, met in rows[-2:])


def test_the_production_figure_is_a_uniform_wait_over_five_minutes_plus_the_time_after_the_start() -> None:
    # Two edits caught by the timer start at 100 (each took 2 s after it), one caught by a cycle that
    # started before it (left out).
    edits = [
        latency.Edit(0, latency.OUTLOOK, "appointment", "m", "h", at=90.0, seen=102.0),
        latency.Edit(1, latency.OUTLOOK, "appointment", "m", "h", at=95.0, seen=102.0),
        latency.Edit(2, latency.OUTLOOK, "appointment", "m", "h", at=101.0, seen=101.5),
    ]
    figures = latency.projected(edits, starts=[75.0, 100.0, 125.0])
    assert figures["edits_counted"] == 2
    assert figures["after_timer_start"]["median"] == 2.0
    assert figures["wait_for_timer"]["median"] == 7.5
    assert figures["seconds"]["median"] == 152.0  # 150 s (half of 300) + 2 s
    assert figures["seconds"]["p95"] == 286.5  # the 285th of 300 phases (284.5 s) + 2 s
    assert latency.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
