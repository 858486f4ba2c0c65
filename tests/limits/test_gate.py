"""The gate keeps a resource's limits across instances: several gates (one per worker process) over one
shared store never have more than `capacity` requests in flight, nor more than `limit` in a window; units
of a crashed holder free themselves; without Storage each process keeps the limits on its own."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from sync_core.limits.gate import LimitGate, resource_key
from sync_core.limits.ledger import Doc, Spec
from sync_core.limits.store import MemoryLimitStore

KEY = resource_key("graph", "alice@contoso.com")


class SharedMemory(MemoryLimitStore):
    """One in-memory store seen by several gates: instances sharing Azure Storage, without Azurite."""

    shared = True

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0
        self.saves = 0

    async def load(self, key: str) -> tuple[str | None, str | None]:
        self.loads += 1
        await asyncio.sleep(0)  # a round trip: other tasks run meanwhile
        return await super().load(key)

    async def save(self, key: str, text: str, etag: str | None) -> str:
        self.saves += 1
        await asyncio.sleep(0)
        return await super().save(key, text, etag)


class Meter:
    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.starts: list[float] = []

    async def call(self, seconds: float = 0.002) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        self.starts.append(time.monotonic())
        await asyncio.sleep(seconds)
        self.now -= 1


async def _requests(gate: LimitGate, spec: Spec, meter: Meter, count: int) -> None:
    for _ in range(count):
        async with gate.request(KEY, spec):
            await meter.call()


def test_four_instances_never_exceed_four_in_flight_on_one_mailbox() -> None:
    async def run() -> tuple[Meter, SharedMemory]:
        store, meter = SharedMemory(), Meter()
        spec = Spec(capacity=4, limit=100_000, window=600, block=50)
        gates = [LimitGate(store, lease_seconds=5) for _ in range(4)]
        # Eight executions per instance, all on the same mailbox.
        await asyncio.gather(*(_requests(g, spec, meter, 10) for g in gates for _ in range(8)))
        for gate in gates:
            await gate.close()
        return meter, store

    meter, store = asyncio.run(run())
    assert meter.peak == 4
    assert len(meter.starts) == 320
    # Units and tokens in blocks: far fewer Storage steps than requests.
    assert store.saves < 320 / 2


def test_a_window_never_holds_more_than_the_limit_across_instances() -> None:
    spec = Spec(capacity=4, limit=30, window=0.6, block=5)

    async def run() -> Meter:
        store, meter = SharedMemory(), Meter()
        gates = [LimitGate(store, lease_seconds=0.2) for _ in range(3)]
        await asyncio.gather(*(_requests(g, spec, meter, 15) for g in gates for _ in range(2)))
        return meter

    meter = asyncio.run(run())
    starts = sorted(meter.starts)
    assert len(starts) == 90
    most = max(sum(1 for t in starts if s <= t < s + spec.window) for s in starts)
    assert most <= spec.limit


def test_a_crashed_instance_blocks_the_mailbox_only_until_its_lease_expires() -> None:
    spec = Spec(capacity=4, limit=1000, window=600, block=10)

    async def run() -> bool:
        store = SharedMemory()
        crashed = LimitGate(store, lease_seconds=30)
        entered = asyncio.Event()
        never = asyncio.Event()

        async def hold() -> None:
            async with crashed.request(KEY, spec):
                entered.set()
                await never.wait()

        holders = [asyncio.create_task(hold()) for _ in range(4)]
        for _ in range(100):
            await asyncio.sleep(0.01)
            if (r := crashed._resources.get(KEY)) is not None and r.in_flight == 4:
                break
        # The process dies: nothing of it runs any more, its units stay in the document.
        for task in holders:
            task.cancel()
        for r in crashed._resources.values():
            if r.renewer is not None:
                r.renewer.cancel()
            if r.linger is not None:
                r.linger.cancel()
        crashed._closed = True
        offset = 0.0
        other = LimitGate(store, lease_seconds=30, clock=lambda: time.time() + offset)
        blocked = asyncio.create_task(_requests(other, spec, Meter(), 1))
        await asyncio.sleep(0.3)
        still_blocked = not blocked.done()
        offset = 31.0  # past the crashed holder's lease
        await asyncio.wait_for(blocked, 5)
        await other.close()
        return still_blocked

    assert asyncio.run(run())


def test_a_busy_instance_keeps_only_its_fair_share_while_another_waits() -> None:
    spec = Spec(capacity=4, limit=100_000, window=600, block=100)

    async def run() -> list[int]:
        store, meter = SharedMemory(), Meter()
        first, second = LimitGate(store, lease_seconds=0.3), LimitGate(store, lease_seconds=0.3)
        busy = [asyncio.create_task(_requests(first, spec, meter, 60)) for _ in range(6)]
        await asyncio.sleep(0.05)
        await asyncio.wait_for(_requests(second, spec, meter, 3), 5)
        held = [first._resources[KEY].units]
        await asyncio.gather(*busy)
        await first.close()
        await second.close()
        held.append(meter.peak)
        return held

    units_of_first, peak = asyncio.run(run())
    assert units_of_first <= 3 and peak <= 4


def test_without_storage_each_process_keeps_the_limits_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(SharedMemory):
        async def load(self, key: str) -> tuple[str | None, str | None]:
            raise ConnectionError("storage unreachable")

    spec = Spec(capacity=4, limit=1000, window=600, block=10)

    async def run() -> Meter:
        meter = Meter()
        gate = LimitGate(Broken(), lease_seconds=5)
        await asyncio.gather(*(_requests(gate, spec, meter, 5) for _ in range(10)))
        await gate.close()
        return meter

    with caplog.at_level(logging.WARNING, logger="sync_core.limits.gate"):
        meter = asyncio.run(run())
    assert meter.peak == 4 and len(meter.starts) == 50
    warnings = [r.getMessage() for r in caplog.records if "limits across instances" in r.getMessage()]
    assert len(warnings) == 1 and "ConnectionError" in warnings[0]


def test_an_idle_mailbox_gives_its_units_and_unspent_tokens_back() -> None:
    spec = Spec(capacity=4, limit=1000, window=600, block=100)

    async def run() -> Doc:
        store = SharedMemory()
        gate = LimitGate(store, lease_seconds=30)
        await _requests(gate, spec, Meter(), 3)
        await gate.close()
        text, _ = await store.load(KEY)
        return Doc.loads(text)

    doc = asyncio.run(run())
    assert doc.holders == {} and sum(doc.grants.values()) == 3


def test_the_resource_key_carries_no_address() -> None:
    assert "alice" not in KEY and KEY.startswith("graph-")
