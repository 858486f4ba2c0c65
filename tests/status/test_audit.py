"""`audit`: filters applied by the store on both back ends, retention in bounded batches, a readable table
and JSON; the command starts with the state settings alone."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync_core.cli import main
from sync_core.state.base import AuditEntry, StateStore
from sync_core.state.sqlite import SqliteStateStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _entry(
    days: float, kind: str = "appointment", mailbox: str = "alice@contoso.com", action: str = "update"
) -> AuditEntry:
    return AuditEntry(
        at=T0 + timedelta(days=days),
        kind=kind,
        mailbox=mailbox,
        action=action,
        fno_key="usmf|ACT-1",
        detail={"fieldsToFno": ["start", "end"], "reason": "update F&O"},
    )


async def _seed(store: StateStore) -> None:
    for day in range(10):
        await store.append_audit(_entry(day))
    await store.append_audit(_entry(3.5, kind="task"))
    await store.append_audit(_entry(4.5, mailbox="bob@contoso.com"))
    await store.append_audit(_entry(5.5, action="deletions_held"))


async def test_filters_combine_and_keep_newest_first(any_store: StateStore) -> None:
    await _seed(any_store)
    tasks = await any_store.list_audit(kind="task")
    assert [(e.kind, e.at) for e in tasks] == [("task", T0 + timedelta(days=3.5))]
    bob = await any_store.list_audit(mailbox="bob@contoso.com")
    assert [e.mailbox for e in bob] == ["bob@contoso.com"]
    held = await any_store.list_audit(action="deletions_held", mailbox="alice@contoso.com")
    assert [e.action for e in held] == ["deletions_held"]
    since = await any_store.list_audit(since=T0 + timedelta(days=7), kind="appointment")
    assert [e.at for e in since] == [T0 + timedelta(days=d) for d in (9, 8, 7)]  # `since` is inclusive
    limited = await any_store.list_audit(2, mailbox="alice@contoso.com")
    assert [e.at for e in limited] == [T0 + timedelta(days=9), T0 + timedelta(days=8)]
    assert await any_store.list_audit(kind="contact") == []


async def test_purge_removes_only_older_entries_a_batch_at_a_time(any_store: StateStore) -> None:
    await _seed(any_store)
    cutoff = T0 + timedelta(days=5)  # older: days 0-4 and the 3.5 and 4.5 entries: 7 entries
    assert await any_store.purge_audit(cutoff, batch=4) == 4
    assert await any_store.purge_audit(cutoff, batch=4) == 3
    assert await any_store.purge_audit(cutoff, batch=4) == 0
    left = await any_store.list_audit()
    assert min(e.at for e in left) == cutoff and len(left) == 6


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _sqlite_state(folder: Path) -> None:
    async def seed() -> None:
        store = SqliteStateStore(folder / "state.sqlite3")
        try:
            await _seed(store)
        finally:
            await store.close()

    asyncio.run(seed())


def test_audit_command_needs_only_the_state_folder(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _sqlite_state(bare_env / "state")
    monkeypatch.setenv("SYNC_STATE_DIR", str(bare_env / "state"))  # as the sandbox's hint says, nothing else
    code, out, err = _run(["audit", "--kind", "task"], capsys)
    assert (code, err) == (0, "")
    assert "task" in out and "alice@contoso.com" in out and "fieldsToFno: start, end" in out
    assert "{" not in out  # a table, not dict reprs
    code, out, _ = _run(["audit", "--json", "--action", "deletions_held", "--since", "2026-03-06"], capsys)
    rows = json.loads(out)
    assert code == 0 and [r["action"] for r in rows] == ["deletions_held"]
    assert rows[0]["detail"] == {"fieldsToFno": ["start", "end"], "reason": "update F&O"}
    code, out, _ = _run(["audit", "--json", "--since", "2026-03-09T00:00", "--limit", "5"], capsys)
    assert [r["at"][:10] for r in json.loads(out)] == ["2026-03-10", "2026-03-09"]


def test_audit_rejects_an_unreadable_since(bare_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["audit", "--since", "last tuesday"])
    assert exited.value.code == 2
    assert "give a date (2026-03-20), a time or an age (3d, 12h)" in capsys.readouterr().err


def test_a_state_folder_nothing_ran_in_is_named(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNC_STATE_DIR", str(bare_env / "typo"))
    code, out, err = _run(["audit"], capsys)
    assert code == 0 and "Nothing recorded" in out
    assert f"no state in {bare_env / 'typo'} yet" in err and "Traceback" not in err
    monkeypatch.setenv("SYNC_MAILBOXES", "alice@contoso.com")
    code, out, err = _run(["status"], capsys)
    assert code == 0 and "alice@contoso.com" in out and "never synced" in out  # before the first cycle
    assert not (bare_env / "typo").exists()  # a read-only command creates nothing
