"""The chaos run through the Functions pipeline: the sample tenant on the stand-ins, state and queues in
Azurite, the planner (timer function) and two host instances (`python -m tests.hostsim worker`) as real
processes. Workers are killed with SIGKILL at random moments and right after the stand-ins applied a write
(before its answer goes out), and restarted; both sides are edited between cycles; then clean cycles run
until the queues are empty and a cycle writes nothing. `run_seed` returns what it saw."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.storage.queue import QueueClient

from sync_core.runtime.queues import StorageQueues
from sync_core.state.tables import TableStateStore
from tests.e2e.harness import WRITE_METHODS, Tenant, sample_tenant
from tests.hostsim.host import read_journal
from tests.hostsim.world import World

ROOT = Path(__file__).resolve().parents[2]
# Host options scaled down from host.json so that a killed worker's messages come back within seconds.
WORKER_ARGS = (
    "--batch-size", "4",  # host.json: 16 and 8, scaled down for two workers and a stand-in host on 2 CPUs
    "--new-batch-threshold", "2",
    "--lease", "4",  # the host's 10-minute peek lock
    "--visibility-timeout", "1",  # host.json: 30 s between retries of a failed message
    "--max-polling-interval", "0.5",  # host.json: 5 s
)  # fmt: skip
WORKERS = 2
CYCLE_LIMIT_S = 120.0  # a cycle whose queues are not empty by then fails the run
CLEAN_CYCLES = 6  # at most this many clean cycles to reach one that writes nothing


@dataclass
class Kill:
    cycle: int
    pid: int
    reason: str  # "timer" or "after write: <METHOD> <path>"
    seconds: float  # since the cycle's planner finished


@dataclass
class Outcome:
    seed: int
    kills: list[Kill] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    compared: int = 0
    handled: Counter[str] = field(default_factory=Counter)  # journal events: ok, failed, poisoned, taken
    cycles: int = 0
    edits: list[str] = field(default_factory=list)
    failures_seen: list[str] = field(default_factory=list)  # distinct reasons of failed invocations
    seconds: float = 0.0

    def report(self) -> str:
        lines = [
            f"seed {self.seed}: {self.cycles} cycles, {len(self.kills)} kills, {dict(self.handled)} "
            f"invocations, {self.compared} item sides compared, {self.seconds:.0f} s",
        ]
        lines += [
            f"  kill in cycle {k.cycle} at {k.seconds:.2f} s: pid {k.pid}, {k.reason}" for k in self.kills
        ]
        lines += [f"  edit {e}" for e in self.edits]
        lines += [f"  invocation failed: {f}" for f in self.failures_seen]
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)


class _HookedLog(list[dict[str, Any]]):
    """A stand-in's request log that calls `hook` as each entry is appended: that is right after the
    stand-in applied the request and before its answer goes out (both stand-ins log, then answer)."""

    def __init__(self, entries: list[dict[str, Any]], hook: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(entries)
        self._hook = hook

    def append(self, entry: dict[str, Any]) -> None:
        super().append(entry)
        self._hook(entry)


class Fleet:
    """The host instances (worker processes), and the kills."""

    def __init__(self, env: dict[str, str], workdir: Path, journal: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.journal = journal
        self.lock = threading.RLock()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()
        self.crashes: list[str] = []  # worker exits that were not our kills
        self.kills: list[Kill] = []
        self.cycle = 0
        self.cycle_started = time.monotonic()
        self._armed_after: int | None = None

    def start(self) -> None:
        with self.lock:
            stderr = open(self.workdir / "workers.log", "ab")  # noqa: SIM115 (the child keeps it)
            try:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tests.hostsim",
                        "worker",
                        "--journal",
                        str(self.journal),
                        *WORKER_ARGS,
                    ],
                    cwd=self.workdir,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            finally:
                stderr.close()
            self.processes.append(process)

    def alive(self) -> list[subprocess.Popen[bytes]]:
        with self.lock:
            running = []
            for process in self.processes:
                code = process.poll()
                if code is None:
                    running.append(process)
                elif process.pid not in self.killed:
                    self.crashes.append(f"worker {process.pid} exited with {code}")
                    self.killed.add(process.pid)  # reported once
            self.processes = running
            return running

    def top_up(self) -> None:
        for _ in range(WORKERS - len(self.alive())):
            self.start()

    def kill(self, process: subprocess.Popen[bytes], reason: str) -> None:
        with self.lock:
            if process.poll() is not None:
                return
            self.killed.add(process.pid)
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            self.kills.append(Kill(self.cycle, process.pid, reason, time.monotonic() - self.cycle_started))

    def arm(self, after_writes: int | None) -> None:
        """Kill every worker right after the `after_writes`-th write the stand-ins apply from now on."""
        with self.lock:
            self._armed_after = after_writes

    def on_request(self, entry: dict[str, Any]) -> None:
        """Runs in a stand-in's server thread, before the answer to `entry` is sent."""
        if self._armed_after is None:
            return  # read without the lock: a stand-in thread must never wait for the test
        if entry.get("method") not in WRITE_METHODS or int(entry.get("status", 500)) >= 400:
            return
        with self.lock:
            if self._armed_after is None:
                return
            self._armed_after -= 1
            if self._armed_after > 0:
                return
            self._armed_after = None
            for process in list(self.processes):
                self.kill(process, f"after write: {entry['method']} {entry['path']}")

    def stop(self) -> None:
        """SIGTERM: each worker finishes what it runs and exits (no lock held while waiting)."""
        self.arm(None)
        with self.lock:
            processes, self.processes = self.processes, []
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill(process, "did not stop on SIGTERM")


class Queues:
    def __init__(self, connection_string: str, names: list[str]) -> None:
        self.clients = {n: QueueClient.from_connection_string(connection_string, n) for n in names}
        self.poison = {n: QueueClient.from_connection_string(connection_string, f"{n}-poison") for n in names}

    def depth(self) -> int:
        # Azure's approximate count includes the messages invisible while a function runs.
        return sum(
            int(c.get_queue_properties().approximate_message_count or 0) for c in self.clients.values()
        )

    def leftovers(self) -> list[str]:
        found: list[str] = []
        for group in (self.clients, self.poison):
            for client in group.values():
                count = int(client.get_queue_properties().approximate_message_count or 0)
                if count:
                    peeked = [_readable(m.content) for m in client.peek_messages(max_messages=32)]
                    found.append(f"{client.queue_name}: {count} messages, e.g. {peeked[:3]}")
        return found

    def close(self) -> None:
        for client in [*self.clients.values(), *self.poison.values()]:
            client.close()


def _run_planner(env: dict[str, str], workdir: Path) -> str | None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.hostsim", "timer"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return None if done.returncode == 0 else f"planner exited {done.returncode}: {done.stderr[-2000:]}"


def _drain(fleet: Fleet, queues: Queues, rng: random.Random | None, outcome: Outcome) -> bool:
    """Let the workers take messages until the queues stay empty; with `rng`, kill one at random moments."""
    deadline = time.monotonic() + CYCLE_LIMIT_S
    timer_kills = sorted(rng.uniform(0.2, 4.0) for _ in range(rng.randint(0, 2))) if rng else []
    restart_at: float | None = None
    empty_since: float | None = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if timer_kills and now - fleet.cycle_started >= timer_kills[0]:
            timer_kills.pop(0)
            alive = fleet.alive()
            if alive and rng is not None:
                fleet.kill(rng.choice(alive), "timer")
        if len(fleet.alive()) < WORKERS:
            if restart_at is None:
                restart_at = now + (rng.uniform(0.0, 1.0) if rng else 0.0)
            elif now >= restart_at:
                fleet.top_up()
                restart_at = None
        if queues.depth() == 0:
            empty_since = empty_since or now
            if now - empty_since >= 1.0 and not timer_kills:
                return True
        else:
            empty_since = None
        time.sleep(0.1)
    outcome.problems.append(f"cycle {fleet.cycle}: queues not empty after {CYCLE_LIMIT_S:.0f} s")
    return False


async def _open_failures(connection_string: str, prefix: str) -> list[str]:
    store = TableStateStore.from_connection_string(connection_string, prefix=prefix)
    try:
        return [f"{f.kind} {f.mailbox} {f.item_key}: {f.reason}" for f in await store.list_failures()]
    finally:
        await store.close()


async def _ensure_queues(connection_string: str, names: list[str]) -> None:
    queues = StorageQueues.from_connection_string(connection_string)
    try:
        await queues.ensure_queues(names)
    finally:
        await queues.close()


def run_seed(
    seed: int,
    workdir: Path,
    connection_string: str,
    prefix: str,
    *,
    chaos_cycles: int = 3,
    kills: bool = True,
) -> Outcome:
    """One run: `chaos_cycles` cycles with edits before each (and kills when `kills`), then clean cycles."""
    started = time.monotonic()
    rng = random.Random(seed)
    outcome = Outcome(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    journal = workdir / "journal.jsonl"
    with sample_tenant(workdir, now=datetime.now(UTC)) as tenant:
        _follow_real_time(tenant)
        extra = {
            "AzureWebJobsStorage": connection_string,
            "SYNC_TABLE_PREFIX": prefix,
            "SYNC_SCAN_QUEUE": f"{prefix}-scan",
            "SYNC_ITEM_QUEUE": f"{prefix}-items",
            "SYNC_SCHEDULE": "0 */5 * * * *",
            # The stand-ins apply a create before answering, so an unfinished create is visible at once:
            # no wait before creating again, and failed items retried by the very next timer.
            "SYNC_CREATE_OUTCOME_WAIT_SECONDS": "0",
            "SYNC_RETRY_MINUTES": "0",
        }
        tenant.extra_env = extra
        names = [extra["SYNC_SCAN_QUEUE"], extra["SYNC_ITEM_QUEUE"]]
        asyncio.run(_ensure_queues(connection_string, names))
        env = {**os.environ, **tenant.environ, **extra, "PYTHONPATH": str(ROOT)}
        env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
        fleet = Fleet(env, workdir, journal)
        tenant.graph.request_log = _HookedLog(tenant.graph.request_log, fleet.on_request)
        tenant.fno.request_log = _HookedLog(tenant.fno.request_log, fleet.on_request)
        queues = Queues(connection_string, names)
        world = World.seeded(seed)
        try:
            fleet.top_up()
            for cycle in range(1, chaos_cycles + 1):
                if cycle > 1:
                    world.random_edits(tenant, rng, cycle, rng.randint(3, 6))
                _cycle(fleet, queues, env, workdir, cycle, outcome, rng if kills else None)
            # Edits before the first clean cycle too: they must land without any chaos in between.
            world.random_edits(tenant, rng, chaos_cycles + 1, rng.randint(2, 4))
            quiet = False
            writes: list[dict[str, Any]] = []
            for cycle in range(chaos_cycles + 1, chaos_cycles + 1 + CLEAN_CYCLES):
                mark = tenant.mark_logs()
                if not _cycle(fleet, queues, env, workdir, cycle, outcome, None):
                    break
                writes = tenant.writes_since(mark)
                if not writes and cycle > chaos_cycles + 1:
                    quiet = True
                    break
            if not quiet:
                outcome.problems.append(
                    f"no clean cycle without writes; the last one wrote {_summarize(writes)}"
                )
        finally:
            fleet.stop()
        outcome.kills = fleet.kills
        outcome.problems += fleet.crashes
        outcome.problems += [f"left on a queue: {q}" for q in queues.leftovers()]
        queues.close()
        outcome.problems += [
            f"open failure: {f}" for f in asyncio.run(_open_failures(connection_string, prefix))
        ]
        differences, outcome.compared = world.compare(tenant)
        outcome.problems += differences
        outcome.edits = world.edits
    events = read_journal(journal)
    outcome.handled = Counter(
        str(e["event"]) for e in events if e["event"] in {"ok", "failed", "poisoned", "ok-but-lease-lost"}
    )
    outcome.failures_seen = sorted({str(e.get("error")) for e in events if e.get("error")})
    outcome.seconds = time.monotonic() - started
    return outcome


def _cycle(
    fleet: Fleet,
    queues: Queues,
    env: dict[str, str],
    workdir: Path,
    cycle: int,
    outcome: Outcome,
    rng: random.Random | None,
) -> bool:
    outcome.cycles = cycle
    fleet.arm(None)
    failed = _run_planner(env, workdir)
    if failed:
        outcome.problems.append(f"cycle {cycle}: {failed}")
    fleet.cycle, fleet.cycle_started = cycle, time.monotonic()
    if rng is not None:
        fleet.arm(rng.randint(1, 12))
    drained = _drain(fleet, queues, rng, outcome)
    fleet.arm(None)
    return drained


def _follow_real_time(tenant: Tenant) -> None:
    """The workers run on the real clock, so the stand-ins stamp edits with it too (F&O's LastDateTimeEdited
    against the product's watermark)."""

    def real() -> datetime:
        return datetime.now(UTC)

    tenant.graph.clock = real
    tenant.fno.clock = real


def _summarize(writes: list[dict[str, Any]]) -> list[str]:
    return [f"{w['method']} {w['path']}" for w in writes[:10]]


def _readable(content: Any) -> str:
    """A queue message as its JSON (the queues hold base64 text), cut short."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    with contextlib.suppress(ValueError):
        text = base64.b64decode(text, validate=True).decode("utf-8", "replace")
    return text[:300]
