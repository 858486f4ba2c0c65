"""Counts state-store calls (one Azure Table transaction each, near enough) and queued messages."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any


class CountingStore:
    """Wraps a StateStore; every awaited method call counts as one storage transaction."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(value) or name == "close":
            return value

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            result: Awaitable[Any] = value(*args, **kwargs)
            return await result

        return counted


def counting_factory(original: Callable[..., Any], sink: list[CountingStore]) -> Callable[..., Any]:
    def factory(*args: Any, **kwargs: Any) -> CountingStore:
        store = CountingStore(original(*args, **kwargs))
        sink.append(store)
        return store

    return factory
