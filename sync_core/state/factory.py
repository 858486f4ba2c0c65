"""Pick the state back end from the storage settings (docs/spec.md §6: no Azure Storage -> embedded SQLite)."""

from __future__ import annotations

import pathlib
from typing import cast

from azure.core.credentials_async import AsyncTokenCredential

from sync_core.settings import StateSettings
from sync_core.state.base import StateStore
from sync_core.state.sqlite import SqliteStateStore
from sync_core.state.tables import TableStateStore

SQLITE_FILE = "state.sqlite3"


def open_state_store(
    *,
    connection_string: str | None,
    account_name: str | None,
    table_endpoint: str | None = None,
    credential: object | None = None,
    state_dir: pathlib.Path,
    table_prefix: str = "sync",
) -> StateStore:
    """The store for these settings; the caller owns it and must `await store.close()`.

    - `connection_string` (AzureWebJobsStorage): Azure Table Storage with that account key / SAS.
    - `account_name` (AzureWebJobsStorage__accountName): identity-based Table Storage at `table_endpoint`
      (AzureWebJobsStorage__tableServiceUri) or the public-cloud default; `credential` is an async
      azure-identity credential, DefaultAzureCredential when None (then closed with the store).
    - neither: SQLite file `state.sqlite3` in `state_dir` (created if missing).
    """
    if connection_string:
        return TableStateStore.from_connection_string(connection_string, prefix=table_prefix)
    if account_name:
        endpoint = table_endpoint or f"https://{account_name}.table.core.windows.net"
        if credential is None:
            from azure.identity.aio import DefaultAzureCredential

            return TableStateStore.from_endpoint(
                endpoint, DefaultAzureCredential(), prefix=table_prefix, owns_credential=True
            )
        return TableStateStore.from_endpoint(
            endpoint, cast(AsyncTokenCredential, credential), prefix=table_prefix
        )
    return SqliteStateStore(state_dir / SQLITE_FILE)


def open_state_only(settings: StateSettings) -> StateStore:
    """The store of the state-only settings (read-only and operator commands). With an account name it signs
    in as whoever runs the command (DefaultAzureCredential: Azure CLI, azd, Visual Studio Code, environment),
    who needs Storage Table Data Contributor on the account (infra: `operatorsGroupId`)."""
    return open_state_store(
        connection_string=settings.storage_connection or None,
        account_name=settings.storage_account or None,
        state_dir=settings.state_dir,
        table_prefix=settings.table_prefix,
    )
