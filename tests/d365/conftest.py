"""Fixtures for the F&O client tests: the F&O stand-in served over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from simulators.fno.app import create_fno_app
from simulators.fno.state import FnoState
from simulators.serve import BackgroundServer, serve
from sync_core.auth import StaticTokenSource
from sync_core.d365.client import FnoClient

TOKEN = "sandbox-token"


class RecordedSleeps:
    """Injected instead of asyncio.sleep: retries wait no wall-clock time, and the waits are checkable."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def fno_state() -> FnoState:
    return FnoState(token=TOKEN, default_company="usmf")


@pytest.fixture
def fno_server(fno_state: FnoState) -> Iterator[BackgroundServer]:
    with serve(create_fno_app(fno_state)) as server:
        yield server


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
async def fno(fno_server: BackgroundServer, sleeps: RecordedSleeps) -> AsyncIterator[FnoClient]:
    client = FnoClient(fno_server.url, StaticTokenSource(TOKEN), sleep=sleeps)
    try:
        yield client
    finally:
        await client.close()
