"""`status`: mailboxes in scope before their first cycle, never synced, skipped, paused, failing and held
deletions (never "ok"), the F&O service check's warning on top; it starts with the state settings alone, on
the embedded store and on Azure Table Storage (Azurite), and says what to do when the store cannot be read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError

from sync_core import cli_status
from sync_core.app import SERVICE_CHECK_CURSOR
from sync_core.cli import main
from sync_core.pipeline.valve import VALVE_ITEM, DeletionState, state_name
from sync_core.settings import StateSettings, load_state_settings
from sync_core.state.base import Cursor, MailboxRecord, StateStore
from sync_core.state.factory import open_state_only
from sync_core.state.tables import TableStateStore
from sync_core.status_report import FAILING, HELD, NEVER_SYNCED, OK, PAUSED, SKIPPED, collect_status

AT = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)


async def _tenant_state(store: StateStore) -> None:
    """alice syncs; bob's appointments are held by the valve; carol failed a task; dave has no worker;
    erin is paused; frank is in SYNC_MAILBOXES only (no record: never planned)."""
    synced = MailboxRecord(mailbox="?", status="ok", last_synced_at=AT, first_seen_at=AT)

    def worker(address: str, number: str) -> MailboxRecord:
        return synced.model_copy(update={"mailbox": address, "personnel_number": number})

    await store.upsert_mailbox(worker("alice@contoso.com", "000101"))
    await store.upsert_mailbox(worker("bob@contoso.com", "000102"))
    await store.upsert_mailbox(worker("carol@contoso.com", "000103"))
    await store.upsert_mailbox(
        MailboxRecord(mailbox="dave@contoso.com", status="skipped", reason="no F&O worker", first_seen_at=AT)
    )
    await store.upsert_mailbox(worker("erin@contoso.com", "000105"))
    await store.set_mailbox_pause(
        "erin@contoso.com", paused=True, by="ops@contoso.com", reason="leave", at=AT
    )
    held = DeletionState(
        held=True, reason="F&O no longer lists any of the 12 linked items", count=12, held_at=AT
    )
    await store.save_cursor(
        Cursor(name=state_name("appointment", "bob@contoso.com"), value=held.model_dump_json())
    )
    await store.record_failure("appointment", "bob@contoso.com", VALVE_ITEM, "safety valve: ...", AT)
    await store.record_failure(
        "task", "carol@contoso.com", "usmf|ACT-9", "F&O answered 400: bad", AT, message="{}", retry_at=AT
    )
    warning = {"checkedAt": AT.isoformat(), "warnings": ["ActivityParentLinks is not published"]}
    await store.save_cursor(Cursor(name=SERVICE_CHECK_CURSOR, value=json.dumps(warning)))


async def test_every_state_an_operator_must_see(any_store: StateStore) -> None:
    await _tenant_state(any_store)
    report = await collect_status(any_store, ("frank@contoso.com", "alice@contoso.com"))
    by = {m.mailbox: m for m in report.mailboxes}
    assert {a: m.state for a, m in by.items()} == {
        "alice@contoso.com": OK,
        "bob@contoso.com": HELD,  # synced a minute ago, yet never "ok" while deletions are held
        "carol@contoso.com": FAILING,
        "dave@contoso.com": SKIPPED,
        "erin@contoso.com": PAUSED,
        "frank@contoso.com": NEVER_SYNCED,  # in scope, no cycle has seen it yet
    }
    bob = {k.kind: k for k in by["bob@contoso.com"].kinds}
    assert bob["appointment"].held_deletions == 12 and bob["appointment"].last_error is None
    assert "approve-deletes --mailbox bob@contoso.com --kind appointment" in str(bob["appointment"].next_step)
    assert bob["task"].state == OK
    carol = {k.kind: k for k in by["carol@contoso.com"].kinds}["task"]
    assert (carol.waiting_for_retry, carol.last_error) == (1, "F&O answered 400: bad")
    erin = by["erin@contoso.com"]
    assert (erin.paused_by, erin.pause_reason) == ("ops@contoso.com", "leave")
    assert by["frank@contoso.com"].last_sync is None
    assert report.service_warnings == ["ActivityParentLinks is not published"]
    assert report.items_failed()


def _settings(tmp_path: Path, connection: str = "", prefix: str = "sync") -> StateSettings:
    return load_state_settings(
        {
            "SYNC_STATE_DIR": str(tmp_path / "state"),
            "AzureWebJobsStorage": connection,
            "SYNC_TABLE_PREFIX": prefix,
        },
        local_settings=None,
    )


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("tables", marks=pytest.mark.azurite)])
async def test_status_command_with_the_store_settings_only(
    backend: str,
    bare_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    unique_prefix: str,
) -> None:
    connection = request.getfixturevalue("azurite_connection_string") if backend == "tables" else ""
    settings = _settings(bare_env, connection, unique_prefix)
    store = open_state_only(settings)
    try:
        await _tenant_state(store)
    finally:
        await store.close()
    # No D365_URL, SYNC_COMPANY or mailbox group: the store's settings and, here, the mailboxes in scope.
    monkeypatch.setenv("SYNC_STATE_DIR", str(bare_env / "state"))
    monkeypatch.setenv("SYNC_TABLE_PREFIX", unique_prefix)
    monkeypatch.setenv("SYNC_MAILBOXES", "frank@contoso.com")
    if connection:
        monkeypatch.setenv("AzureWebJobsStorage", connection)
    code, out, err = await _in_thread(["status"], capsys)
    assert (code, err) == (1, "")  # carol's task failed and bob's deletions are held
    lines = out.splitlines()
    assert lines[0] == f"WARNING (checked {AT.isoformat()}): ActivityParentLinks is not published"
    bob = next(i for i, line in enumerate(lines) if "bob@contoso.com" in line)
    assert "deletions held" in lines[bob] and "ok" not in lines[bob].split()
    assert "appointment" in lines[bob + 1] and "12" in lines[bob + 1] and "approve-deletes" in lines[bob + 1]
    assert "never synced" in next(line for line in lines if "frank@contoso.com" in line)
    assert "paused by ops@contoso.com" in next(line for line in lines if "erin@contoso.com" in line)
    code, out, _ = await _in_thread(["status", "--json"], capsys)
    document: dict[str, Any] = json.loads(out)
    assert [m["mailbox"] for m in document["mailboxes"]][-1] == "frank@contoso.com"
    code, out, _ = await _in_thread(["failures", "--mailbox", "carol@contoso.com", "--json"], capsys)
    assert code == 1 and [f["item"] for f in json.loads(out)] == ["usmf|ACT-9"]


async def _in_thread(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    import asyncio

    return await asyncio.to_thread(_run, argv, capsys)


def test_storage_account_is_signed_in_as_the_operator(bare_env: Path) -> None:
    settings = load_state_settings(
        {"AzureWebJobsStorage": "UseDevelopmentStorage=true"},
        local_settings=None,
        storage_account="stsyncabc",
    )
    assert (settings.storage_account, settings.storage_connection) == ("stsyncabc", "")  # the flag wins
    store = open_state_only(settings)
    assert isinstance(store, TableStateStore)
    assert store.endpoint.startswith("https://stsyncabc.table.core.windows.net")


class _Refusing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def list_mailboxes(self) -> list[MailboxRecord]:
        raise self.error

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("error", "code", "says"),
    [
        (ClientAuthenticationError("no credential"), 2, "sign in with `az login`"),
        (OSError("Name or service not known"), 3, "is not reachable"),
    ],
)
def test_an_unusable_storage_account_is_a_message(
    error: Exception,
    code: int,
    says: str,
    bare_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cli_status, "open_state_only", lambda settings: _Refusing(error))
    got, out, err = _run(["--storage-account", "stsyncabc", "status"], capsys)
    assert (got, out) == (code, "")
    assert "storage account stsyncabc" in err and says in err and "Traceback" not in err


def test_a_bad_storage_account_name_is_a_configuration_error(
    bare_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["--storage-account", "Not_An_Account", "status"], capsys)
    assert code == 2 and err.startswith("configuration error: AzureWebJobsStorage__accountName")
