"""What the sync state machines of every kind share (appointments, To Do tasks, private contacts).

One mailbox and its F&O worker on both stand-ins, run in process (httpx's ASGI transport, the SQLite store
in a temp folder), and a cycle runner with faults: queue messages delivered in random order, some twice,
and a crash at the n-th write of the cycle (Graph, F&O or the state store; before or after the write
lands). A crash raises in the worker handling the message, so the queue delivers the message again (the
in-process queue retries it up to SYNC_MAX_ATTEMPTS times within the cycle). Messages run one at a time, so
a run is a function of its steps (what Hypothesis needs to replay and shrink).

A kind's machine subclasses `PipelineMachine`: it says which kinds run, how the tenant looks to its users
(`check_converged`) and what counts as a deletion for the safety valve (`valve_snapshot`/`valve_deleted`),
and adds the users' rules of its side. The rules here (cycles with faults, quiescence, the valve's
operator, expired delta tokens, time passing) are the same for every kind.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from simulators.fno.app import create_fno_app
from simulators.fno.state import FnoState
from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from sync_core.auth import token_source_from_settings
from sync_core.d365.client import FnoClient
from sync_core.exchange.client import GraphClient
from sync_core.pipeline.runner import run_cycle
from sync_core.pipeline.valve import DeletionState, load_state, save_state, state_name
from sync_core.runtime.context import SyncContext
from sync_core.runtime.kind import Kind
from sync_core.runtime.queues import AnyMessage, InProcessQueues
from sync_core.runtime.report import CycleReport
from sync_core.settings import Settings, load_settings
from sync_core.state.base import ContactListEntry, Link, StateStore
from sync_core.state.sqlite import SqliteStateStore

TOKEN = "property-token"
MAILBOX = "alice@contoso.com"
WORKER = "000101"
COMPANY = "usmf"
CATEGORY = "D365 Sync"
START = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
GRAPH_URL = "http://127.0.0.1:9/v1.0"  # loopback: plain http allowed; never dialled (ASGI transport)
FNO_URL = "http://127.0.0.1:9"
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
MIN_ITEMS, MAX_SHARE = 3, 0.5
T = TypeVar("T")


class WorkerCrash(Exception):
    """The worker died at a write point (the queue delivers the message again)."""


@dataclass
class Faults:
    """What goes wrong in one cycle."""

    rng: random.Random
    duplicate: bool = False
    crash_at: int | None = None  # the n-th write of the cycle (all targets counted together)
    after: bool = False  # the write lands, then the worker dies
    writes: int = 0
    crashed: bool = False

    def point(self) -> bool:
        """True when the worker dies at this write."""
        self.writes += 1
        if self.crash_at is not None and not self.crashed and self.writes == self.crash_at:
            self.crashed = True
            return True
        return False


class FaultyTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: Any, faults: Faults) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._faults = faults

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in WRITES and self._faults.point():
            if self._faults.after:
                response = await self._inner.handle_async_request(request)
                await response.aread()
            raise WorkerCrash("injected crash at an outside write")
        return await self._inner.handle_async_request(request)


class CrashingStore(SqliteStateStore):
    """The SQLite store whose link writes (and contact list entries) are write points too."""

    faults: Faults

    async def save_link(self, link: Link) -> Link:
        saved: Link = await self._guarded(super().save_link(link))
        return saved

    async def delete_link(self, link: Link) -> None:
        await self._guarded(super().delete_link(link))

    async def save_contact_entry(self, entry: ContactListEntry) -> ContactListEntry:
        # Only the contact kinds write list entries: the other machines' write points are unchanged.
        saved: ContactListEntry = await self._guarded(super().save_contact_entry(entry))
        return saved

    async def _guarded(self, write: Any) -> Any:
        if self.faults.point():
            if self.faults.after:
                await write
            else:
                write.close()
            raise WorkerCrash("injected crash at a state write")
        return await write


class ShufflingQueues(InProcessQueues):
    """Delivers messages in random order, some of them twice (queues are at-least-once, unordered)."""

    def __init__(self, faults: Faults) -> None:
        super().__init__()
        self._faults = faults

    async def send(self, queue: str, messages: Any) -> None:
        batch: list[AnyMessage] = list(messages)
        if self._faults.duplicate:
            batch += [m for m in batch if self._faults.rng.random() < 0.3]
        self._faults.rng.shuffle(batch)
        await super().send(queue, batch)


@dataclass
class Expectation:
    side: str  # "fno" or "graph"
    value: str


@dataclass
class Model:
    # item id ("fno:<key>" or "graph:<id>") -> field -> edits in order since the last quiet check
    edits: dict[str, dict[str, list[Expectation]]] = field(default_factory=dict)


def base_settings(folder: Path, extra: Mapping[str, str]) -> Settings:
    return load_settings(
        {
            "D365_URL": FNO_URL,
            "GRAPH_URL": GRAPH_URL,
            "SYNC_AUTH": "static",
            "SYNC_STATIC_TOKEN": TOKEN,
            "SYNC_MAILBOXES": MAILBOX,
            "SYNC_COMPANY": COMPANY,
            "SYNC_CATEGORY": CATEGORY,
            "SYNC_STATE_DIR": str(folder),
            "SYNC_FNO_DELETE_CHECK_MINUTES": "0",
            "SYNC_DELETE_MIN_ITEMS": str(MIN_ITEMS),
            "SYNC_DELETE_MAX_SHARE": str(MAX_SHARE),
            "SYNC_MAX_ATTEMPTS": "3",
            # The in-memory stand-ins apply a create before answering: an unfinished create is visible at
            # once (no wait before creating again), and the work list retries at the next cycle.
            "SYNC_CREATE_OUTCOME_WAIT_SECONDS": "0",
            "SYNC_RETRY_MINUTES": "0",
            **extra,
        },
        local_settings=None,
    )


class PipelineMachine(RuleBasedStateMachine):
    """The tenant, the cycle runner with faults, quiescence and the rules every kind shares."""

    KIND = ""  # the kind whose links, valve and invariants the machine checks
    GRAPH_PAGE_SIZE = 3  # small pages: paging and repeated items

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.make_tenant()
        self.folder = Path(tempfile.mkdtemp(prefix="sync-sm-"))
        self.settings = base_settings(self.folder, self.extra_settings())
        self.model = Model()
        self.counter = 0
        self.approved = False

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def make_tenant(self) -> None:
        """Both stand-ins with the mailbox's user and its F&O worker (the memory machine has its own)."""
        self.graph = GraphState(token=TOKEN, page_size=self.GRAPH_PAGE_SIZE)
        self.fno = FnoState(token=TOKEN, default_company=COMPANY)
        self.graph.clock = lambda: self.now
        self.fno.clock = lambda: self.now
        self.graph.add_user(MAILBOX, "Alice", time_zone="W. Europe Standard Time")
        self.fno.add("Workers", {"PersonnelNumber": WORKER, "Name": "Alice", "PrimaryContactEmail": MAILBOX})

    # ---- what a kind's machine says --------------------------------------------------------------------
    def extra_settings(self) -> dict[str, str]:
        return {}

    def kinds(self) -> dict[str, Kind]:
        raise NotImplementedError

    def check_converged(self) -> None:
        raise NotImplementedError

    def valve_snapshot(self) -> Any:
        """What the valve check needs from before a cycle (compared by `valve_deleted` after it)."""
        raise NotImplementedError

    def valve_deleted(self, before: Any) -> int:
        """How many items the cycle deleted because their partner was deleted (what the valve counts)."""
        raise NotImplementedError

    # ---- running the pipeline -------------------------------------------------------------------------
    def context(
        self, store: CrashingStore, graph: GraphClient, fno: FnoClient, queues: ShufflingQueues
    ) -> SyncContext:
        """What one cycle runs with: the machine's settings, kinds and clock, these clients and queues."""
        return SyncContext(
            settings=self.settings,
            store=store,
            graph=graph,
            fno=fno,
            queues=queues,
            kinds=self.kinds(),
            clock=lambda: self.now,
        )

    def run(self, faults: Faults) -> CycleReport:
        return asyncio.run(self._run(faults))

    async def _run(self, faults: Faults) -> CycleReport:
        tokens = token_source_from_settings("static", TOKEN)
        store = CrashingStore(self.folder / "state.sqlite3")
        store.faults = faults
        queues = ShufflingQueues(faults)

        async def no_sleep(_seconds: float) -> None:
            return None

        graph = GraphClient(
            GRAPH_URL, tokens, transport=FaultyTransport(create_graph_app(self.graph), faults), sleep=no_sleep
        )
        fno = FnoClient(
            FNO_URL, tokens, transport=FaultyTransport(create_fno_app(self.fno), faults), sleep=no_sleep
        )
        ctx = self.context(store, graph, fno, queues)
        try:
            # One message at a time: the order is then the seeded shuffle's alone. Side by side, messages
            # interleave by real time (SQLite's thread, the limits gate's waits), so the same steps could
            # end differently and Hypothesis could neither replay nor shrink a failure. Races between
            # workers are the real-process crash tests' part (tests/chaos, tests/hostsim).
            return await run_cycle(ctx, queues, concurrency=1)
        finally:
            await graph.close()
            await fno.close()
            await store.close()

    def read_store(self, read: Callable[[StateStore], Awaitable[T]]) -> T:
        """`read` on the state store (a store of its own, closed after; the memory machine keeps one open)."""

        async def run() -> T:
            store = SqliteStateStore(self.folder / "state.sqlite3")
            try:
                return await read(store)
            finally:
                await store.close()

        return asyncio.run(run())

    def links(self) -> list[Link]:
        return self.read_store(lambda store: store.list_links(self.KIND, MAILBOX))

    def writes(self) -> tuple[int, int]:
        # A refused write (a conditional PATCH answered 412, or 404 for an item gone) changes nothing.
        graph = sum(r["method"] in WRITES and r["status"] < 400 for r in self.graph.request_log)
        fno = sum(r["method"] in WRITES and r["status"] < 400 for r in self.fno.request_log)
        return graph, fno

    def _tick(self) -> str:
        self.counter += 1
        self.now += timedelta(minutes=1)  # every user edit is later than the last: "newest" is well defined
        return f"v{self.counter}"

    def _record(self, item: str, fld: str, side: str, value: str) -> None:
        self.model.edits.setdefault(item, {}).setdefault(fld, []).append(Expectation(side, value))

    def _forget_pair(self, item: str) -> None:
        """A mark, unmark or delete changes what a pair is: earlier edits are no longer comparable."""
        self.model.edits.pop(item, None)
        for link in self.links():
            if item in (f"fno:{link.fno_key}", f"graph:{link.graph_id}"):
                self.model.edits.pop(f"fno:{link.fno_key}", None)
                self.model.edits.pop(f"graph:{link.graph_id}", None)

    # ---- rules every kind shares ----------------------------------------------------------------------
    @rule()
    def delta_token_expires(self) -> None:
        self.graph.expire_delta_tokens(MAILBOX)

    @rule(minutes=st.sampled_from([5, 60, 60 * 24]))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule()
    def operator_approves(self) -> None:
        """The operator approves every held valve of the machine's lists (`valves`)."""

        async def approve() -> bool:
            store = SqliteStateStore(self.folder / "state.sqlite3")
            try:
                ctx = SyncContext(
                    settings=self.settings,
                    store=store,
                    graph=None,  # type: ignore[arg-type]
                    fno=None,  # type: ignore[arg-type]
                    queues=InProcessQueues(),
                    kinds={},
                    clock=lambda: self.now,
                )
                approved = False
                for kind, mailbox in self.valves():
                    state, cursor = await load_state(ctx, kind, mailbox)
                    if state.held:
                        update = state.model_copy(update={"approved": True})
                        await save_state(ctx, kind, mailbox, update, cursor)
                        approved = True
                return approved
            finally:
                await store.close()

        self.approved = asyncio.run(approve()) or self.approved

    @rule(
        seed=st.integers(0, 2**16),
        duplicate=st.booleans(),
        crash_at=st.none() | st.integers(1, 12),
        after=st.booleans(),
    )
    def sync_cycle(self, seed: int, duplicate: bool, crash_at: int | None, after: bool) -> None:
        self._checked_cycle(Faults(random.Random(seed), duplicate, crash_at, after))

    def _checked_cycle(self, faults: Faults) -> CycleReport:
        links_before = [link for link in self.links() if not link.fno_key.startswith("pending:")]
        before = self.valve_snapshot()
        approved = self.approved
        held = self.held()
        report = self.run(faults)
        deleted = self.valve_deleted(before)
        if not approved:
            # The valve is never bypassed: while it holds, nothing is deleted; and no cycle deletes more
            # than it allows.
            assert not (held and deleted), f"{deleted} deleted while the valve held"
            too_many = deleted >= MIN_ITEMS and deleted > MAX_SHARE * max(len(links_before), 1)
            assert not too_many, (deleted, len(links_before))
        else:
            self.approved = False
        return report

    def valves(self) -> list[tuple[str, str]]:
        """The (kind, mailbox) whose safety valves the operator approves: the machine's own list."""
        return [(self.KIND, MAILBOX)]

    def held(self, kind: str | None = None, mailbox: str = MAILBOX) -> bool:
        """Whether a list's valve holds (the machine's own list unless named)."""

        async def read(store: StateStore) -> bool:
            cursor = await store.get_cursor(state_name(kind or self.KIND, mailbox))
            return cursor is not None and DeletionState.model_validate_json(cursor.value).held

        return self.read_store(read)

    # ---- quiescence and the invariants ----------------------------------------------------------------
    @rule()
    def settle(self) -> None:
        self.quiesce()

    def quiesce(self) -> None:
        """Clean cycles until one writes nothing on either side (the idle cycle), then the invariants."""
        for _ in range(8):
            before = self.writes()
            self._checked_cycle(Faults(random.Random(0)))
            if self.writes() == before:
                break
            self.now += timedelta(minutes=1)
        else:
            raise AssertionError("the sync did not quiet down in 8 clean cycles")
        self.check_converged()
        self.model.edits.clear()

    def _check_edits(self, link: Link, final: Mapping[str, str], suffixed: frozenset[str]) -> None:
        """No edit lost: a field edited on one side only ends with that side's last value; edited on both
        sides, with one of the two. Fields in `suffixed` are edited by appending a word to whatever the
        side had: only that word is compared."""
        for fld, value in final.items():
            edits = self.model.edits.get(f"fno:{link.fno_key}", {}).get(fld, []) + self.model.edits.get(
                f"graph:{link.graph_id}", {}
            ).get(fld, [])
            if not edits:
                continue
            last = {e.side: e.value for e in edits}
            if fld in suffixed:
                assert any(value.endswith(v.rsplit(" ", 1)[-1]) for v in last.values()), (fld, value, last)
            else:
                assert value in last.values(), (fld, value, last)
            if len(last) == 1:
                [only] = last.values()
                assert value.endswith(only.rsplit(" ", 1)[-1]) if fld in suffixed else value == only
