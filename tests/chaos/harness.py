"""The chaos tenant: the sample tenant on both stand-ins (wrapped in simulators.faults, served over real HTTP
in this process) and `python -m sync_core run --once --json` as a real process that can be SIGKILLed at a
random moment or right after the k-th write a stand-in applied (before the answer reaches it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulators.faults import LOSE_ANSWER, WRITE_METHODS, AppliedWrite, FaultInjector, Faults
from simulators.fno.app import create_fno_app
from simulators.fno.state import FnoState
from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.sample_contacts import contact_settings, seed_contacts
from simulators.sample_data import COMPANY, sandbox_settings, seed
from simulators.sample_email import seed_email
from simulators.sample_tasks import seed_tasks
from simulators.serve import serve

ROOT = Path(__file__).resolve().parents[2]
# Where the sync process imports sync_core from: this tree, or another checkout (CHAOS_SYNC_ROOT) to compare
# versions against the same scenarios (e.g. `git archive <commit> sync_core | tar -x -C /tmp/old`).
SYNC_ROOT = Path(os.environ.get("CHAOS_SYNC_ROOT") or ROOT)
TOKEN = "chaos-token"
RUN_TIMEOUT = 180.0  # seconds one `run --once` may take before the test gives up on it


def _real_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ChaosTenant:
    graph: GraphState
    fno: FnoState
    faults: Faults
    environ: dict[str, str]
    state_dir: Path
    handles: dict[str, Any]
    started: datetime

    def writes(self, mark: tuple[int, int]) -> list[dict[str, Any]]:
        """The write requests (method, path, status, ...) either stand-in logged since `mark`."""
        with self.graph.lock:
            graph = [dict(r, service="graph") for r in self.graph.request_log[mark[0] :]]
        with self.fno.lock:
            fno = [dict(r, service="fno") for r in self.fno.request_log[mark[1] :]]
        return [r for r in graph + fno if r["method"] in WRITE_METHODS]

    def mark(self) -> tuple[int, int]:
        with self.graph.lock, self.fno.lock:
            return len(self.graph.request_log), len(self.fno.request_log)

    def process_env(self) -> dict[str, str]:
        """The sync process's environment: ours without settings that could leak in, plus the tenant's."""
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SYNC_", "D365_", "GRAPH_", "AzureWebJobs", "APPLICATIONINSIGHTS"))
        }
        return {**base, **self.environ, "PYTHONPATH": str(SYNC_ROOT), "PYTHONUNBUFFERED": "1"}

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sync_core", *args],
            cwd=self.state_dir.parent,
            env=self.process_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def failures(self) -> list[dict[str, Any]]:
        done = self.cli("failures", "--json")
        if done.returncode != 0:
            raise AssertionError(f"`failures --json` exited {done.returncode}: {done.stderr[-2000:]}")
        rows = json.loads(done.stdout or "[]")
        assert isinstance(rows, list)
        return rows


@contextmanager
def chaos_tenant(tmp_path: Path, seed_value: int) -> Iterator[ChaosTenant]:
    """The sample tenant (every kind both ways) on the real clock: the sync process uses the real clock,
    so the data is laid out around the real today and the stand-ins stamp edits with the real time."""
    now = _real_now()
    graph, fno = GraphState(token=TOKEN), FnoState(token=TOKEN, default_company=COMPANY)
    handles = seed(graph, fno, now)
    handles["email"] = seed_email(graph, fno, now)
    handles["tasks"] = seed_tasks(graph, fno, now)
    handles["contacts"] = seed_contacts(graph, fno, now)
    graph.clock = _real_now
    fno.clock = _real_now
    faults = Faults(seed=seed_value)
    state_dir = tmp_path / "state"
    with (
        serve(FaultInjector(create_graph_app(graph), faults, service="graph")) as graph_server,
        serve(FaultInjector(create_fno_app(fno), faults, service="fno")) as fno_server,
    ):
        environ = sandbox_settings(graph_server.url, fno_server.url, TOKEN, str(state_dir))
        environ.update(contact_settings())
        # F&O deletions are noticed in every cycle (not once an hour), so a deletion lands within the test.
        environ["SYNC_FNO_DELETE_CHECK_MINUTES"] = "0"
        # The stand-ins apply a create before answering, so an unfinished create is visible at once: no
        # wait before creating again, and failed items retried by the very next run.
        environ["SYNC_CREATE_OUTCOME_WAIT_SECONDS"] = "0"
        environ["SYNC_RETRY_MINUTES"] = "0"
        yield ChaosTenant(graph, fno, faults, environ, state_dir, handles, now)


# -- one run of the sync process ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KillPlan:
    """How a run is to be killed: `after_write` (the k-th write a stand-in applied in this run;
    `creates_only`: the k-th POST), `timer` (`seconds` after the process's first request), or `none`."""

    mode: str = "none"
    k: int = 0
    creates_only: bool = False
    seconds: float = 0.0

    def describe(self) -> str:
        if self.mode == "after_write":
            return f"kill after {'create' if self.creates_only else 'write'} #{self.k}"
        if self.mode == "timer":
            return f"kill {self.seconds:.2f}s after its first request"
        return "clean"


@dataclass
class RunRecord:
    number: int
    plan: KillPlan
    edits: list[str] = field(default_factory=list)
    killed: bool = False
    kill_point: str = ""  # the write it was killed after, or the moment and the writes applied by then
    returncode: int | None = None
    seconds: float = 0.0
    writes: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] | None = None
    stderr_tail: str = ""

    def describe(self) -> str:
        what = f"run {self.number}: {self.plan.describe()}"
        if self.plan.mode != "none":
            what += f" -> {'KILLED ' + self.kill_point if self.killed else 'not reached, finished'}"
        what += f"; exit {self.returncode}; {len(self.writes)} writes; {self.seconds:.1f}s"
        if self.report is not None and self.report.get("failures"):
            what += f"; {len(self.report['failures'])} failure(s) reported"
        if self.edits:
            what += "\n      edits before: " + "; ".join(self.edits)
        return what


def _what(answer: bytes) -> str:
    """What a create made, from the stand-in's answer (the item), for the story of a seed."""
    try:
        item = json.loads(answer) if answer else None
    except ValueError:
        return ""
    if not isinstance(item, dict):
        return ""
    names = ("ActivityNumber", "ContactPersonId", "Category", "Purpose", "LastName", "subject", "title")
    parts = [str(item[n]) for n in names if item.get(n)]
    if item.get("displayName") and not parts:
        parts.append(str(item["displayName"]))
    return f" [{' '.join(parts)[:80]}]" if parts else ""


def _describe_write(write: AppliedWrite, number: int) -> str:
    made = _what(write.answer) if write.method == "POST" else ""
    return f"write #{number}: {write.service} {write.method} {write.path} {write.status}{made}"


def run_sync(tenant: ChaosTenant, number: int, plan: KillPlan, edits: list[str]) -> RunRecord:
    """One `run --once --json` as a real process, killed as `plan` says."""
    record = RunRecord(number, plan, list(edits))
    lock = threading.Lock()
    proc_box: list[subprocess.Popen[str]] = []
    counted = {"writes": 0, "creates": 0}
    last_write: list[str] = []

    def kill(reason: str) -> bool:
        with lock:
            if record.killed or not proc_box or proc_box[0].poll() is not None:
                return False
            os.kill(proc_box[0].pid, signal.SIGKILL)
            record.killed = True
            record.kill_point = reason
            return True

    def on_write(write: AppliedWrite) -> str | None:
        with lock:
            if not proc_box or record.killed:
                return None
            counted["writes"] += 1
            counted["creates"] += write.method == "POST"
            last_write[:] = [_describe_write(write, counted["writes"])]
            reached = plan.mode == "after_write" and (
                counted["creates"] == plan.k if plan.creates_only else counted["writes"] == plan.k
            )
            if not reached or (plan.creates_only and write.method != "POST"):
                return None
        if kill(f"right after {last_write[0]} was applied, before its answer"):
            return LOSE_ANSWER
        return None

    remove = tenant.faults.on_applied_write(on_write)
    mark = tenant.mark()
    started = time.monotonic()
    timer: threading.Thread | None = None
    stop = threading.Event()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sync_core", "run", "--once", "--json"],
            cwd=tenant.state_dir.parent,
            env=tenant.process_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with lock:
            proc_box.append(proc)
        if plan.mode == "timer":

            def on_timer() -> None:
                # The process needs a while to start (imports); the clock starts at its first request.
                while tenant.mark() == mark and proc.poll() is None and not stop.is_set():
                    time.sleep(0.01)
                if stop.wait(plan.seconds):
                    return
                with lock:
                    applied, last = counted["writes"], (last_write[0] if last_write else "none")
                kill(f"{plan.seconds:.2f}s after its first request, {applied} write(s) applied (last {last})")

            timer = threading.Thread(target=on_timer, name=f"chaos-timer-{number}", daemon=True)
            timer.start()
        try:
            stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            raise AssertionError(f"run {number} did not finish within {RUN_TIMEOUT:.0f}s") from None
    finally:
        stop.set()
        if timer is not None:
            timer.join()
        remove()
    time.sleep(0.05)  # requests a killed process had already sent may still be answered by the stand-ins
    record.seconds = time.monotonic() - started
    record.returncode = proc.returncode
    record.writes = tenant.writes(mark)
    record.stderr_tail = stderr[-3000:]
    if not record.killed and stdout.strip():
        try:
            parsed = json.loads(stdout)
        except ValueError:
            parsed = None
        record.report = parsed if isinstance(parsed, dict) else None
    return record
