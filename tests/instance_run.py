"""Run a Functions entry point the way a test calls it: on an event loop of its own, then close what the
instance kept open on that loop (sync_core/instance.py keeps its services for the worker's life; a test's
loop ends at once, and services left open on it are only reported as unclosed at exit)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from sync_core.instance import close_instance

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    async def body() -> T:
        try:
            return await coro
        finally:
            await close_instance()

    return asyncio.run(body())
