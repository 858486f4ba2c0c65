"""Where the limits' documents (ledger.py) live: one Azure Table entity per resource, written with its ETag
so that instances never overwrite each other's changes, or a dict in this process (the local runner
without Azure Storage, and the fallback while Storage does not answer)."""

from __future__ import annotations

import itertools
from typing import Any, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

_ROW = "state"


def limits_table(prefix: str) -> str:
    """The limits' table next to the state tables (infra/modules/storage.bicep creates it)."""
    return f"{prefix}Limits"


class Conflict(Exception):
    """The document changed since it was read (or was created meanwhile): read it again."""


class LimitStore(Protocol):
    shared: bool  # True: every instance sees the same documents

    async def load(self, key: str) -> tuple[str | None, str | None]:
        """The document and its ETag; (None, None) when there is none yet."""
        ...

    async def save(self, key: str, text: str, etag: str | None) -> str:
        """Write the document if unchanged since `etag` (None: only if absent); the new ETag. Raises
        Conflict otherwise."""
        ...

    async def close(self) -> None: ...


class MemoryLimitStore:
    """The documents in this process only: the limits hold for this process (per-instance limits)."""

    shared = False

    def __init__(self) -> None:
        self._docs: dict[str, tuple[str, str]] = {}
        self._versions = itertools.count(1)

    async def load(self, key: str) -> tuple[str | None, str | None]:
        found = self._docs.get(key)
        return (None, None) if found is None else found

    async def save(self, key: str, text: str, etag: str | None) -> str:
        current = self._docs.get(key)
        if (current[1] if current else None) != etag:
            raise Conflict(key)
        new = str(next(self._versions))
        self._docs[key] = (text, new)
        return new

    async def close(self) -> None:
        return None


class TableLimitStore:
    """`<prefix>Limits` in the app's Table Storage (created by the deployment; here too, if missing).
    Partition = resource key, one row: resources spread over partitions and never contend."""

    shared = True

    def __init__(self, service: TableServiceClient, table_name: str, credential: Any = None) -> None:
        self._service = service
        self._credential = credential  # owned: closed with the store
        self._table: TableClient = service.get_table_client(table_name)
        self._checked = False

    @classmethod
    def from_connection_string(cls, connection_string: str, table_name: str) -> TableLimitStore:
        return cls(TableServiceClient.from_connection_string(connection_string), table_name)

    @classmethod
    def from_endpoint(cls, endpoint: str, credential: Any, table_name: str) -> TableLimitStore:
        return cls(TableServiceClient(endpoint, credential=credential), table_name, credential)

    async def load(self, key: str) -> tuple[str | None, str | None]:
        try:
            entity = await self._table.get_entity(key, _ROW)
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) == "TableNotFound":
                await self._create_table()
            return None, None
        return str(entity.get("Doc", "")), str(entity.metadata["etag"])

    async def save(self, key: str, text: str, etag: str | None) -> str:
        entity = {"PartitionKey": key, "RowKey": _ROW, "Doc": text}
        try:
            if etag is None:
                meta = await self._table.create_entity(entity)
            else:
                meta = await self._table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                )
        except HttpResponseError as exc:
            if getattr(exc, "error_code", None) == "TableNotFound":
                await self._create_table()
                raise Conflict(key) from exc
            if exc.status_code in (404, 409, 412):
                raise Conflict(key) from exc
            raise
        return str(meta["etag"])

    async def _create_table(self) -> None:
        # An older deployment without the table: create it once rather than fail every execution.
        if not self._checked:
            self._checked = True
            await self._service.create_table_if_not_exists(self._table.table_name)

    async def close(self) -> None:
        await self._table.close()
        await self._service.close()
        closer = getattr(self._credential, "close", None)
        if closer is not None:
            await closer()
