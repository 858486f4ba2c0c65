"""Scenario 8: idle cost and cost per change with change notifications on (issue 18 point 1;
sync_core/pipeline/poll_schedule.py, docs/notifications.md).

The tenant of scenario 1 with SYNC_NOTIFICATION_URL set: the planner makes the subscriptions on the Graph
stand-in, which validates the endpoint over HTTP and posts notifications to it. The endpoint here answers
the validation and keeps each POST; before each cycle the kept POSTs go, one batch each, through the product's
receiver (sync_core/notifications/receiver.py), which queues their scans, as the HTTP function does. The
stand-in sends notifications only when asked (simulators/graph/subscriptions.py): the benchmark asks for one
per Outlook edit of an event or contact (To Do has none) and, as Graph notifies an application of its own
writes too, one POST per mailbox and collection the sync wrote to in a cycle, naming every item whose
changeKey the cycle changed, each with its id and `@odata.etag` (Graph batches the notifications of a
burst; one POST per burst is what we assume). The receiver's echo filter (sync_core/notifications/echo.py)
skips the scans of those whose link holds that version.

Measured on simulated time (the tenant's clock moves 5 minutes a cycle, nothing waits): over
IDLE_CYCLES idle cycles, Graph requests and Functions executions per idle mailbox per cycle (the timer's
execution and the F&O feeds' scans are the tenant's, not a mailbox's, and are shown apart); then a few
cycles with a share of the items edited, for Graph requests per change (feeds and notifications' scans
included). Reconciliation at its default (SYNC_RECONCILE_HOURS 6), as the product runs."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bench.counting import CountingStore, counting_factory
from bench.steady import _call, _report_changes
from bench.tenant import BenchTenant, Shape, bench_tenant
from simulators.graph.subscriptions import book
from simulators.serve import serve
from sync_core import app as app_module
from sync_core.app import open_context
from sync_core.notifications.receiver import receive_changes, receive_lifecycle
from sync_core.pipeline.runner import run_cycle
from sync_core.runtime.messages import AnyMessage, ScanMailbox
from sync_core.runtime.queues import InProcessQueues
from sync_core.runtime.report import CycleReport
from sync_core.settings import load_settings

IDLE_CYCLES = 48  # 4 hours of 5-minute cycles: every safety-poll slot (240 minutes at the default) once
WARM_UP_CYCLES = 24  # two hours without changes before the idle cycles are counted
CHANGE_CYCLES = 6
SHARE = 0.02  # of the items edited before each change cycle (as scenario 1)
TARGET_IDLE = 0.3  # Graph requests and executions per idle mailbox per cycle (issue 18)
TARGET_PER_CHANGE = 1.3
# --quick's regression bound (deterministic: simulated time, seeded edits). Measured 1.896 (--quick) and 1.964
# (full) since To Do is polled often again only after a person's change and reads its list of lists every 6
# hours; before that 2.229 and 2.333 with the echo filter, 3.0 and 2.875 without it.
PER_CHANGE_CEILING = 2.0
SECRET = "bench-notification-secret-of-forty-characters"


class Inbox:
    """The notification endpoint: answers Graph's validation, keeps each POST for the next cycle."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.posts: list[tuple[str, list[dict[str, Any]]]] = []

    def app(self) -> Starlette:
        def route(what: str) -> Any:
            async def endpoint(request: Request) -> Response:
                token = request.query_params.get("validationToken")
                if token is not None:
                    return PlainTextResponse(token)  # the validation handshake (subscription-post.md)
                body = json.loads(await request.body())
                with self.lock:
                    self.posts.append((what, list(body.get("value") or [])))
                return Response(status_code=202)

            return endpoint

        return Starlette(
            routes=[
                Route("/api/graph/notifications", route("changes"), methods=["POST"]),
                Route("/api/graph/lifecycle", route("lifecycle"), methods=["POST"]),
            ]
        )

    def take(self) -> list[tuple[str, list[dict[str, Any]]]]:
        with self.lock:
            posts, self.posts = self.posts, []
        return posts


class RecordingQueues(InProcessQueues):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[AnyMessage] = []

    async def send(self, queue: str, messages: Sequence[AnyMessage]) -> None:
        self.sent.extend(messages)
        await super().send(queue, messages)


@contextmanager
def notified_tenant(state_dir: Path, shape: Shape) -> Iterator[tuple[BenchTenant, Inbox]]:
    inbox = Inbox()
    with bench_tenant(state_dir, shape) as tenant, serve(inbox.app()) as endpoint:
        tenant.environ.update(
            {
                "SYNC_NOTIFICATION_URL": endpoint.url,
                "SYNC_NOTIFICATION_SECRET": SECRET,
                "SYNC_RECONCILE_HOURS": "6",  # the product's default (scenario 1 switches it off)
            }
        )
        yield tenant, inbox


class Run:
    """Cycles of one tenant, with what each queued and the notifications delivered between them."""

    def __init__(self, tenant: BenchTenant, inbox: Inbox) -> None:
        self.tenant = tenant
        self.inbox = inbox
        self.messages: list[AnyMessage] = []
        self.deliveries = 0  # HTTP function executions: one per POST Graph sent
        self.store_calls = 0
        self.echoes = 0  # notified pairs the receiver did not scan: already synced (echo.py)
        self.edited: Counter[str] = Counter()  # edits by kind and side

    def cycle(self) -> CycleReport:
        self.tenant.advance()
        before = self._versions()
        report = asyncio.run(self._cycle())
        self._notify_own_writes(before)
        return report

    async def _cycle(self) -> CycleReport:
        settings = load_settings(self.tenant.environ, local_settings=None)
        queues = RecordingQueues()
        stores: list[CountingStore] = []
        original = app_module.open_store
        app_module.open_store = counting_factory(original, stores)  # type: ignore[assignment]
        try:
            async with open_context(settings, queues, clock=lambda: self.tenant.now) as ctx:
                for what, items in self.inbox.take():  # as the HTTP functions would have, meanwhile
                    self.deliveries += 1
                    outcome = await (receive_changes if what == "changes" else receive_lifecycle)(ctx, items)
                    self.echoes += outcome.echoes
                report = await run_cycle(ctx, queues)
        finally:
            app_module.open_store = original  # type: ignore[assignment]
        self.messages.extend(queues.sent)
        self.store_calls += sum(store.calls for store in stores)
        return report

    def _versions(self) -> dict[tuple[str, str], dict[str, str]]:
        subs = book(self.tenant.graph)
        return {
            (mb.user.mail, collection): subs.versions(mb.user.mail, collection)
            for mb in list(self.tenant.graph.mailboxes.values())
            for collection in ("events", "contacts")
        }

    def _notify_own_writes(self, before: dict[tuple[str, str], dict[str, str]]) -> None:
        """Graph notifies us of our own writes as of anyone's: per mailbox and collection the sync wrote to,
        one POST naming every item it created, changed or deleted, each with its id and etag."""
        for (mailbox, collection), after in sorted(self._versions().items()):
            old = before.get((mailbox, collection), {})
            changed = sorted(i for i, v in after.items() if old.get(i) != v)
            if changed:
                book(self.tenant.graph).notify_many(mailbox, collection, changed)
            for gone in sorted(set(old) - set(after)):
                self.notify(mailbox, collection, gone, "deleted")

    def notify(self, mailbox: str, collection: str, item_id: str, change: str = "updated") -> None:
        subs = book(self.tenant.graph)
        if collection != "contacts":
            subs.notify(mailbox, collection, item_id, change)
            return
        # A contact subscription listens to one folder: notify each the mailbox has (the private list's, or
        # the shared lists' of a shared mailbox), with the folder id its resource names.
        found = self.tenant.graph.find_mailbox(mailbox)
        user = found.user.id.lower() if found is not None else ""
        for sub in subs.active():
            if sub.user_id == user and sub.collection == "contacts" and "/contactFolders/" in sub.resource:
                folder = unquote(sub.resource.split("/contactFolders/", 1)[1].rsplit("/contacts", 1)[0])
                subs.notify(mailbox, collection, item_id, change, folder=folder)


def _edit_and_notify(run: Run, share: float) -> int:
    """Scenario 1's edits; each Outlook edit of an event or contact is notified (To Do sends none)."""
    tenant = run.tenant
    before = {(kind, mailbox, side, handle) for kind, mailbox, side, handle in tenant.items}
    state = tenant.rng.getstate()
    count = max(1, round(len(tenant.items) * share))
    chosen = tenant.rng.sample(tenant.items, count)
    tenant.rng.setstate(state)  # edit() draws the same sample
    edited = tenant.edit(share)
    assert edited == count and before
    for kind, mailbox, side, handle in chosen:
        run.edited[f"{kind} in {'Outlook' if side == 'graph' else 'F&O'}"] += 1
        if side == "graph" and kind == "appointment":
            run.notify(mailbox, "events", handle)
        elif side == "graph" and kind == "contact":
            run.notify(mailbox, "contacts", handle)
    return edited


def _window(run: Run, cycles: int, share: float) -> dict[str, Any]:
    tenant = run.tenant
    mark, messages, deliveries, store = tenant.mark(), len(run.messages), run.deliveries, run.store_calls
    echoes, edited = run.echoes, Counter(run.edited)
    edits = written = failures = 0
    for _ in range(cycles):
        if share:
            edits += _edit_and_notify(run, share)
        report = run.cycle()
        written += _report_changes(report)
        failures += len(report.failures)
    if share:  # the last edits' echo belongs to their cost
        for _ in range(2):
            report = run.cycle()
            written += _report_changes(report)
            failures += len(report.failures)
    counts = tenant.counts_since(mark)
    sent = run.messages[messages:]
    users = set(tenant.mailboxes())
    per_mailbox = [m for m in sent if getattr(m, "mailbox", None) in users]
    scans = Counter(m.kind for m in sent if isinstance(m, ScanMailbox) and m.mailbox in users)
    measured_cycles = cycles + (2 if share else 0)
    n_mailboxes = len(users)
    user_graph = sum(v for k, v in counts.per_mailbox_graph.items() if k in users)
    return {
        "cycles": measured_cycles,
        "mailboxes": n_mailboxes,
        "edits": edits,
        "propagated_writes": written,
        "failures": failures,
        "graph_requests": counts.graph_requests,
        "graph_requests_of_mailboxes": user_graph,
        "graph_requests_per_mailbox_and_cycle": round(user_graph / (n_mailboxes * measured_cycles), 3),
        # Executions a mailbox causes: its scans and pair jobs, and the notification deliveries.
        "executions_per_mailbox_and_cycle": round(
            (len(per_mailbox) + run.deliveries - deliveries) / (n_mailboxes * measured_cycles), 3
        ),
        "notification_deliveries": run.deliveries - deliveries,
        "echoes_not_scanned": run.echoes - echoes,
        "edits_by_kind_and_side": dict(sorted((run.edited - edited).items())),
        "mailbox_scans_by_kind": dict(sorted(scans.items())),
        # The tenant's own per cycle: the timer, the F&O feeds, the shared list's mailbox.
        "tenant_executions_per_cycle": round((1 + len(sent) - len(per_mailbox)) / measured_cycles, 2),
        "store_calls_per_cycle": round((run.store_calls - store) / measured_cycles, 1),
        "fno_requests_per_cycle": round(counts.fno_requests / measured_cycles, 2),
        "graph_by_call": dict(Counter(_call(e) for e in tenant.graph.request_log[mark[0] :]).most_common()),
        **({"graph_requests_per_change": round(counts.graph_requests / edits, 3)} if edits else {}),
    }


def run(state_dir: Path, shape: Shape) -> dict[str, Any]:
    """Set up (first sync, its echo, one cycle that reads every feed after its subscription exists), then
    IDLE_CYCLES idle cycles, then CHANGE_CYCLES with edits."""
    with notified_tenant(state_dir, shape) as (tenant, inbox):
        bench = Run(tenant, inbox)
        setup = [bench.cycle() for _ in range(3)]
        result: dict[str, Any] = {
            "shape": shape.__dict__,
            "setup_failures": sum(len(r.failures) for r in setup),
            "subscriptions": len(book(tenant.graph).active()),
            "safety_poll_minutes": load_settings(tenant.environ, local_settings=None).safety_poll_minutes,
            "todo_poll_max_minutes": load_settings(tenant.environ, local_settings=None).todo_poll_max_minutes,
        }
        # An idle mailbox is one nothing happened to for a while: the To Do back-off after the set-up's
        # changes belongs to their cost, not to idling.
        for _ in range(WARM_UP_CYCLES):
            bench.cycle()
        result["idle"] = _window(bench, IDLE_CYCLES, 0.0)
        result["changes"] = _window(bench, CHANGE_CYCLES, SHARE)
        c = result["changes"]
        c["changes_per_mailbox_and_cycle"] = round(c["edits"] / (c["mailboxes"] * CHANGE_CYCLES), 3)
    return result


def targets(
    result: dict[str, Any], cost: dict[str, Any] | None = None
) -> list[tuple[str, str, str, bool | None]]:
    idle, changes = result["idle"], result["changes"]
    monthly = (
        [
            (
                "  monthly estimate, notifications on (200 mailboxes)",
                f"${cost['usd_per_month']['total']}",
                "-",
                True,
            )
        ]
        if cost
        else []
    )
    shape = result["shape"]
    items = shape["appointments"] + shape["tasks"] + shape["contacts"]
    return [
        ("Notifications on, idle: Graph requests per mailbox+cycle", f"{idle['graph_requests_per_mailbox_and_cycle']}", f"<= {TARGET_IDLE}", idle["graph_requests_per_mailbox_and_cycle"] <= TARGET_IDLE),
        ("  executions per mailbox+cycle", f"{idle['executions_per_mailbox_and_cycle']}", f"<= {TARGET_IDLE}", idle["executions_per_mailbox_and_cycle"] <= TARGET_IDLE),
        ("  the tenant's own executions per cycle (timer, F&O feeds)", f"{idle['tenant_executions_per_cycle']}", "-", True),
        (f"Notifications on: Graph requests per change, {items} items/mailbox", f"{changes.get('graph_requests_per_change')}", f"<= {TARGET_PER_CHANGE}", (changes.get("graph_requests_per_change") or 99) <= TARGET_PER_CHANGE),
        ("  notified pairs not scanned: echoes of the sync's own writes", f"{changes.get('echoes_not_scanned')} of {changes.get('notification_deliveries')} POSTs", "-", True),
        *monthly,
    ]  # fmt: skip


def problems(result: dict[str, Any]) -> list[str]:
    """The deterministic counts --quick holds the product to (simulated time: no timing involved)."""
    found = []
    idle, changes = result["idle"], result["changes"]
    if result["setup_failures"] or idle["failures"] or changes["failures"]:
        found.append("notifications on: a cycle recorded failures")
    if idle["propagated_writes"]:
        found.append("notifications on: an idle cycle wrote something")
    if idle["graph_requests_per_mailbox_and_cycle"] > TARGET_IDLE:
        found.append(
            f"notifications on: an idle mailbox costs more than {TARGET_IDLE} Graph requests a cycle"
        )
    if idle["executions_per_mailbox_and_cycle"] > TARGET_IDLE:
        found.append(f"notifications on: an idle mailbox costs more than {TARGET_IDLE} executions a cycle")
    if changes["propagated_writes"] < changes["edits"]:
        found.append("notifications on: not every edit was propagated")
    if not changes.get("echoes_not_scanned"):
        found.append("notifications on: the webhook scanned every echo of the sync's own writes")
    if (changes.get("graph_requests_per_change") or 99) > PER_CHANGE_CEILING:
        found.append(f"notifications on: more than {PER_CHANGE_CEILING} Graph requests per change")
    return found
