"""Latency on real time, from an edit on one side to the change being visible on the other.

Real processes and HTTP throughout: the stand-ins serve Graph and F&O on loopback with the cost model on
real time (40 ms a call); worker processes (`python -m tests.hostsim worker`, host.json's queue settings:
batches of 16, polling backs off to `maxPollingInterval`) take real messages from Azurite's queues and run
function_app's functions; the timer is `python -m tests.hostsim timer`, started every `timer_seconds`; the
webhook (function_app's HTTP function) is served over HTTP and Graph's stand-in POSTs its change
notifications to it. Edits arrive one by one at random (exponential gaps, a fixed seed), each on another
item, interleaved over both directions; a watcher polls the other stand-in's state every 0.1 s and notes
when the edited value shows there.

Two runs:
- `events`: change notifications on (and F&O data events, once the product has them); the timer at its
  production period (5 minutes), so what the notifications and events deliver is what is measured.
- `timer`: neither; the timer every `timer_seconds` (20-30 s rather than 5 minutes, so that a run takes
  minutes). What an edit takes after the next timer start is measured, so the figure is also given at the
  production period: a uniform wait over 5 minutes plus that (`projected`).

Afterwards (queues quiet) each edit must have arrived once: its value on exactly the items it belongs on,
each written exactly once after the edit, the edited item itself not written back, and no item created or
removed on either side."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import math
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.storage.queue import QueueClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench import functions_path, instances
from bench.tenant import COMPANY, SHARED_MAILBOX, BenchTenant, CostModel, Shape, bench_tenant
from simulators.graph import contacts
from simulators.graph.subscriptions import book
from simulators.serve import serve
from sync_core import functions as product_functions
from sync_core import instance
from sync_core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_TIMER_SECONDS = 300.0  # SYNC_SCHEDULE's default, every 5 minutes
TARGET_MEDIAN_SECONDS = 10.0  # with notifications / data events on, both ways (issue 18)
POLL_SECONDS = 0.1
CONTACT_FOLDER = "Dynamics 365"  # the private list's folder (SYNC_CONTACT_FOLDER's default)
SHARED_FOLDER = "Sales North"  # bench/tenant.py's shared list
FNO_EVENTS_ROUTE = "/bench/fno-data-events"
NOTIFICATION_SECRET = "bench-latency-notification-secret-of-40-chars"
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE", "MERGE"})
# Kinds with Graph change notifications for applications (To Do has none, so its tasks are left out).
KINDS = ("appointment", "contact")
OUTLOOK, FNO = "outlook", "fno"
# a: Outlook -> F&O with notifications, b: F&O -> Outlook with data events, c/d: each way by the timer.
SHAPE = Shape(mailboxes=10, appointments=10, tasks=0, contacts=10, shared_contacts=2)
PATHS = {("events", OUTLOOK): "a", ("events", FNO): "b", ("timer", OUTLOOK): "c", ("timer", FNO): "d"}


def fno_events_available() -> bool:
    """F&O data events (docs/fno-events.md): the stand-in's emitter and the product's receiver. In a build
    without them path b is reported as not available and the events run makes no F&O edits."""
    return importlib.util.find_spec("simulators.fno.events") is not None and hasattr(
        product_functions, "on_fno_event"
    )


@contextmanager
def fno_data_events(tenant: BenchTenant, url: str) -> Iterator[None]:
    """The F&O stand-in emits a data event after every write of `Activities` and `ContactPersons`, on a
    thread of its own; each is POSTed to the bench's stand-in for the Service Bus trigger (`url`), which
    hands it to the product as function_app's `fno_data_events` does."""
    events: Any = importlib.import_module("simulators.fno.events")
    emitter = events.DataEvents(events.http_delivery(url)).attach(tenant.fno)
    try:
        yield
    finally:
        emitter.close()


@dataclass(frozen=True)
class Plan:
    edits: int = 50  # per direction
    gap: float = 1.0  # mean seconds between two edits (exponential: independent users)
    timer_seconds: float = 25.0  # the timer's period in the timer-only run
    graph_delay: float = 0.0  # seconds the Graph stand-in waits before it delivers a notification
    workers: int = 1
    seed: int = 18
    shape: Shape = SHAPE  # 100 items a side of the edited kinds
    worker_args: tuple[str, ...] = ()  # host.json's settings unless overridden (the test shortens polling)
    arrival_limit: float = 180.0  # seconds after the last edit before a missing one counts as lost
    quiet_seconds: float = 2.0  # the work queues empty this long: the run is over
    modes: tuple[str, ...] = ("events", "timer")


@dataclass
class Edit:
    n: int
    side: str  # where the edit is made: OUTLOOK or FNO
    kind: str
    mailbox: str
    handle: str  # the edited item's id on its own side
    text: str = ""
    at: float = 0.0  # time.monotonic() of the edit
    seen: float | None = None
    target: str = ""  # the counterpart's id where the value showed (the employee's own list)

    @property
    def seconds(self) -> float | None:
        return None if self.seen is None else self.seen - self.at


# ---- the edits ----------------------------------------------------------------------------------------


def choose(tenant: BenchTenant, plan: Plan, rng: random.Random, sides: tuple[str, ...]) -> list[Edit]:
    """`plan.edits` distinct items per side, the kinds in turn, interleaved at random."""
    chosen: list[Edit] = []
    for side in sides:
        stand_in = "graph" if side == OUTLOOK else "fno"
        pools = [[i for i in tenant.items if i[0] == kind and i[2] == stand_in] for kind in KINDS]
        for pool in pools:
            rng.shuffle(pool)
        picked = [pools[n % len(pools)][n // len(pools)] for n in range(plan.edits)]
        chosen += [Edit(0, side, kind, mailbox, handle) for kind, mailbox, _, handle in picked]
    rng.shuffle(chosen)
    for n, edit in enumerate(chosen):
        edit.n = n
        edit.text = f"latency edit {n:03d}"
    return chosen


def apply(tenant: BenchTenant, edit: Edit, notify: Callable[[Edit], None] | None) -> None:
    """The user's edit, made in the stand-in's state (as a user in Outlook or F&O would)."""
    if edit.side == FNO and edit.kind == "appointment":
        tenant.fno.update(
            "Activities", {"dataAreaId": COMPANY, "ActivityNumber": edit.handle}, {"Purpose": edit.text}
        )
    elif edit.side == FNO:
        tenant.fno.update(
            "ContactPersons",
            {"dataAreaId": COMPANY, "ContactPersonId": edit.handle},
            {"EmploymentJobTitle": edit.text},
        )
    elif edit.kind == "appointment":
        tenant.graph.update_event(edit.mailbox, edit.handle, {"subject": edit.text})
    else:
        contacts.user_update_contact(tenant.graph, edit.mailbox, edit.handle, {"jobTitle": edit.text})
    edit.at = time.monotonic()
    if notify is not None and edit.side == OUTLOOK:
        notify(edit)


def graph_notifier(tenant: BenchTenant, delay: float) -> Callable[[Edit], None]:
    """Graph POSTs a change notification to every matching subscription after `delay` seconds, from a
    thread of its own (Graph's delivery is independent of the user's client)."""
    subscriptions = book(tenant.graph)
    folders: dict[str, str] = {}

    def deliver(edit: Edit) -> None:
        if edit.kind == "appointment":
            subscriptions.notify(edit.mailbox, "events", edit.handle)
            return
        if edit.mailbox not in folders:
            folders[edit.mailbox] = contacts.seed_folder(tenant.graph, edit.mailbox, CONTACT_FOLDER)
        subscriptions.notify(edit.mailbox, "contacts", edit.handle, folder=folders[edit.mailbox])

    def notify(edit: Edit) -> None:
        threading.Timer(delay, deliver, args=(edit,)).start()

    return notify


# ---- watching the other side --------------------------------------------------------------------------


def _fno_index(tenant: BenchTenant) -> dict[str, str]:
    """Edited text -> the F&O row carrying it (Purpose of activities, job title of contact persons)."""
    found = {str(r.get("Purpose")): str(r["ActivityNumber"]) for r in tenant.fno.all("Activities")}
    for row in tenant.fno.all("ContactPersons"):
        found[str(row.get("EmploymentJobTitle"))] = str(row["ContactPersonId"])
    return found


def _graph_index(tenant: BenchTenant, mailbox: str) -> dict[str, str]:
    """Edited text -> the mailbox's item carrying it (event subject, private-list contact job title)."""
    found = {str(e.get("subject")): str(e["id"]) for e in tenant.graph.events(mailbox)}
    for contact in contacts.list_contacts(tenant.graph, mailbox, CONTACT_FOLDER):
        found[str(contact.get("jobTitle"))] = str(contact["id"])
    return found


class Watcher:
    """Polls the stand-ins' state every POLL_SECONDS for the edits not yet seen on their other side."""

    def __init__(self, tenant: BenchTenant) -> None:
        self.tenant = tenant
        self.pending: list[Edit] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="latency-watcher", daemon=True)

    def watch(self, edit: Edit) -> None:
        with self.lock:
            self.pending.append(edit)

    def waiting(self) -> int:
        with self.lock:
            return len(self.pending)

    def _run(self) -> None:
        while not self.stopped.wait(POLL_SECONDS):
            self.poll()

    def poll(self) -> None:
        with self.lock:
            pending = list(self.pending)
        if not pending:
            return
        fno = _fno_index(self.tenant) if any(e.side == OUTLOOK for e in pending) else {}
        graph = {
            mailbox: _graph_index(self.tenant, mailbox)
            for mailbox in {e.mailbox for e in pending if e.side == FNO}
        }
        now = time.monotonic()  # after reading: a value that showed meanwhile is not counted early
        seen = []
        for edit in pending:
            target = fno.get(edit.text) if edit.side == OUTLOOK else graph[edit.mailbox].get(edit.text)
            if target is not None:
                edit.seen, edit.target = now, target
                seen.append(edit)
        with self.lock:
            self.pending = [e for e in self.pending if e not in seen]

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join()


# ---- the processes: workers, timer, webhook -----------------------------------------------------------


@contextmanager
def workers(count: int, env: dict[str, str], workdir: Path, args: tuple[str, ...]) -> Iterator[None]:
    command = [sys.executable, "-m", "tests.hostsim", "worker", *args]
    with open(workdir / "workers.log", "ab") as log, ExitStack() as stack:
        for _ in range(count):
            process = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stderr=log)
            stack.callback(_stop, process)
        yield


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Timer:
    """Starts `python -m tests.hostsim timer` every `period` seconds, as the Functions host fires the timer
    trigger; notes when each run started (the edits' wait for the next one) and how long it took."""

    period: float
    env: dict[str, str]
    workdir: Path
    starts: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    failures: int = 0

    def fire(self) -> None:
        started = time.monotonic()
        self.starts.append(started)
        done = subprocess.run(
            [sys.executable, "-m", "tests.hostsim", "timer"],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            timeout=120,
        )
        self.failures += done.returncode != 0
        self.durations.append(time.monotonic() - started)

    @contextmanager
    def running(self) -> Iterator[None]:
        stopped = threading.Event()

        def loop() -> None:
            next_start = time.monotonic() + self.period
            while not stopped.wait(max(0.0, next_start - time.monotonic())):
                self.fire()
                next_start += self.period

        thread = threading.Thread(target=loop, name="latency-timer", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stopped.set()
            thread.join()


Handler = Callable[[func.HttpRequest], Coroutine[Any, Any, func.HttpResponse]]


class Webhook:
    """function_app's two HTTP functions for Graph, as the host serves them (query parameters decoded)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        functions = functions_path._functions()

        def route(name: str) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler: Handler = functions[name]  # type: ignore[assignment]

            async def endpoint(request: Request) -> Response:
                self.loop = asyncio.get_running_loop()
                req = func.HttpRequest(
                    request.method,
                    str(request.url),
                    headers=dict(request.headers),
                    params=dict(request.query_params),
                    body=await request.body(),
                )
                answer = await handler(req)
                return Response(answer.get_body(), answer.status_code, media_type=answer.mimetype)

            return endpoint

        async def fno_event(request: Request) -> Response:
            # The Service Bus trigger's stand-in (no emulator here): the body to the product, as the trigger
            # function does; a failure answers 500 and the emitter delivers again, as Service Bus would.
            self.loop = asyncio.get_running_loop()
            receive: Any = product_functions.on_fno_event  # type: ignore[attr-defined]
            await receive(await request.body(), delivery_count=1)
            return Response(status_code=202)

        self.app = Starlette(
            routes=[
                Route("/api/graph/notifications", route("graph_notifications"), methods=["POST"]),
                Route("/api/graph/lifecycle", route("graph_lifecycle"), methods=["POST"]),
                Route(FNO_EVENTS_ROUTE, fno_event, methods=["POST"]),
            ]
        )

    def close(self) -> None:
        """Close the services the executions kept, on the server's loop (before the server stops)."""
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(instance.close_instance(), self.loop).result(timeout=30)


@contextmanager
def webhook() -> Iterator[str]:
    """Serve the webhook (and the data events' trigger on the same event loop, as one Functions worker
    runs both); yields its base URL (what SYNC_NOTIFICATION_URL names)."""
    hook = Webhook()
    with serve(hook.app) as server:
        try:
            yield server.url
        finally:
            hook.close()


# ---- one run ------------------------------------------------------------------------------------------


def _depth(settings: Settings) -> int:
    total = 0
    for name in (settings.scan_queue, settings.item_queue):
        with QueueClient.from_connection_string(settings.storage_connection, name) as client:
            total += int(client.get_queue_properties().approximate_message_count or 0)
    return total


def quiet(settings: Settings, *, seconds: float = 2.0, limit: float = 600.0) -> None:
    """Until both work queues have stayed empty for `seconds` (Azure's count includes messages in work)."""
    started, empty_since = time.monotonic(), None
    while time.monotonic() - started < limit:
        if _depth(settings) == 0:
            empty_since = empty_since or time.monotonic()
            if time.monotonic() - empty_since >= seconds:
                return
        else:
            empty_since = None
        time.sleep(0.2)
    raise RuntimeError(f"the queues were not empty after {limit:.0f} s")


def _inventory(tenant: BenchTenant) -> dict[str, int]:
    """Items on each side: an edit that arrived twice as a create would change these."""
    mailboxes = [*tenant.mailboxes(), SHARED_MAILBOX]
    return {
        "fno_activities": len(tenant.fno.all("Activities")),
        "fno_contact_persons": len(tenant.fno.all("ContactPersons")),
        "graph_events": sum(len(tenant.graph.events(m)) for m in tenant.mailboxes()),
        "graph_contacts": sum(
            len(contacts.list_contacts(tenant.graph, m, folder))
            for m in mailboxes
            for folder in (CONTACT_FOLDER, SHARED_FOLDER)
        ),
    }


def _writes(log: list[dict[str, Any]], key: str, graph: bool) -> int:
    """Successful writes to one item in a stand-in's request log (Graph: the id is a path segment)."""
    if graph:
        hits = [e for e in log if key in e.get("segments", ()) and e["path"] != "/$batch"]
    else:
        hits = [e for e in log if f"'{key}'" in e["path"]]
    return sum(1 for e in hits if e["method"] in WRITES and int(e["status"]) < 400)


def _graph_carriers(tenant: BenchTenant, mailbox: str, text: str) -> list[str]:
    """Every item of the mailbox (events, private-list contacts) carrying `text`: more than one is a
    duplicate."""
    found = [str(e["id"]) for e in tenant.graph.events(mailbox) if e.get("subject") == text]
    rows = contacts.list_contacts(tenant.graph, mailbox, CONTACT_FOLDER)
    return found + [str(c["id"]) for c in rows if c.get("jobTitle") == text]


def _shared_targets(tenant: BenchTenant, text: str) -> list[str]:
    rows = contacts.list_contacts(tenant.graph, SHARED_MAILBOX, SHARED_FOLDER)
    return [str(c["id"]) for c in rows if c.get("jobTitle") == text]


def check(
    tenant: BenchTenant, edits: list[Edit], marks: tuple[int, int], before: dict[str, int]
) -> list[str]:
    """Every edit arrived once: see the module's docstring. Returns what is wrong, per edit."""
    graph_log, fno_log = tenant.graph.request_log[marks[0] :], tenant.fno.request_log[marks[1] :]
    fno_index = [*tenant.fno.all("Activities"), *tenant.fno.all("ContactPersons")]
    found = []
    for edit in edits:
        name = f"edit {edit.n} ({edit.side} {edit.kind})"
        if edit.seen is None:
            found.append(f"{name}: never arrived")
            continue
        if edit.side == OUTLOOK:
            carriers = [
                str(r) for r in fno_index if edit.text in (r.get("Purpose"), r.get("EmploymentJobTitle"))
            ]
            targets = [(edit.target, False)]
            source = (edit.handle, True)
        else:
            carriers = _graph_carriers(tenant, edit.mailbox, edit.text)
            targets = [(edit.target, True)]
            if edit.kind == "contact":  # also on the shared list of its customer's sales district
                shared = _shared_targets(tenant, edit.text)
                carriers += shared
                targets += [(s, True) for s in shared]
            source = (edit.handle, False)
        expected = 2 if edit.side == FNO and edit.kind == "contact" else 1
        if len(carriers) != expected:
            found.append(f"{name}: on {len(carriers)} items, not {expected}")
        for key, graph in targets:
            count = _writes(graph_log if graph else fno_log, key, graph)
            if count != 1:
                found.append(f"{name}: its counterpart was written {count} times, not once")
        if _writes(graph_log if source[1] else fno_log, source[0], source[1]):
            found.append(f"{name}: the edited item itself was written back")
    after = _inventory(tenant)
    if after != before:
        found.append(f"items created or removed: {before} -> {after}")
    return found


def _env(settings_env: dict[str, str]) -> dict[str, str]:
    env = {**settings_env, "PYTHONPATH": str(ROOT)}
    env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
    return env


def run_mode(root: Path, mode: str, plan: Plan, connection_string: str) -> dict[str, Any]:
    """One run (`events` or `timer`): set-up (first sync and its echo), then the edits, then the check."""
    root.mkdir(parents=True, exist_ok=True)
    events = mode == "events"
    sides = (OUTLOOK, FNO) if not events or fno_events_available() else (OUTLOOK,)
    period = PRODUCTION_TIMER_SECONDS if events else plan.timer_seconds
    costs = CostModel()  # real time: 40 ms a call, the real limits and windows
    with ExitStack() as stack:
        tenant = stack.enter_context(bench_tenant(root, plan.shape, now=datetime.now(UTC)))
        tenant.set_costs(costs)
        tenant.graph.clock = tenant.fno.clock = lambda: datetime.now(UTC)
        tenant.environ.update(instances.product_settings(costs, shared=True))
        if events:
            url = stack.enter_context(webhook())
            tenant.environ["SYNC_NOTIFICATION_URL"] = url
            tenant.environ["SYNC_NOTIFICATION_SECRET"] = NOTIFICATION_SECRET
            if FNO in sides:
                tenant.environ["SYNC_FNO_EVENTS"] = "true"
                stack.enter_context(fno_data_events(tenant, url + FNO_EVENTS_ROUTE))
        settings = stack.enter_context(functions_path.app_settings(tenant, connection_string))
        asyncio.run(functions_path.deploy(settings))
        env = _env(dict(os.environ))  # the app settings app_settings() put into the environment
        stack.enter_context(workers(plan.workers, env, root, plan.worker_args))
        timer = Timer(period, env, root)
        set_up = time.monotonic()
        for _ in range(2):  # the first sync, then the cycle that sees its echo
            timer.fire()
            quiet(settings, seconds=plan.quiet_seconds)
        set_up = time.monotonic() - set_up
        subscriptions = len(book(tenant.graph).active())
        timer.starts.clear()
        timer.durations.clear()
        rng = random.Random(plan.seed)
        edits = choose(tenant, plan, rng, sides)
        before, marks = _inventory(tenant), tenant.mark()
        notify = graph_notifier(tenant, plan.graph_delay) if events else None
        begun = time.monotonic()
        with Watcher(tenant) as watcher, timer.running():
            for edit in edits:
                time.sleep(rng.expovariate(1 / plan.gap))
                apply(tenant, edit, notify)
                watcher.watch(edit)
            deadline = time.monotonic() + max(plan.arrival_limit, 2 * period + 60)
            while watcher.waiting() and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
        seconds = time.monotonic() - begun
        quiet(settings, seconds=plan.quiet_seconds)
        time.sleep(1.0)  # a last poll of anything written after the queues went quiet
        watcher.poll()
        problems = check(tenant, edits, marks, before)
        failures = asyncio.run(instances._failures(settings))
        poisoned = instances._poisoned(settings)
        deliveries = book(tenant.graph).deliveries
    return {
        "mode": mode,
        "timer_seconds": period,
        "set_up_seconds": round(set_up, 1),
        "edit_seconds": round(seconds, 1),
        "subscriptions": subscriptions,
        "notifications_delivered": sum(1 for d in deliveries if 200 <= d.status < 300),
        "timer_runs": len(timer.starts),
        "timer_run_seconds_mean": round(statistics.fmean(timer.durations), 2) if timer.durations else None,
        "timer_failures": timer.failures,
        "failures": failures,
        "poisoned": poisoned,
        "problems": problems,
        "directions": {side: _figures(edits, side, timer.starts, period) for side in sides},
    }


# ---- figures ------------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None, "max": None}
    return {
        "median": round(statistics.median(values), 2),
        "p95": round(percentile(values, 0.95), 2),
        "max": round(max(values), 2),
    }


def _figures(edits: list[Edit], side: str, starts: list[float], period: float) -> dict[str, Any]:
    mine = [e for e in edits if e.side == side]
    arrived = [e for e in mine if e.seconds is not None]
    result: dict[str, Any] = {
        "edits": len(mine),
        "arrived": len(arrived),
        "seconds": _summary([e.seconds for e in arrived if e.seconds is not None]),
        "by_kind": {
            kind: _summary([e.seconds for e in arrived if e.kind == kind and e.seconds is not None])
            for kind in KINDS
        },
    }
    if period < PRODUCTION_TIMER_SECONDS:
        result["at_production_schedule"] = projected(arrived, starts)
    return result


PHASES = 300  # phases of the production cycle an edit may fall on, for the projection


def projected(arrived: list[Edit], starts: list[float]) -> dict[str, Any]:
    """The timer-only figure at the production period. An edit waits for the next timer start, then takes
    what the cycle needs to carry it over (`after_timer_start`, measured here for the edits the next start
    caught). At the production period an edit falls on any phase of the 5 minutes alike, so the figure is
    a uniform wait over the period plus one of the measured times after the start: every pair of PHASES
    evenly spread phases and measured times counts once. (An edit made while a cycle's scan has not yet
    read its feed is caught by that cycle: a share of a few seconds in 300, left out.)"""
    waits, after = [], []
    for edit in arrived:
        assert edit.seen is not None
        start = next((s for s in starts if s >= edit.at), None)
        if start is None or start > edit.seen:
            continue  # caught by a cycle that had started before the edit
        waits.append(start - edit.at)
        after.append(edit.seen - start)
    step = PRODUCTION_TIMER_SECONDS / PHASES
    projected = [(j + 0.5) * step + a for j in range(PHASES) for a in after]
    return {
        "edits_counted": len(after),
        "wait_for_timer": _summary(waits),
        "after_timer_start": _summary(after),
        "seconds": _summary(projected),
    }


def run(root: Path, plan: Plan, connection_string: str) -> dict[str, Any]:
    """The runs of `plan.modes` on one Azurite; the JSON of `bench --latency`."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    runs = {mode: run_mode(root / mode, mode, plan, connection_string) for mode in plan.modes}
    return {
        "started": started,
        "plan": {
            **plan.__dict__,
            "shape": plan.shape.__dict__,
            "worker_args": list(plan.worker_args),
            "modes": list(plan.modes),
        },
        "fno_events_available": fno_events_available(),
        **runs,
    }


def rows(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(figure, measured, target, met) rows in the bench's table style."""
    out: list[tuple[str, str, str, bool | None]] = []
    target = f"< {TARGET_MEDIAN_SECONDS:g} s"
    for mode, side in PATHS:
        if mode not in result:
            continue
        name = _path_name(mode, side, result[mode]["timer_seconds"])
        figures = result[mode]["directions"].get(side)
        if figures is None:
            out.append((name, "not available", target if mode == "events" else "-", None))
            continue
        s = figures["seconds"]
        measured = f"{_s(s['median'])} / {_s(s['p95'])}"
        if mode == "events":
            met = s["median"] is not None and s["median"] < TARGET_MEDIAN_SECONDS
            out.append((name, measured, target, met and figures["arrived"] == figures["edits"]))
        else:
            out.append((name, measured, "-", figures["arrived"] == figures["edits"]))
            p = figures["at_production_schedule"]["seconds"]
            out.append(
                (
                    f"  ... at the production schedule (every {PRODUCTION_TIMER_SECONDS / 60:g} min)",
                    f"{_s(p['median'])} / {_s(p['p95'])}",
                    "-",
                    True,
                )
            )
    for mode in [m for m in ("events", "timer") if m in result]:
        r = result[mode]
        arrived = sum(d["arrived"] for d in r["directions"].values())
        edits = sum(d["edits"] for d in r["directions"].values())
        out.append(
            (
                f"  {mode} run: edits arrived, each once",
                f"{arrived} of {edits}, {len(r['problems'])} faults",
                "all, 0",
                arrived == edits and not r["problems"],
            )
        )
    return out


def _path_name(mode: str, side: str, period: float) -> str:
    label = PATHS[(mode, side)]
    way = "Outlook -> F&O" if side == OUTLOOK else "F&O -> Outlook"
    how = (
        ("notifications" if side == OUTLOOK else "data events")
        if mode == "events"
        else f"timer every {period:g} s"
    )
    return f"Latency {label}. {way}, {how}: median / p95"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def problems(result: dict[str, Any]) -> list[str]:
    found = []
    for mode in [m for m in ("events", "timer") if m in result]:
        r = result[mode]
        found += [f"latency {mode} run: {p}" for p in r["problems"]]
        if r["failures"] or r["poisoned"] or r["timer_failures"]:
            found.append(f"latency {mode} run: failures recorded, messages poisoned or a timer run failed")
        if mode == "events" and not r["subscriptions"]:
            found.append("latency events run: the planner made no subscriptions")
    return found


def with_edits(plan: Plan, edits: int) -> Plan:
    return replace(plan, edits=edits)
