"""A sample tenant on both stand-ins, served over real HTTP, and helpers to run sync cycles against it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from simulators.faults import FaultInjector, Faults
from simulators.fno.app import create_fno_app
from simulators.fno.state import FnoState
from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.sample_contacts import contact_settings, seed_contacts
from simulators.sample_data import COMPANY, sandbox_settings, seed
from simulators.sample_email import seed_email
from simulators.sample_tasks import seed_tasks
from simulators.serve import serve
from sync_core.app import open_context
from sync_core.pipeline.local_queue import SqliteQueues
from sync_core.pipeline.runner import run_cycle
from sync_core.runtime.queues import InProcessQueues, LocalQueues
from sync_core.runtime.report import CycleReport
from sync_core.settings import Settings, load_settings

TOKEN = "e2e-token"
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
# A fixed "now" keeps windows, past/future rules and time zones deterministic.
NOW = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)


@dataclass
class Tenant:
    graph: GraphState
    fno: FnoState
    environ: dict[str, str]
    handles: dict[str, Any]
    now: datetime = NOW
    extra_env: dict[str, str] = field(default_factory=dict)

    def settings(self, **overrides: str) -> Settings:
        return load_settings({**self.environ, **self.extra_env, **overrides}, local_settings=None)

    def cycle(self, *, dry_run: bool = False, **overrides: str) -> CycleReport:
        return asyncio.run(self.acycle(dry_run=dry_run, **overrides))

    async def acycle(self, *, dry_run: bool = False, **overrides: str) -> CycleReport:
        settings = self.settings(**overrides)
        # The durable local queue `run --once` uses (a dry run plans in memory, as the command does).
        queues: LocalQueues = InProcessQueues() if dry_run else SqliteQueues.open(settings.state_dir)
        try:
            async with open_context(settings, queues, dry_run=dry_run, clock=lambda: self.now) as ctx:
                return await run_cycle(ctx, queues)
        finally:
            await queues.close()

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)

    def settle(self) -> None:
        """The first sync, then the cycle that sees the echo of its own writes; five minutes on after each."""
        for _ in range(2):
            self.cycle()
            self.advance(minutes=5)

    def mark_logs(self) -> tuple[int, int]:
        return len(self.graph.request_log), len(self.fno.request_log)

    def writes_since(self, mark: tuple[int, int]) -> list[dict[str, Any]]:
        graph = [r for r in self.graph.request_log[mark[0] :] if r["method"] in WRITE_METHODS]
        fno = [r for r in self.fno.request_log[mark[1] :] if r["method"] in WRITE_METHODS]
        return graph + fno

    def activity(self, number: str) -> dict[str, Any] | None:
        return self.fno.get("Activities", {"dataAreaId": COMPANY, "ActivityNumber": number})

    def appointments(self) -> list[dict[str, Any]]:
        return [a for a in self.fno.all("Activities") if a.get("Category") == "Appointment"]

    def parent_links(self, number: str) -> list[dict[str, Any]]:
        return [p for p in self.fno.all("ActivityParentLinks") if p["ActivityNumber"] == number]


@contextmanager
def sample_tenant(
    tmp_path: Path, now: datetime = NOW, *, contact_problems: bool = False, faults: Faults | None = None
) -> Iterator[Tenant]:
    """`now` is the tenant's clock; pass the real time for tests that run the sync in another process.
    `faults` (simulators/faults.py) wraps both stand-ins, as services "graph" and "fno"."""
    graph, fno = GraphState(token=TOKEN), FnoState(token=TOKEN, default_company=COMPANY)
    tenant = Tenant(graph=graph, fno=fno, environ={}, handles={}, now=now)
    # Both stand-ins follow the tenant's clock, so a test can let time pass.
    graph.clock = lambda: tenant.now
    fno.clock = lambda: tenant.now
    tenant.handles = seed(graph, fno, now)
    tenant.handles["email"] = seed_email(graph, fno, now)
    tenant.handles["tasks"] = seed_tasks(graph, fno, now)
    tenant.handles["contacts"] = seed_contacts(graph, fno, now, problems=contact_problems)
    graph_app: Any = create_graph_app(graph)
    fno_app: Any = create_fno_app(fno)
    if faults is not None:
        graph_app = FaultInjector(graph_app, faults, service="graph")
        fno_app = FaultInjector(fno_app, faults, service="fno")
    with serve(graph_app) as graph_server, serve(fno_app) as fno_server:
        tenant.environ = sandbox_settings(graph_server.url, fno_server.url, TOKEN, str(tmp_path / "state"))
        tenant.environ.update(contact_settings())
        yield tenant
