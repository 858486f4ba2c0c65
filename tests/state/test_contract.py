"""One contract suite for every StateStore back end: SQLite (tmp_path) and Azure Tables (Azurite)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sync_core.state.base import (
    AuditEntry,
    ConcurrencyError,
    Cursor,
    Link,
    MailboxRecord,
    StateStore,
)
from sync_core.state.sqlite import SqliteStateStore
from sync_core.state.tables import TableStateStore

Opener = Callable[[], StateStore]

T0 = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
HOSTILE_IDS = [
    "AAMkAD/+abc==",
    "a/b\\c#d?e+f=g'h%i&j*k|l~m n",
    "%2F",  # must not collide with "/"
    "/",
    "Zürich ☃ 日本語 𝄞 \u200b",
    "ctl\x00\x01\x1f\x7f\x85\x9fend",
    "'; DROP TABLE links; --",
    "AQMkADAwATM0MDAAMS1iNTcwLWI2NTEtMDACLTAwCgBGAAAD" * 10 + "/+=" * 10,  # 510 characters
    "é" * 500,  # escapes to 3000 characters: beyond one key's budget
]


@pytest.fixture(params=["sqlite", pytest.param("tables", marks=pytest.mark.azurite)])
async def open_store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_prefix: str
) -> AsyncIterator[Opener]:
    """Opens stores on ONE shared back end (so two openers behave like two workers)."""
    opened: list[StateStore] = []
    connection_string = (
        request.getfixturevalue("azurite_connection_string") if request.param == "tables" else ""
    )

    def _open() -> StateStore:
        store: StateStore
        if request.param == "sqlite":
            store = SqliteStateStore(tmp_path / "state" / "state.sqlite3")
        else:
            store = TableStateStore.from_connection_string(connection_string, prefix=unique_prefix)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        await store.close()


@pytest.fixture
def store(open_store: Opener) -> StateStore:
    return open_store()


def make_link(fno_key: str = "usmf|ACT-1", graph_id: str = "AAMk/1+=", **extra: Any) -> Link:
    fields: dict[str, Any] = {
        "kind": "appointment",
        "mailbox": "alice@contoso.com",
        "fno_key": fno_key,
        "graph_id": graph_id,
        "fno_version": "2025-03-01T09:30:15Z",
        "graph_version": "ck1",
        "snapshot": {"subject": "x", "attendees": ["a", "b"], "n": 1, "nested": {"ok": True, "none": None}},
        "snapshot_hash": "h1",
        "synced_at": T0,
    }
    fields.update(extra)
    return Link(**fields)


def same(a: Any, b: Any) -> bool:
    """Equal apart from the etag."""
    return bool(a.model_dump(exclude={"etag"}) == b.model_dump(exclude={"etag"}))


async def one_wins(*writes: Awaitable[Any]) -> list[Any]:
    results = await asyncio.gather(*writes, return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ConcurrencyError) for r in losers), results
    return winners


# -- links -------------------------------------------------------------------------------------------


async def test_link_crud(store: StateStore) -> None:
    link = make_link()
    assert await store.get_link_by_fno(link.kind, link.mailbox, link.fno_key) is None

    saved = await store.save_link(link)
    assert saved.etag and same(saved, link)
    by_fno = await store.get_link_by_fno(link.kind, link.mailbox, link.fno_key)
    by_graph = await store.get_link_by_graph(link.kind, link.mailbox, link.graph_id)
    assert by_fno == saved and by_graph == saved

    changed = saved.model_copy(update={"graph_version": "ck2", "active": False, "snapshot": {"subject": "y"}})
    replaced = await store.save_link(changed)
    assert replaced.etag not in (None, saved.etag) and same(replaced, changed)
    assert await store.get_link_by_fno(link.kind, link.mailbox, link.fno_key) == replaced
    assert await store.list_links(link.kind, link.mailbox) == [replaced]

    await store.delete_link(replaced)
    assert await store.get_link_by_fno(link.kind, link.mailbox, link.fno_key) is None
    assert await store.get_link_by_graph(link.kind, link.mailbox, link.graph_id) is None
    assert await store.list_links(link.kind, link.mailbox) == []
    # Both ids are free again.
    assert (await store.save_link(link)).etag


async def test_duplicate_insert_is_rejected_and_leaves_no_trace(store: StateStore) -> None:
    original = await store.save_link(make_link("F1", "G1"))
    with pytest.raises(ConcurrencyError):
        await store.save_link(make_link("F1", "G2"))
    with pytest.raises(ConcurrencyError):
        await store.save_link(make_link("F2", "G1"))
    # The failed inserts indexed nothing: their other id is still free and the original is intact.
    assert await store.get_link_by_graph("appointment", "alice@contoso.com", "G2") is None
    assert await store.get_link_by_fno("appointment", "alice@contoso.com", "F2") is None
    assert await store.list_links("appointment", "alice@contoso.com") == [original]


async def test_stale_etag_update_and_delete_fail(store: StateStore) -> None:
    first = await store.save_link(make_link())
    second = await store.save_link(first.model_copy(update={"graph_version": "ck2"}))
    with pytest.raises(ConcurrencyError):
        await store.save_link(first.model_copy(update={"graph_version": "ck3"}))
    with pytest.raises(ConcurrencyError):
        await store.delete_link(first)
    with pytest.raises(ConcurrencyError):
        await store.save_link(first.model_copy(update={"etag": "not-a-real-etag"}))
    await store.delete_link(second)
    with pytest.raises(ConcurrencyError):
        await store.delete_link(second)
    with pytest.raises(ConcurrencyError):
        await store.save_link(second)
    assert await store.list_links("appointment", "alice@contoso.com") == []


async def test_link_cannot_change_kind_or_mailbox(store: StateStore) -> None:
    saved = await store.save_link(make_link())
    with pytest.raises(ConcurrencyError):
        await store.save_link(saved.model_copy(update={"mailbox": "bob@contoso.com"}))
    with pytest.raises(ConcurrencyError):
        await store.save_link(saved.model_copy(update={"kind": "task"}))
    assert await store.get_link_by_fno("appointment", "alice@contoso.com", saved.fno_key) == saved


async def test_two_writers_with_the_same_etag_exactly_one_wins(open_store: Opener) -> None:
    worker_a, worker_b = open_store(), open_store()
    saved = await worker_a.save_link(make_link())
    read_a = await worker_a.get_link_by_fno(saved.kind, saved.mailbox, saved.fno_key)
    read_b = await worker_b.get_link_by_fno(saved.kind, saved.mailbox, saved.fno_key)
    assert read_a is not None and read_b is not None
    [winner] = await one_wins(
        worker_a.save_link(read_a.model_copy(update={"graph_version": "by-a"})),
        worker_b.save_link(read_b.model_copy(update={"graph_version": "by-b"})),
    )
    assert await worker_b.get_link_by_fno(saved.kind, saved.mailbox, saved.fno_key) == winner

    # Racing a delete against an update: still exactly one.
    [_] = await one_wins(worker_a.delete_link(winner), worker_b.save_link(winner))


async def test_two_writers_inserting_the_same_pair_exactly_one_wins(open_store: Opener) -> None:
    worker_a, worker_b = open_store(), open_store()
    [winner] = await one_wins(worker_a.save_link(make_link()), worker_b.save_link(make_link()))
    assert await worker_b.list_links("appointment", "alice@contoso.com") == [winner]


async def test_moving_graph_id_moves_the_index(store: StateStore) -> None:
    saved = await store.save_link(make_link("F1", "G-old"))
    moved = await store.save_link(saved.model_copy(update={"graph_id": "G-new"}))
    kind, mailbox = saved.kind, saved.mailbox
    assert await store.get_link_by_graph(kind, mailbox, "G-old") is None
    assert await store.get_link_by_graph(kind, mailbox, "G-new") == moved
    assert await store.get_link_by_fno(kind, mailbox, "F1") == moved

    both = await store.save_link(moved.model_copy(update={"graph_id": "G-3", "fno_key": "F-3"}))
    assert await store.get_link_by_fno(kind, mailbox, "F1") is None
    assert await store.get_link_by_graph(kind, mailbox, "G-new") is None
    assert await store.get_link_by_fno(kind, mailbox, "F-3") == both
    assert await store.get_link_by_graph(kind, mailbox, "G-3") == both
    # The old ids can be taken by another link now.
    other = await store.save_link(make_link("F1", "G-old"))
    assert await store.get_link_by_graph(kind, mailbox, "G-old") == other


async def test_moving_onto_an_id_taken_by_another_link_fails_atomically(store: StateStore) -> None:
    a = await store.save_link(make_link("FA", "GA"))
    b = await store.save_link(make_link("FB", "GB"))
    with pytest.raises(ConcurrencyError):
        await store.save_link(a.model_copy(update={"graph_id": "GB", "graph_version": "x"}))
    with pytest.raises(ConcurrencyError):
        await store.save_link(a.model_copy(update={"fno_key": "FNEW", "graph_id": "GB"}))
    kind, mailbox = a.kind, a.mailbox
    assert await store.get_link_by_graph(kind, mailbox, "GA") == a
    assert await store.get_link_by_graph(kind, mailbox, "GB") == b
    assert await store.get_link_by_fno(kind, mailbox, "FNEW") is None
    # `a` was not modified, so its etag still works.
    assert (await store.save_link(a.model_copy(update={"graph_version": "y"}))).graph_version == "y"


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_hostile_ids_round_trip(store: StateStore, hostile: str) -> None:
    mailbox = "o'brien+x/y@contoso.com"
    link = make_link(fno_key=hostile, graph_id=hostile + "#g", mailbox=mailbox, kind="k/" + hostile[:20])
    saved = await store.save_link(link)
    assert same(saved, link)
    assert await store.get_link_by_fno(link.kind, mailbox, hostile) == saved
    assert await store.get_link_by_graph(link.kind, mailbox, hostile + "#g") == saved
    assert await store.get_link_by_fno(link.kind, mailbox, hostile + "x") is None
    assert await store.list_links(link.kind, mailbox) == [saved]
    moved = await store.save_link(saved.model_copy(update={"graph_id": "new/" + hostile}))
    assert await store.get_link_by_graph(link.kind, mailbox, "new/" + hostile) == moved
    await store.delete_link(moved)
    assert await store.list_links(link.kind, mailbox) == []

    cursor = await store.save_cursor(Cursor(name=f"graph:events:{hostile}", value=hostile))
    assert await store.get_cursor(f"graph:events:{hostile}") == cursor
    record = await store.upsert_mailbox(MailboxRecord(mailbox=hostile, reason=hostile))
    assert await store.get_mailbox(hostile) == record
    failure = await store.record_failure(link.kind, mailbox, hostile, hostile, T0)
    assert await store.list_failures() == [failure]


async def test_hostile_ids_never_collide(store: StateStore) -> None:
    saved = [await store.save_link(make_link(f"F{h}", f"G{h}")) for h in [*HOSTILE_IDS, "abc", "ABC"]]
    for link in saved:
        assert await store.get_link_by_fno(link.kind, link.mailbox, link.fno_key) == link
        assert await store.get_link_by_graph(link.kind, link.mailbox, link.graph_id) == link
    assert len(await store.list_links("appointment", "alice@contoso.com")) == len(saved)


async def test_large_snapshot_round_trips(store: StateStore) -> None:
    rng = random.Random(20250301)
    # Random text compresses poorly, so this spans several 64 KiB properties in Table Storage.
    snapshot = {
        "body": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(250_000)),
        "attendees": [{"email": f"user{i}@contoso.com", "type": "required"} for i in range(300)],
        "unicode": "日本語 𝄞 \x00 \u2028",
    }
    saved = await store.save_link(make_link(snapshot=snapshot))
    read = await store.get_link_by_graph(saved.kind, saved.mailbox, saved.graph_id)
    assert read is not None and read.snapshot == snapshot
    smaller = await store.save_link(read.model_copy(update={"snapshot": {"body": "short"}}))
    assert (await store.list_links(saved.kind, saved.mailbox)) == [smaller]


async def test_list_links_is_per_kind_and_mailbox(store: StateStore) -> None:
    in_scope = await store.save_link(make_link("F1", "G1"))
    await store.save_link(make_link("F1", "G1", mailbox="bob@contoso.com"))
    await store.save_link(make_link("F1", "G1", kind="task"))
    # Partitions built from joined parts must not run into each other.
    await store.save_link(make_link("F1", "G1", kind="x|y", mailbox="z"))
    await store.save_link(make_link("F1", "G1", kind="x", mailbox="y|z"))
    assert await store.list_links("appointment", "alice@contoso.com") == [in_scope]
    assert len(await store.list_links("x|y", "z")) == 1
    assert len(await store.list_links("x", "y|z")) == 1
    assert await store.list_links("appointment", "nobody@contoso.com") == []
    assert await store.get_link_by_fno("contact", "alice@contoso.com", "F1") is None


# -- cursors, mailboxes --------------------------------------------------------------------------------


async def test_cursor_crud_and_etags(store: StateStore) -> None:
    name = "graph:events:alice@contoso.com"
    assert await store.get_cursor(name) is None
    first = await store.save_cursor(
        Cursor(name=name, value="https://graph/delta?$deltatoken=a/b+c=", updated_at=T0)
    )
    assert first.etag and await store.get_cursor(name) == first
    with pytest.raises(ConcurrencyError):
        await store.save_cursor(Cursor(name=name, value="other"))
    second = await store.save_cursor(first.model_copy(update={"value": "v2" * 2000}))
    assert second.etag != first.etag and await store.get_cursor(name) == second
    with pytest.raises(ConcurrencyError):
        await store.save_cursor(first.model_copy(update={"value": "stale"}))
    await store.delete_cursor(name)
    assert await store.get_cursor(name) is None
    await store.delete_cursor(name)  # deleting a missing cursor is fine
    with pytest.raises(ConcurrencyError):
        await store.save_cursor(second)


async def test_mailbox_registry_last_write_wins(store: StateStore) -> None:
    assert await store.get_mailbox("alice@contoso.com") is None
    alice = MailboxRecord(
        mailbox="alice@contoso.com", user_id="u1", time_zone="Europe/Paris", last_synced_at=T0
    )
    saved = await store.upsert_mailbox(alice)
    assert saved.etag and same(saved, alice)
    skipped = await store.upsert_mailbox(
        alice.model_copy(update={"status": "skipped", "reason": "no worker"})
    )
    assert (await store.get_mailbox("alice@contoso.com")) == skipped
    bob = await store.upsert_mailbox(MailboxRecord(mailbox="bob@contoso.com"))
    assert await store.list_mailboxes() == [skipped, bob]


async def test_datetimes_keep_offset_and_microseconds(store: StateStore) -> None:
    at = datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-7, minutes=-30)))
    saved = await store.save_link(make_link(synced_at=at))
    read = await store.get_link_by_fno(saved.kind, saved.mailbox, saved.fno_key)
    assert read is not None and read.synced_at == at and read.synced_at.utcoffset() == at.utcoffset()


# -- audit, failures ---------------------------------------------------------------------------------


async def test_audit_is_newest_first(store: StateStore) -> None:
    assert await store.list_audit() == []
    times = [T0 + timedelta(days=d, microseconds=m) for d, m in [(0, 5), (2, 0), (0, 1), (1, 0), (-400, 0)]]
    times.append(datetime(2025, 3, 3, 2, 0, tzinfo=timezone(timedelta(hours=5))))  # 2025-03-02 21:00 UTC
    entries = [
        AuditEntry(
            at=at, kind="task", mailbox="a@x", fno_key=f"F{i}", action="created-in-exchange", detail={"i": i}
        )
        for i, at in enumerate(times)
    ]
    for entry in entries:
        await store.append_audit(entry)
    listed = await store.list_audit()
    expected = sorted(entries, key=lambda e: e.at, reverse=True)
    assert [e.fno_key for e in listed] == [e.fno_key for e in expected]
    assert all(same(a, b) for a, b in zip(listed, expected, strict=True))
    assert [e.fno_key for e in await store.list_audit(limit=2)] == [e.fno_key for e in expected[:2]]
    assert await store.list_audit(limit=0) == []


async def test_audit_latency_and_cycle_round_trip(store: StateStore) -> None:
    timed = AuditEntry(
        at=T0, kind="task", mailbox="a@x", action="update", latency_s=312.25, cycle_id="0f3c9a" * 5
    )
    zero = AuditEntry(
        at=T0 + timedelta(seconds=1), kind="task", mailbox="a@x", action="update", latency_s=0.0
    )
    unknown = AuditEntry(at=T0 + timedelta(seconds=2), kind="task", mailbox="a@x", action="unlink")
    for entry in (timed, zero, unknown):
        await store.append_audit(entry)
    listed = {e.action + str(e.at): e for e in await store.list_audit()}
    got = [listed[e.action + str(e.at)] for e in (timed, zero, unknown)]
    assert [(e.latency_s, e.cycle_id) for e in got] == [(312.25, "0f3c9a" * 5), (0.0, ""), (None, "")]


def test_audit_entries_written_before_latency_still_load() -> None:
    old = '{"at": "2025-03-02T10:00:00Z", "kind": "task", "mailbox": "a@x", "action": "update", "detail": {}}'
    entry = AuditEntry.model_validate_json(old)
    assert (entry.latency_s, entry.cycle_id) == (None, "")


async def test_failure_bump_semantics(store: StateStore) -> None:
    first = await store.record_failure("task", "a@x", "F1", "F&O said 400", T0)
    assert (first.attempts, first.first_at, first.last_at, first.reason) == (1, T0, T0, "F&O said 400")
    later = T0 + timedelta(minutes=5)
    bumped = await store.record_failure("task", "a@x", "F1", "F&O said 500", later)
    assert (bumped.attempts, bumped.first_at, bumped.last_at, bumped.reason) == (2, T0, later, "F&O said 500")
    other = await store.record_failure("task", "b@x", "F1", "r", T0)
    assert {(f.mailbox, f.attempts) for f in await store.list_failures()} == {("a@x", 2), ("b@x", 1)}
    await store.clear_failure("task", "a@x", "F1")
    await store.clear_failure("task", "a@x", "F1")  # clearing twice is fine
    assert await store.list_failures() == [other]
    again = await store.record_failure("task", "a@x", "F1", "r", later)
    assert (again.attempts, again.first_at) == (1, later)


async def test_concurrent_failure_bumps_all_count(open_store: Opener) -> None:
    workers = [open_store(), open_store()]
    await asyncio.gather(*(workers[i % 2].record_failure("task", "a@x", "F1", f"r{i}", T0) for i in range(6)))
    [failure] = await workers[0].list_failures()
    assert failure.attempts == 6
