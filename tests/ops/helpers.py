"""Running the operator commands against a sample tenant, and reading what they stored."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from sync_core import cli
from sync_core.app import open_store
from sync_core.state.base import StateStore
from tests.e2e.harness import Tenant

T = TypeVar("T")
ALICE, BOB, CAROL = "alice@contoso.com", "bob@contoso.com", "carol@contoso.com"


def command(tenant: Tenant, *argv: str) -> int:
    """`python -m sync_core ARGV` with the tenant's settings in the environment."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**tenant.environ, **tenant.extra_env}.items():
            patch.setenv(name, value)
        return cli.main(list(argv))


def read(tenant: Tenant, query: Callable[[StateStore], Awaitable[T]]) -> T:
    async def run() -> T:
        store = open_store(tenant.settings())
        try:
            return await query(store)
        finally:
            await store.close()

    return asyncio.run(run())
