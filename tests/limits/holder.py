"""`python -m tests.limits.holder CONNECTION TABLE KEY LEASE`: an instance that takes all four units of a
mailbox through the limits table, says "held", and keeps them until it is killed."""

from __future__ import annotations

import asyncio
import sys

from sync_core.limits.gate import LimitGate
from sync_core.limits.ledger import Spec
from sync_core.limits.store import TableLimitStore

SPEC = Spec(capacity=4, limit=1000, window=600, block=10)


async def hold(connection_string: str, table: str, key: str, lease: float) -> None:
    gate = LimitGate(TableLimitStore.from_connection_string(connection_string, table), lease_seconds=lease)
    inside = 0
    forever = asyncio.Event()

    async def one() -> None:
        nonlocal inside
        async with gate.request(key, SPEC):
            inside += 1
            if inside == SPEC.capacity:
                print("held", flush=True)
            await forever.wait()

    await asyncio.gather(*(one() for _ in range(SPEC.capacity)))


if __name__ == "__main__":
    asyncio.run(hold(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
