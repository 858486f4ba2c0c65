"""python -m bench [--quick] [--out PATH]: run the benchmark, print the table, write the JSON.

--quick is CI's smoke test: small sizes, and it fails only on deterministic counts (requests per idle
mailbox and kind, F&O idle requests independent of the scope, no failures), never on timings.
--scale: issue 21's figures at 10,000 mailboxes (bench/scale.py), printed against their targets.
--latency: seconds from an edit to the other side, real time, with and without notifications and events
(bench/latency.py; several minutes, not part of --quick)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cost, engine, first_sync, functions_path, idle_notified, instances, latency, scale, steady
from bench.tenant import CostModel, Shape

RESULTS = Path(__file__).parent / "results"
# A second steady state at a realistic mailbox size: per-change figures depend on the items (so the
# changes) per mailbox and cycle, not on the number of mailboxes; 20 mailboxes keep the set-up short.
DENSE = Shape(mailboxes=20, appointments=250, tasks=100, contacts=150)
DENSE_QUICK = Shape(mailboxes=2, appointments=100, tasks=40, contacts=60)
# Through the Functions path on Azurite: what one execution costs does not depend on the tenant's size.
FUNCTIONS_PATH = Shape(mailboxes=10)
FUNCTIONS_PATH_QUICK = Shape(mailboxes=3, appointments=4, tasks=2, contacts=2, shared_contacts=2)
# First sync by 1 and 4 worker processes (full mode only; the quick mode checks the gates in-process and
# one small first sync by 2 worker processes, see instances.quick_functions_check).
INSTANCES = Shape(mailboxes=10)
# Scenario 8, notifications on (simulated time): per-mailbox figures do not depend on the tenant's size.
NOTIFIED, NOTIFIED_QUICK = Shape(mailboxes=40), Shape(mailboxes=10)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def targets(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(figure, measured, target, met) rows of the table; met None: not meaningful at this size."""
    s, idle, small = (
        result["steady"]["steady"],
        result["steady"]["idle"],
        result["steady"]["idle_small_scope"],
    )
    empty = result["steady"]["idle_empty_first_delta_page"]
    dense, dense_shape = result["steady_dense"]["steady"], result["steady_dense"]["shape"]
    per_mailbox = dense_shape["appointments"] + dense_shape["tasks"] + dense_shape["contacts"]
    at = f"{per_mailbox} items/mailbox"
    f, d, m = result["first_sync"], result["engine"]["decide"], result["engine"]["scan_memory"]
    usd = result["cost"]["usd_per_month"]["total"]
    r = result["steady"]["reconcile"]
    return [
        ("Graph requests per propagated change", f"{s['graph_requests_per_change']}", "<= 1.3", s["graph_requests_per_change"] <= 1.3),
        ("  of which pair jobs (feed reads excluded)", f"{s['graph_pair_requests_per_change']}", "-", True),
        ("  beyond an idle cycle's feed reads (marginal)", f"{s['graph_marginal_requests_per_change']}", "<= 1.3", s["graph_marginal_requests_per_change"] <= 1.3),
        ("  total within target from changes per mailbox+cycle", f"{s['graph_target_met_from_changes_per_mailbox_and_cycle']} (here {s['changes_per_mailbox_and_cycle']})", "-", True),
        ("F&O requests per propagated change", f"{s['fno_requests_per_change']}", "<= 1.5", s["fno_requests_per_change"] <= 1.5),
        (f"Graph requests per change, {at}", f"{dense['graph_requests_per_change']}", "<= 1.3", dense["graph_requests_per_change"] <= 1.3),
        (f"F&O requests per change, {at}", f"{dense['fno_requests_per_change']}", "<= 1.5", dense["fno_requests_per_change"] <= 1.5),
        ("Idle: Graph requests per mailbox and kind", f"{idle['graph_requests_per_mailbox_and_kind']}", "1", idle["graph_requests_per_mailbox_and_kind"] <= 1.0),
        ("  same, stand-in sends empty first delta page", f"{empty['graph_requests_per_mailbox_and_kind']}", "-", True),
        (f"Idle: F&O requests ({idle['mailboxes']} / {small['mailboxes']} mailboxes)", f"{idle['fno_requests']} / {small['fno_requests']}", "equal", idle["fno_requests"] == small["fno_requests"]),
        # Shorter than a couple of throttle windows, a run is one burst: its rate says nothing (quick mode).
        ("First sync: share of the throttle ceiling", f"{f['share_of_throttle_ceiling']:.0%}", ">= 80%", f["share_of_throttle_ceiling"] >= 0.8 if f["windows_spanned"] >= 2 else None),
        ("  same, of what the sliding window allowed in that time", f"{f['share_of_sliding_window_allowance']:.0%}", ">= 80%", f["share_of_sliding_window_allowance"] >= 0.8 if f["windows_spanned"] >= 2 else None),
        ("First sync: share of 429 answers", f"{f['share_429']:.2%}", "< 1%", f["share_429"] < 0.01),
        (f"Decide CPU per item ({d['links']} links)", f"{d['ms_per_item']} ms", "< 0.2 ms", d["ms_per_item"] < 0.2),
        (f"Peak memory scanning {m['items']} items", f"{m['peak_mb']} MB", "< 200 MB", m["peak_mb"] < 200),
        ("Reconciliation, in step: Graph / F&O requests per mailbox", f"{r['graph_requests_per_mailbox']} / {r['fno_requests_per_mailbox']}", "-", True),
        (f"  per mailbox per day (every {r['interval_hours']} h)", f"{r['graph_requests_per_mailbox_per_day']} / {r['fno_requests_per_mailbox_per_day']}", "-", True),
        ("  writes and pairs queued when in step", f"{r['writes']} / {r['queue_messages']}", "0 / 0", r["writes"] == 0 and r["queue_messages"] == 0),
        ("Monthly estimate (200 mailboxes)", f"${usd}", "-", True),
        *functions_rows(result["functions_path"]),
        *instances_rows(result),
        *(idle_notified.targets(result["notified"], result.get("cost_notified")) if "notified" in result else []),
    ]  # fmt: skip


def instances_rows(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """Scenario 7: limits across instances."""
    q = result["instances_quick"]
    rows: list[tuple[str, str, str, bool | None]] = [
        (
            f"Limits, {q['instances']} instances on Azurite: most in flight",
            f"{q['in_flight_max']}",
            f"<= {q['capacity']}",
            q["in_flight_max"] <= q["capacity"],
        ),
        (
            "  most requests in one window",
            f"{q['most_in_one_window']}",
            f"<= {q['limit']}",
            q["most_in_one_window"] <= q["limit"],
        ),
    ]
    qf = result.get("instances_quick_functions")
    if qf:
        rows.append(
            (
                f"  through the Functions path, {qf['workers']} workers: most Graph in flight per mailbox",
                f"{qf['graph_in_flight_max']}",
                f"<= {instances.GRAPH_MAILBOX_CONCURRENCY}",
                qf["graph_in_flight_max"] <= instances.GRAPH_MAILBOX_CONCURRENCY,
            )
        )
    full = result.get("instances")
    if full:
        one, four = full["one_worker"], full["four_workers"]
        rows += [
            (
                "First sync, 1 / 4 workers: share of 429 answers",
                f"{one['share_429']:.2%} / {four['share_429']:.2%}",
                "< 1%",
                four["share_429"] < 0.01,
            ),
            (
                "  most Graph requests in flight per mailbox",
                f"{one['graph_in_flight_max']} / {four['graph_in_flight_max']}",
                "<= 4",
                four["graph_in_flight_max"] <= 4,
            ),
            (
                "  writes per second",
                f"{one['writes_per_second']} / {four['writes_per_second']}",
                "4 >= 1",
                four["writes_per_second"] >= one["writes_per_second"],
            ),
        ]
        local = full.get("four_workers_per_process_limits")
        if local:
            rows.append(
                (
                    "  4 workers, limits per process: 429 share, in flight",
                    f"{local['share_429']:.2%}, {local['graph_in_flight_max']}",
                    "-",
                    True,
                )
            )
    return rows


def functions_rows(fp: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """Scenario 6: one execution through the Functions path (Azurite), idle cycle."""
    idle, per_message, start = fp["idle"], fp["idle_opened_per_message"], fp["instance_start"]
    most = functions_path.TABLE_REQUESTS_PER_IDLE_SCAN
    return [
        ("Functions: Table requests per idle scan execution", f"{idle['table_requests_per_idle_scan']}", f"<= {most}", idle["table_requests_per_idle_scan"] <= most),
        ("  most of one mailbox scan / one F&O feed scan", f"{idle['table_requests_per_idle_mailbox_scan_max']} / {idle['table_requests_per_idle_fno_scan_max']}", f"<= {most} / -", idle["table_requests_per_idle_mailbox_scan_max"] <= most),
        ("  Queue requests per idle scan execution", f"{idle['queue_requests_per_idle_scan']}", "-", True),
        ("  create_table in executions (instance start: +1 query)", f"{idle['create_table'] + start['create_table']}", "0", idle["create_table"] + start["create_table"] == 0),
        ("  services opened in two cycles of one instance", f"{start['services_opened_in_two_cycles']}", "1", start["services_opened_in_two_cycles"] == 1),
        ("  CPU per execution, kept / opened per message", f"{idle['cpu_ms_per_execution']} / {per_message['cpu_ms_per_execution']} ms", "-", True),
        ("  Table requests per idle cycle, kept / per message", f"{idle['table_requests']} / {per_message['table_requests']}", "-", True),
        ("  of the limits across instances, per idle scan", f"{idle['limits_table_requests_per_idle_scan']}", f"<= {functions_path.LIMITS_REQUESTS_PER_IDLE_SCAN}", idle["limits_table_requests_per_idle_scan"] <= functions_path.LIMITS_REQUESTS_PER_IDLE_SCAN),
    ]  # fmt: skip


def print_table(rows: list[tuple[str, str, str, bool | None]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'measured':>14}  {'target':>9}  met")
    for name, measured, target, met in rows:
        shown = "n/a" if met is None else "yes" if met else "NO"
        print(f"{name:<{width}}  {measured:>14}  {target:>9}  {shown}")


def check_counts(result: dict[str, Any]) -> list[str]:
    """The deterministic counts CI holds the product to (timings are printed, never asserted)."""
    problems = []
    s, dense = result["steady"], result["steady_dense"]
    if s["setup_failures"] or s["steady"]["failures"] or result["first_sync"]["failures"]:
        problems.append("a cycle recorded failures")
    if dense["setup_failures"] or dense["steady"]["failures"]:
        problems.append("a cycle recorded failures")
    if s["idle"]["writes"] or s["idle_small_scope"]["writes"]:
        problems.append("an idle cycle wrote something")
    if s["idle"]["fno_requests"] != s["idle_small_scope"]["fno_requests"]:
        problems.append("idle F&O requests depend on the number of mailboxes")
    # One page per mailbox and kind (see steady.py SCANS_PER_MAILBOX).
    if s["idle"]["graph_requests_per_mailbox_and_kind"] > 1.0:
        problems.append("an idle mailbox costs more than one Graph request per kind")
    if min(r["steady"]["propagated_writes"] - r["steady"]["edits"] for r in (s, dense)) < 0:
        problems.append("not every edit was propagated")
    # The reconciliation (measured on its own; the other cycles run without it): every mailbox and kind
    # reconciled once in its cycle, in step it writes and queues nothing.
    r = s["reconcile"]
    if r["runs"] != r["expected_runs"] or r["failures"]:
        problems.append("the reconciliation did not run once for every mailbox and kind, or failed")
    if r["writes"] or r["out_of_step"] or r["queue_messages"]:
        problems.append("the reconciliation of a tenant in step wrote or queued something")
    # What a change costs beyond the feed reads (deterministic): one write, reads only where unavoidable.
    if s["steady"]["graph_marginal_requests_per_change"] > 1.3:
        problems.append("Graph requests per change beyond the feed reads exceed 1.3")
    if s["steady"]["fno_marginal_requests_per_change"] > 1.5:
        problems.append("F&O requests per change beyond the feed reads exceed 1.5")
    problems.extend(functions_problems(result["functions_path"]))
    if "scale_quick" in result:
        problems.extend(scale.quick_problems(result["scale_quick"]))
    # Limits across instances: never more in flight or in a window than allowed.
    problems.extend(instances.problems(result["instances_quick"]))
    if "instances_quick_functions" in result:
        problems.extend(instances.functions_problems(result["instances_quick_functions"]))
    if "notified" in result:
        problems.extend(idle_notified.problems(result["notified"]))
    return problems


def functions_problems(fp: dict[str, Any]) -> list[str]:
    """Through the Functions path: the instance keeps its services, creates no table, and an
    idle mailbox scan costs at most 5 Table requests."""
    idle, start = fp["idle"], fp["instance_start"]
    most = functions_path.TABLE_REQUESTS_PER_IDLE_SCAN
    problems = []
    if start["services_opened_in_two_cycles"] != 1:
        problems.append("the Functions opened the store and clients more than once per instance")
    if idle["create_table"] or start["create_table"] or fp["idle_first_cycle_of_instance"]["create_table"]:
        problems.append("a Functions execution created a table")
    if idle["table_requests_per_idle_scan"] > most or idle["table_requests_per_idle_mailbox_scan_max"] > most:
        problems.append(f"an idle scan execution costs more than {most} Table requests")
    if idle["limits_table_requests_per_idle_scan"] > functions_path.LIMITS_REQUESTS_PER_IDLE_SCAN:
        problems.append("the limits across instances cost too many Table requests per idle scan")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes for CI (about a minute)")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/latest.json; quick: none)")
    parser.add_argument("--mailboxes", type=int, help="steady-state mailboxes (default 200; quick 10)")
    parser.add_argument("--time-scale", type=float, default=5.0, help="how much faster than real time")
    parser.add_argument(
        "--first-sync-only",
        action="store_true",
        help="only scenario 2 (for a run at --time-scale 1); JSON to bench/results/first-sync-scale-N.json",
    )
    parser.add_argument("--scale", action="store_true", help="issue 21's figures at 10,000 mailboxes")
    parser.add_argument("--feed-rows", type=int, default=scale.FEED_ROWS, help="--scale: F&O feed rows")
    parser.add_argument(
        "--instances-only",
        action="store_true",
        help="only scenario 7 (1 and 4 worker processes); JSON to bench/results/instances.json",
    )
    parser.add_argument(
        "--notified-only",
        action="store_true",
        help="only scenario 8 (notifications on; 40 mailboxes, --quick 10); JSON to bench/results/notified.json",
    )
    parser.add_argument("--latency", action="store_true", help="edit-to-other-side latency, real time")
    parser.add_argument(
        "--latency-edits", type=int, default=latency.Plan.edits, help="--latency: per direction"
    )
    parser.add_argument(
        "--latency-timer",
        type=float,
        default=latency.Plan.timer_seconds,
        help="--latency: timer-only period, s",
    )
    parser.add_argument(
        "--latency-gap", type=float, default=latency.Plan.gap, help="--latency: mean seconds between edits"
    )
    parser.add_argument(
        "--graph-delay",
        type=float,
        default=latency.Plan.graph_delay,
        help="--latency: seconds Graph's stand-in waits before delivering a change notification",
    )
    parser.add_argument(
        "--latency-modes", default="events,timer", help="--latency: runs, events (notifications) and timer"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    if args.latency:
        if not set(args.latency_modes.split(",")) <= {"events", "timer"}:
            parser.error("--latency-modes: events, timer or both (comma-separated)")
        plan = latency.Plan(
            edits=args.latency_edits, gap=args.latency_gap, timer_seconds=args.latency_timer,
            graph_delay=args.graph_delay, modes=tuple(args.latency_modes.split(",")),
        )  # fmt: skip
        return _latency_only(plan, args.out)
    if args.scale:
        return _scale_only(args.mailboxes or scale.MAILBOXES, args.feed_rows, args.out)
    costs = CostModel(time_scale=args.time_scale)
    if args.first_sync_only:
        return _first_sync_only(costs, 150 if quick else 5000, args.out)
    if args.instances_only:
        return _instances_only(costs, args.out)
    if args.notified_only:
        return _notified_only(NOTIFIED_QUICK if quick else NOTIFIED, args.out)
    begun = time.perf_counter()
    result: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        "machine": machine(),
        "cost_model": costs.describe(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shape = Shape(mailboxes=args.mailboxes or (10 if quick else 200))
        result["steady"] = steady.run(
            root / "steady", shape, costs, cycles=3, share=0.02, with_reconcile=True
        )
        dense = DENSE_QUICK if quick else DENSE
        result["steady_dense"] = steady.run(root / "dense", dense, costs, cycles=3, share=0.02)
        result["notified"] = idle_notified.run(root / "notified", NOTIFIED_QUICK if quick else NOTIFIED)
        items = 150 if quick else 5000
        result["first_sync"] = first_sync.run(root / "first", items, items, costs)
        result["engine"] = {
            "decide": engine.decide_cost(5_000 if quick else 100_000),
            "scan_memory": engine.scan_memory(root / "scan", 2_000 if quick else 50_000),
        }
        with functions_path.azurite(root / "azurite") as connection_string:
            result["functions_path"] = functions_path.run(
                root / "functions", FUNCTIONS_PATH_QUICK if quick else FUNCTIONS_PATH, connection_string
            )
            # The planner's chunked fan-out, counted (issue 21; the timings are --scale's).
            result["scale_quick"] = scale.quick_check(root / "scale", connection_string)
            result["instances_quick"] = instances.quick_check(connection_string)
            result["instances_quick_functions"] = instances.quick_functions_check(
                root / "instances-quick", costs, connection_string
            )
            if not quick:
                result["instances"] = instances.run(
                    root / "instances", INSTANCES, costs, connection_string, compare=True
                )
    result["cost"] = cost.estimate(result["steady"], result["functions_path"])
    result["cost_notified"] = cost.estimate_notified(result["notified"], result["functions_path"])
    result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["seconds"] = round(time.perf_counter() - begun)
    rows = targets(result)
    result["targets"] = [
        {"figure": r[0].strip(), "measured": r[1], "target": r[2], "met": r[3]} for r in rows
    ]
    print(
        f"machine: {result['machine']['nproc']} x {result['machine']['cpu']}, Python {result['machine']['python']}"
    )
    print_table(rows)
    out = args.out or (None if quick else RESULTS / "latest.json")
    if out is not None:
        _write(result, out)
    failed = _failed(check_counts(result))
    return failed if quick else 0


def _write(result: Mapping[str, Any], out: Path) -> None:
    """A run's figures as JSON (bench/results/ by default), and where they went."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"written: {out}")


def _failed(problems: list[str]) -> int:
    """Each problem on stderr; the exit code: 1 when there is any."""
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _scale_only(mailboxes: int, feed_rows: int, out: Path | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with functions_path.azurite(root / "azurite") as connection_string:
            figures = scale.run(root / "scale", connection_string, mailboxes=mailboxes, feed_rows=feed_rows)
    result = {"finished": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), **figures}
    print(f"machine: {result['machine']['nproc']} x {result['machine']['cpu']}")
    print_table(scale.targets(figures))
    _write(result, out or RESULTS / f"scale-{mailboxes}.json")
    return 0


def _first_sync_only(costs: CostModel, items: int, out: Path | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        figures = first_sync.run(Path(tmp) / "first", items, items, costs)
    result = {
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "cost_model": costs.describe(),
        "first_sync": figures,
    }
    print(json.dumps(figures, indent=1))
    _write(result, out or RESULTS / f"first-sync-scale-{costs.time_scale:g}.json")
    return 1 if figures["failures"] else 0


def _latency_only(plan: latency.Plan, out: Path | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with functions_path.azurite(root / "azurite") as connection_string:
            result = latency.run(root / "latency", plan, connection_string)
    result.update(finished=datetime.now(UTC).isoformat(timespec="seconds"), machine=machine())
    print(f"machine: {result['machine']['nproc']} x {result['machine']['cpu']}")
    print_table(latency.rows(result))
    _write(result, out or RESULTS / "latency.json")
    return _failed(latency.problems(result))


def _instances_only(costs: CostModel, out: Path | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with functions_path.azurite(root / "azurite") as connection_string:
            result: dict[str, Any] = {
                "started": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(),
                "instances_quick": instances.quick_check(connection_string),
                "instances": instances.run(
                    root / "instances", INSTANCES, costs, connection_string, compare=True
                ),
                "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            }
    print_table(instances_rows(result))
    _write(result, out or RESULTS / "instances.json")
    problems = instances.problems(result["instances_quick"])
    four = result["instances"]["four_workers"]
    if four["failures"] or four["poisoned"]:
        problems.append("the four workers left failures or poisoned messages")
    return _failed(problems)


def _notified_only(shape: Shape, out: Path | None) -> int:
    """Scenario 8 alone (a few minutes): its figures and its --quick checks, without the cost estimate (that
    takes section 6's Functions-path counts, which only the whole run has)."""
    with tempfile.TemporaryDirectory() as tmp:
        notified = idle_notified.run(Path(tmp) / "notified", shape)
    result = {
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "notified": notified,
    }
    print_table(idle_notified.targets(notified))
    _write(result, out or RESULTS / "notified.json")
    return _failed(idle_notified.problems(notified))


if __name__ == "__main__":
    sys.exit(main())
