"""A synthetic tenant of many mailboxes on both stand-ins (real HTTP on loopback), with Graph's and F&O's
cost model switched on, and the counters the scenarios read."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.counting import CountingStore, counting_factory
from simulators.fno.app import create_fno_app
from simulators.fno.state import FnoState
from simulators.graph import contacts
from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.serve import serve
from sync_core import app as app_module
from sync_core.app import open_context
from sync_core.pipeline.runner import run_cycle
from sync_core.runtime.queues import AnyMessage, InProcessQueues
from sync_core.runtime.report import CycleReport
from sync_core.settings import load_settings

TOKEN = "bench-token"
COMPANY = "usmf"
CATEGORY = "D365 Sync"
CUSTOMER = "Bench Retail"
SHARED_MAILBOX = "sales-shared@contoso.com"
NOW = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
CYCLE = timedelta(minutes=5)  # the timer's period


class CountingQueues(InProcessQueues):
    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def send(self, queue: str, messages: Sequence[AnyMessage]) -> None:
        self.sent += len(messages)
        await super().send(queue, messages)


@dataclass(frozen=True)
class CostModel:
    """Graph's and F&O's limits, with time scaled down by `time_scale` (latency, windows and every
    Retry-After shrink together, so the ratios between them stay those of the real services)."""

    latency: float = 0.040
    graph_limit: int = 10_000
    graph_window: float = 600.0
    fno_limit: int = 6_000
    fno_window: float = 300.0
    time_scale: float = 1.0

    def describe(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency * 1000,
            "graph_limit_per_mailbox": f"{self.graph_limit} per {self.graph_window:g} s, 4 concurrent",
            "fno_limit": f"{self.fno_limit} per {self.fno_window:g} s, 52 concurrent",
            "time_scale": self.time_scale,
        }


@dataclass(frozen=True)
class Shape:
    """Items per mailbox; half of each kind starts in F&O, half in Outlook."""

    mailboxes: int
    appointments: int = 20
    tasks: int = 10
    contacts: int = 10
    shared_contacts: int = 10


@dataclass
class Counts:
    graph_requests: int = 0  # what Graph's limits count: every call, each $batch item included
    graph_http_calls: int = 0
    graph_429: int = 0
    fno_requests: int = 0
    fno_429: int = 0
    per_mailbox_graph: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "per_mailbox_graph"}


@dataclass
class BenchTenant:
    graph: GraphState
    fno: FnoState
    environ: dict[str, str]
    shape: Shape
    now: datetime = NOW
    rng: random.Random = field(default_factory=lambda: random.Random(8))
    # (kind, mailbox, side, handle) of every item the tenant seeded, for edits.
    items: list[tuple[str, str, str, str]] = field(default_factory=list)
    messages_sent: int = 0  # queue messages: one Functions execution each (plus the timer's)
    store_calls: int = 0  # state-store calls: about one Table transaction each

    def mailboxes(self) -> list[str]:
        return [mailbox_address(i) for i in range(self.shape.mailboxes)]

    def cycle(self, **overrides: str) -> CycleReport:
        return asyncio.run(self.acycle(**overrides))

    async def acycle(self, **overrides: str) -> CycleReport:
        settings = load_settings({**self.environ, **overrides}, local_settings=None)
        queues = CountingQueues()
        stores: list[CountingStore] = []
        original = app_module.open_store
        app_module.open_store = counting_factory(original, stores)  # type: ignore[assignment]
        try:
            async with open_context(settings, queues, clock=lambda: self.now) as ctx:
                report = await run_cycle(ctx, queues)
        finally:
            app_module.open_store = original  # type: ignore[assignment]
        self.messages_sent += queues.sent
        self.store_calls += sum(store.calls for store in stores)
        return report

    def advance(self, delta: timedelta = CYCLE) -> None:
        self.now += delta

    def set_costs(self, costs: CostModel | None) -> None:
        scale = costs.time_scale if costs else 1.0
        self.graph.latency = costs.latency / scale if costs else 0.0
        self.graph.rate_limit = costs.graph_limit if costs else None
        self.graph.rate_window = costs.graph_window / scale if costs else 600.0
        self.fno.latency = costs.latency / scale if costs else 0.0
        self.fno.rate_limit = costs.fno_limit if costs else None
        self.fno.rate_window = costs.fno_window / scale if costs else 300.0
        # The product paces itself to Graph's window; on scaled time that window is scaled too.
        if costs:
            self.environ["SYNC_GRAPH_RATE_WINDOW_SECONDS"] = f"{costs.graph_window / scale:g}"
        else:
            self.environ.pop("SYNC_GRAPH_RATE_WINDOW_SECONDS", None)

    def mark(self) -> tuple[int, int]:
        return len(self.graph.request_log), len(self.fno.request_log)

    def counts_since(self, mark: tuple[int, int]) -> Counts:
        counts = Counts()
        for entry in self.graph.request_log[mark[0] :]:
            if entry["path"] != "/$batch":
                counts.graph_requests += 1
                mailbox = entry.get("mailbox") or ""
                counts.per_mailbox_graph[mailbox] = counts.per_mailbox_graph.get(mailbox, 0) + 1
            if not entry.get("batched"):
                counts.graph_http_calls += 1
            counts.graph_429 += entry["status"] == 429
        for entry in self.fno.request_log[mark[1] :]:
            counts.fno_requests += 1
            counts.fno_429 += entry["status"] == 429
        return counts

    # ---- user edits on either side ---------------------------------------------------------------------

    def edit(self, share: float) -> int:
        """Edit `share` of the seeded items (half in F&O, half in Outlook, chosen evenly over kinds);
        returns how many were edited."""
        count = max(1, round(len(self.items) * share))
        chosen = self.rng.sample(self.items, count)
        stamp = self.now.strftime("%H%M%S")
        for n, (kind, mailbox, side, handle) in enumerate(chosen):
            text = f"edited {stamp}-{n}"
            if side == "fno" and kind in ("appointment", "task"):
                self.fno.update(
                    "Activities", {"dataAreaId": COMPANY, "ActivityNumber": handle}, {"Purpose": text}
                )
            elif side == "fno":
                self.fno.update(
                    "ContactPersons",
                    {"dataAreaId": COMPANY, "ContactPersonId": handle},
                    {"EmploymentJobTitle": text},
                )
            elif kind == "appointment":
                self.graph.update_event(mailbox, handle, {"subject": text})
            elif kind == "task":
                self.graph.todo.update_task(
                    mailbox, self.graph.todo.default_list_id(mailbox), handle, {"title": text}
                )
            else:
                contacts.user_update_contact(self.graph, mailbox, handle, {"jobTitle": text})
        return count


def mailbox_address(i: int) -> str:
    return f"user{i:04d}@contoso.com"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _graph_time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def seed(graph: GraphState, fno: FnoState, shape: Shape, now: datetime) -> list[tuple[str, str, str, str]]:
    """Workers, a customer, and per mailbox the items of every kind, half on each side."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    items: list[tuple[str, str, str, str]] = []
    fno.add(
        "CustomersV3",
        {
            "dataAreaId": COMPANY,
            "CustomerAccount": "US-900",
            "PartyNumber": "000000900",
            "OrganizationName": CUSTOMER,
            "SalesDistrict": "NORTH",
        },
    )
    for i in range(shape.mailboxes):
        mail, worker = mailbox_address(i), f"W{i:05d}"
        graph.add_user(mail, f"User {i}", time_zone="W. Europe Standard Time")
        fno.add("Workers", {"PersonnelNumber": worker, "Name": f"User {i}", "PrimaryContactEmail": mail})
        for n in range(shape.appointments):
            start = day + timedelta(days=1 + n % 60, hours=8 + n % 9)
            if n % 2 == 0:
                row = fno.add(
                    "Activities",
                    {
                        "dataAreaId": COMPANY,
                        "Category": "Appointment",
                        "Purpose": f"Visit {i}-{n}",
                        "OutlookText": "Agenda: numbers, next steps.",
                        "StartDateTime": _iso(start),
                        "EndDateTime": _iso(start + timedelta(hours=1)),
                        "ResponsibleWorkerPersonnelNumber": worker,
                        "KeepSynchronized": "Yes",
                    },
                )
                items.append(("appointment", mail, "fno", str(row["ActivityNumber"])))
            else:
                event = graph.add_event(
                    mail,
                    {
                        "subject": f"Meeting {i}-{n}",
                        "body": {"contentType": "text", "content": "Talk about the renewal."},
                        "start": _graph_time(start),
                        "end": _graph_time(start + timedelta(hours=1)),
                        "categories": [CATEGORY],
                    },
                )
                items.append(("appointment", mail, "graph", str(event["id"])))
        for n in range(shape.tasks):
            due = day + timedelta(days=2 + n % 20, hours=16)
            if n % 2 == 0:
                row = fno.add(
                    "Activities",
                    {
                        "dataAreaId": COMPANY,
                        "Category": "Task",
                        "Purpose": f"Follow up {i}-{n}",
                        "StartDateTime": _iso(due - timedelta(days=1)),
                        "EndDateTime": _iso(due),
                        "ResponsibleWorkerPersonnelNumber": worker,
                        "KeepSynchronized": "Yes",
                        "ActivityStatus": "NotStarted",
                    },
                )
                items.append(("task", mail, "fno", str(row["ActivityNumber"])))
            else:
                task = graph.todo.add_task(mail, {"title": f"To do {i}-{n}", "categories": [CATEGORY]})
                items.append(("task", mail, "graph", str(task["id"])))
        for n in range(shape.contacts):
            if n % 2 == 0:
                row = fno.add(
                    "ContactPersons",
                    {
                        "dataAreaId": COMPANY,
                        "ContactPersonId": f"CP-{i:04d}-{n:03d}",
                        "FirstName": f"Pat{n}",
                        "LastName": f"Buyer{i}",
                        "PrimaryEmailAddress": f"pat{n}.buyer{i}@bench-retail.com",
                        "AssociatedPartyNumber": "000000900",
                        "ContactPersonResponsiblePersonnelNumber": worker,
                        "MicrosoftOutlookCategories": CATEGORY,
                    },
                )
                items.append(("contact", mail, "fno", str(row["ContactPersonId"])))
            else:
                created = contacts.seed_contact(
                    graph,
                    mail,
                    {"givenName": f"Sam{n}", "surname": f"Seller{i}", "companyName": CUSTOMER},
                    folder="Dynamics 365",
                )
                items.append(("contact", mail, "graph", str(created["id"])))
    graph.add_user(SHARED_MAILBOX, "Sales (shared)", time_zone="UTC")
    for n in range(shape.shared_contacts):
        fno.add(
            "ContactPersons",
            {
                "dataAreaId": COMPANY,
                "ContactPersonId": f"CP-S-{n:04d}",
                "FirstName": f"Kim{n}",
                "LastName": "Shared",
                "AssociatedPartyNumber": "000000900",
            },
        )
    return items


def settings_for(graph_url: str, fno_url: str, state_dir: Path, shape: Shape) -> dict[str, str]:
    shared = [
        {
            "name": "North",
            "mailbox": SHARED_MAILBOX,
            "folder": "Sales North",
            "customerFilter": "SalesDistrict eq 'NORTH'",
        }
    ]
    return {
        "D365_URL": fno_url,
        "GRAPH_URL": f"{graph_url}/v1.0",
        "SYNC_AUTH": "static",
        "SYNC_STATIC_TOKEN": TOKEN,
        "SYNC_MAILBOXES": ",".join(mailbox_address(i) for i in range(shape.mailboxes)),
        "SYNC_COMPANY": COMPANY,
        "SYNC_CATEGORY": CATEGORY,
        "SYNC_STATE_DIR": str(state_dir),
        "SYNC_SHARED_LISTS": json.dumps(shared),
        # The benchmark's edits touch many items of one mailbox at once: not a mass deletion.
        "SYNC_FNO_DELETE_CHECK_MINUTES": "60",
        # Off for the feed figures: which mailboxes' slots fall into a few measured cycles depends on the
        # hash of their addresses. Its cost is measured on its own (steady.reconcile) and added to the cost
        # model per day; at the default an idle cycle pays it only for the mailboxes whose slot it is.
        "SYNC_RECONCILE_HOURS": "0",
    }


@contextmanager
def bench_tenant(
    state_dir: Path,
    shape: Shape,
    *,
    empty_first_delta_page: bool = False,
    page_size: int = 100,
    now: datetime = NOW,
) -> Iterator[BenchTenant]:
    graph = GraphState(token=TOKEN, page_size=page_size, empty_first_delta_page=empty_first_delta_page)
    fno = FnoState(token=TOKEN, default_company=COMPANY)
    graph.clock = fno.clock = lambda: now  # seeded items are stamped with the tenant's time
    items = seed(graph, fno, shape, now)
    with ExitStack() as stack:
        graph_server = stack.enter_context(serve(create_graph_app(graph)))
        fno_server = stack.enter_context(serve(create_fno_app(fno)))
        tenant = BenchTenant(
            graph, fno, settings_for(graph_server.url, fno_server.url, state_dir, shape), shape, now=now
        )
        tenant.items = items
        graph.clock = fno.clock = lambda: tenant.now
        yield tenant
