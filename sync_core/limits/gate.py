"""Each request to Graph or F&O passes the gate of its resource (one mailbox, or the app's F&O user): at most
`capacity` requests in flight and `limit` per window, counted across every instance of the app.

Why so, and what it costs (docs/performance.md, section 8): a worker process takes units of concurrency and
blocks of tokens from the resource's shared document (ledger.py, in Azure Table Storage) and spends them
locally, so Storage sees about three requests per resource each time a process starts and stops working on
it (take, renew every lease_seconds/3 while busy, give back when idle), plus one read and write per block
of tokens, never one per Graph or F&O request. A process that dies holding units loses them after
lease_seconds: nothing blocks a mailbox beyond that.

When Storage does not answer, the gate falls back to this process's own limits (the same steps on a
document in memory) with a warning, and tries Storage again after a while."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from .ledger import Doc, Outcome, Spec, fair_share, prune, step
from .store import Conflict, LimitStore, MemoryLimitStore

log = logging.getLogger(__name__)

DEGRADED_SECONDS = 60.0  # how long the gate keeps to per-process limits after Storage failed
LINGER_SECONDS = 1.0  # an idle resource's units are given back this long after its last request
POLL_SECONDS = (0.05, 0.5)  # first and longest wait between tries for a unit others hold
_ATTEMPTS = 10  # writes lost to other instances before a step gives up for now


def resource_key(service: str, name: str) -> str:
    """A Table key without the address itself: mailbox addresses stay out of the limits table."""
    digest = hashlib.sha256(name.casefold().encode("utf-8")).hexdigest()[:32]
    return f"{service}-{digest}"


@dataclass
class _Block:
    tokens: int
    bucket: int
    until: float


class _Resource:
    def __init__(self, key: str, spec: Spec, local_max: int) -> None:
        self.key = key
        self.spec = spec
        self.local_max = max(1, min(local_max, spec.capacity))
        self.units = 0  # units this process holds
        self.cap = self.local_max  # units it may use: its fair share while other instances wait
        self.in_flight = 0
        self.waiting = 0
        self.block: _Block | None = None
        self.store: LimitStore | None = None  # where `units` and `block` were taken
        self.cached: tuple[str | None, str | None] | None = None  # last document seen and its ETag
        self.lock = asyncio.Lock()
        self.freed = asyncio.Event()
        self.renewer: asyncio.Task[None] | None = None
        self.linger: asyncio.TimerHandle | None = None

    def usable(self) -> int:
        return min(self.units, self.cap)


class LimitGate:
    def __init__(
        self,
        shared: LimitStore | None,
        *,
        lease_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        holder: str | None = None,
    ) -> None:
        self._shared = shared
        self._local = MemoryLimitStore()
        self._ttl = lease_seconds
        self._clock = clock
        self.holder = holder or uuid.uuid4().hex[:16]
        self._resources: dict[str, _Resource] = {}
        self._degraded_until = 0.0
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.storage_steps = 0  # reads and writes of the shared documents (the benchmark reads it)
        self.waited = 0.0  # seconds requests waited for a unit or a token

    @property
    def shared(self) -> bool:
        return self._shared is not None and time.monotonic() >= self._degraded_until

    def _store(self) -> LimitStore:
        if self._shared is not None and time.monotonic() >= self._degraded_until:
            return self._shared
        return self._local

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        # The instance's own work, not the execution's that happened to start it (a fresh context).
        task = asyncio.get_running_loop().create_task(work, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @asynccontextmanager
    async def request(
        self, key: str, spec: Spec, *, weight: int = 1, local_max: int = 0
    ) -> AsyncIterator[None]:
        """One request to the resource `key`: a unit of concurrency while it runs and `weight` tokens."""
        r = self._resources.get(key)
        if r is None:
            r = self._resources[key] = _Resource(key, spec, local_max or spec.capacity)
        weight = max(1, min(weight, spec.limit))
        if r.linger is not None:
            r.linger.cancel()
            r.linger = None
        r.waiting += 1
        try:
            await self._admit(r, weight)
        finally:
            r.waiting -= 1
        r.in_flight += 1
        try:
            yield
        finally:
            r.in_flight -= 1
            r.freed.set()
            self._after(r)

    def _after(self, r: _Resource) -> None:
        if self._closed:
            return
        keep = max(r.cap, r.in_flight)
        if r.units > keep:
            # Other instances wait: hand over what is above this one's fair share now, not after a linger.
            self._spawn(self._release(r, keep))
        elif r.in_flight == 0 and r.waiting == 0 and r.units:
            r.linger = asyncio.get_running_loop().call_later(LINGER_SECONDS, self._idle, r)

    def _ready(self, r: _Resource, weight: int) -> bool:
        """Take a free unit and the tokens when this process has them; no Storage."""
        block = r.block
        if (
            r.in_flight >= r.usable()
            or block is None
            or block.tokens < weight
            or block.until <= self._clock()
        ):
            return False
        block.tokens -= weight
        return True

    async def _admit(self, r: _Resource, weight: int) -> None:
        poll = POLL_SECONDS[0]
        while True:
            if self._ready(r, weight):
                return
            hint = 0.0
            async with r.lock:
                if self._ready(r, weight):
                    return
                if r.in_flight < r.usable() or r.units < min(r.local_max, r.cap):
                    # Twice the demand: a process that gets busy asks Storage a few times, not once a unit.
                    target = max(r.units, min(r.local_max, r.cap, 2 * (r.in_flight + r.waiting)))
                    block = r.block
                    fresh = block is not None and block.until > self._clock() and block.tokens >= weight
                    outcome = await self._take(r, target, 0 if fresh else max(weight, r.spec.block))
                    if outcome is not None:
                        hint = outcome.wait
                    if self._ready(r, weight):
                        return
            r.freed.clear()
            delay = min(max(poll, hint), POLL_SECONDS[1]) * random.uniform(0.8, 1.2)
            self.waited += delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(r.freed.wait(), delay)
            poll = min(poll * 2, POLL_SECONDS[1])

    async def _take(self, r: _Resource, units: int, tokens: int) -> Outcome | None:
        """One step on the shared document (under r.lock): hold `units` and, if `tokens`, a new block."""
        store = self._store()
        if r.store is not store:
            self._forget(r)
            r.store = store
        block = r.block
        give_back = (block.bucket, block.tokens) if tokens and block is not None and block.tokens else None
        now = self._clock()

        def change(doc: Doc) -> Outcome:
            return step(
                doc,
                r.spec,
                self.holder,
                units=units,
                tokens=tokens,
                now=now,
                ttl=self._ttl,
                give_back=give_back,
            )

        outcome = await self._update(r, change)
        if outcome is None:
            return None
        r.units = outcome.units
        if tokens:
            r.block = _Block(outcome.tokens, outcome.bucket, now + self._ttl) if outcome.tokens else None
        self._keep_renewing(r)
        return outcome

    async def _update(self, r: _Resource, change: Callable[[Doc], Outcome]) -> Outcome | None:
        """Change the document and write it with its ETag, starting from the last one seen (a read only
        when it is stale). None when Storage failed (the gate then keeps per-process limits for a while)."""
        store = r.store or self._store()
        try:
            fresh = r.cached is None
            text, etag = r.cached if r.cached is not None else await self._load(store, r.key)
            for _ in range(_ATTEMPTS):
                doc = Doc.loads(text)
                outcome = change(doc)
                others = set(doc.waiting) - {self.holder}
                r.cap = min(r.local_max, fair_share(doc, r.spec)) if others else r.local_max
                new = doc.dumps()
                if new == text and fresh:
                    r.cached = (text, etag)
                    return outcome  # nothing to change (a waiter finding no free unit): a read only
                try:
                    if new == text:
                        raise Conflict(r.key)  # seen from the cache: read again before deciding
                    self.storage_steps += store.shared
                    etag = await store.save(r.key, new, etag)
                except Conflict:
                    text, etag = await self._load(store, r.key)
                    fresh = True
                    continue
                r.cached = (new, etag)
                return outcome
            return None
        except Exception as exc:  # any Storage failure: keep per-process limits instead
            if store is self._local:
                raise
            self._degrade(exc)
            self._forget(r)
            return None

    async def _load(self, store: LimitStore, key: str) -> tuple[str | None, str | None]:
        self.storage_steps += store.shared
        return await store.load(key)

    def _degrade(self, exc: Exception) -> None:
        if time.monotonic() >= self._degraded_until:
            log.warning(
                "limits across instances: Azure Storage did not answer (%s); this instance keeps Graph's and "
                "F&O's limits on its own for %.0f s, so several instances together may draw 429 answers",
                type(exc).__name__,
                DEGRADED_SECONDS,
            )
        self._degraded_until = time.monotonic() + DEGRADED_SECONDS

    def _forget(self, r: _Resource) -> None:
        """Units and tokens of another store are not this store's (they expire there by themselves)."""
        r.units = 0
        r.cap = r.local_max
        r.block = None
        r.cached = None
        r.store = None

    def _keep_renewing(self, r: _Resource) -> None:
        if r.units and r.store is not None and r.store.shared and (r.renewer is None or r.renewer.done()):
            r.renewer = asyncio.get_running_loop().create_task(self._renew(r), context=contextvars.Context())

    async def _renew(self, r: _Resource) -> None:
        """While units are held: renew their lease, and keep only a fair share while others wait."""
        while r.units and not self._closed:
            await asyncio.sleep(self._ttl / 3)
            async with r.lock:
                if not r.units or r.store is None or not r.store.shared:
                    return
                now = self._clock()

                def change(doc: Doc, now: float = now) -> Outcome:
                    prune(doc, r.spec, now, self._ttl)
                    keep = max(min(r.units, fair_share(doc, r.spec)), r.in_flight)
                    return step(
                        doc, r.spec, self.holder, units=keep, tokens=0, now=now, ttl=self._ttl, renew=True
                    )

                outcome = await self._update(r, change)
                if outcome is not None:
                    r.units = outcome.units
                    r.freed.set()

    def _idle(self, r: _Resource) -> None:
        r.linger = None
        if r.in_flight == 0 and r.waiting == 0 and r.units and not self._closed:
            self._spawn(self._release(r, 0))

    async def _release(self, r: _Resource, keep: int) -> None:
        """Keep only `keep` units (0: all given back, with the unspent tokens), never fewer than in use."""
        async with r.lock:
            keep = max(keep, r.in_flight)
            if keep >= r.units or r.store is None:
                return
            block, now = r.block, self._clock()
            give_back = None
            if not keep and block is not None and block.tokens:
                give_back = (block.bucket, block.tokens)

            def change(doc: Doc) -> Outcome:
                return step(
                    doc,
                    r.spec,
                    self.holder,
                    units=keep,
                    tokens=0,
                    now=now,
                    ttl=self._ttl,
                    give_back=give_back,
                )

            outcome = await self._update(r, change)
            r.units = min(r.units, outcome.units) if outcome is not None and keep else 0
            r.freed.set()
            if not r.units:
                r.block = None
                if r.renewer is not None and r.renewer is not asyncio.current_task():
                    r.renewer.cancel()
                r.renewer = None

    async def close(self) -> None:
        """Give back what this process holds (a crash leaves it to expire) and close the store."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for r in self._resources.values():
            if r.linger is not None:
                r.linger.cancel()
            if r.renewer is not None:
                r.renewer.cancel()
                r.renewer = None
            if r.units and r.in_flight == 0:
                with contextlib.suppress(Exception):
                    await self._release(r, 0)
        if self._shared is not None:
            with contextlib.suppress(Exception):
                await self._shared.close()
