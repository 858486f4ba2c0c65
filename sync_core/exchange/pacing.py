"""Per-mailbox pacing: stay under Graph's request rate instead of running into its 429s.

Exchange allows each app about 10,000 requests per 10 minutes per mailbox (every `$batch` item counts).
A client that sends as fast as it can fills that window in minutes and then gets mostly 429 answers; one
that keeps its own sliding window of what it sent gets none and still uses the whole allowance.

A request's slot is counted from when its answer arrived, not when it was sent: Graph counts arrival, which
is later, so a slot is never reused before Graph has freed it. Per process: the Functions keep one Graph
client per instance across its executions (sync_core/instance.py), so the window holds for all of them;
several instances on one mailbox each keep their own window (the retry on 429 keeps that correct)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


class MailboxPacer:
    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("the rate limit needs at least one request per a positive window")
        self._limit = limit
        self._window = window
        self._clock = clock
        self._sleep = sleep
        self._done: deque[tuple[float, int]] = deque()  # (answer time, weight) inside the window
        self._counted = 0  # weight in _done
        self._in_flight = 0
        self.waited = 0.0  # seconds spent waiting (benchmark and tests read it)

    @asynccontextmanager
    async def slot(self, weight: int = 1) -> AsyncIterator[None]:
        weight = max(1, min(weight, self._limit))
        await self._acquire(weight)
        try:
            yield
        finally:
            self._in_flight -= weight
            self._done.append((self._clock(), weight))
            self._counted += weight

    async def _acquire(self, weight: int) -> None:
        while True:
            now = self._clock()
            while self._done and self._done[0][0] + self._window <= now:
                self._counted -= self._done.popleft()[1]
            if self._counted + self._in_flight + weight <= self._limit:
                self._in_flight += weight
                return
            elif self._done:
                # A microsecond past the slot's end, so float rounding can never leave it just inside.
                delay = max(self._done[0][0] + self._window - now, 0.0) + 1e-6
            else:
                delay = self._window / self._limit  # the window is full of requests still in flight
            self.waited += delay
            await self._sleep(delay)
