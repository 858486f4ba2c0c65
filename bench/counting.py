"""Counts state-store calls (one Azure Table transaction each, near enough) and queued messages; and,
through the Functions path, the Storage requests each execution sends."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


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


@dataclass
class Tally:
    """Storage requests of one Functions execution (or of the host, outside any execution)."""

    label: str
    table: int = 0
    queue: int = 0
    create_table: int = 0
    calls: list[str] = field(default_factory=list)  # "GET syncLinks()" and the like, for the JSON


_execution: ContextVar[Tally | None] = ContextVar("bench_execution", default=None)


class StorageMeter:
    """Counts every HTTP request the Azure Storage SDKs send (AioHttpTransport: tables and queues), each
    against the execution whose task sent it (a context variable: tasks inherit it); requests outside an
    execution (the host's receives and deletes) go to `host`."""

    def __init__(self, table_endpoint: str, queue_endpoint: str) -> None:
        self._table = urlsplit(table_endpoint).netloc
        self._queue = urlsplit(queue_endpoint).netloc
        self.host = Tally("host")
        self.executions: list[Tally] = []
        self._original: Callable[..., Any] | None = None

    def __enter__(self) -> StorageMeter:
        from azure.core.pipeline.transport import AioHttpTransport

        original = self._original = AioHttpTransport.send
        meter = self

        async def send(transport: Any, request: Any, **kwargs: Any) -> Any:
            meter._count(request)
            return await original(transport, request, **kwargs)

        AioHttpTransport.send = send  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from azure.core.pipeline.transport import AioHttpTransport

        AioHttpTransport.send = self._original  # type: ignore[method-assign]

    def _count(self, request: Any) -> None:
        tally = _execution.get() or self.host
        url = urlsplit(str(request.url))
        if url.netloc == self._table:
            tally.table += 1
            tally.calls.append(f"{request.method} {url.path.rsplit('/', 1)[-1].split('(')[0]}")
            # Create Table: POST to the Tables resource (https://learn.microsoft.com/rest/api/storageservices/create-table).
            tally.create_table += request.method == "POST" and url.path.rstrip("/").endswith("/Tables")
        elif url.netloc == self._queue:
            tally.queue += 1

    async def execution(self, label: str, run: Callable[[], Awaitable[Any]]) -> Any:
        """Run one execution with its requests counted against it."""
        tally = Tally(label)
        self.executions.append(tally)
        token = _execution.set(tally)
        try:
            return await run()
        finally:
            _execution.reset(token)
