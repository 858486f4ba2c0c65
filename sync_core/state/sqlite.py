"""Embedded state store on SQLite (the default when no Azure Storage is configured).

One connection guarded by a lock, used from a worker thread so the event loop never blocks on disk.
ETags are random tokens rewritten on every write; a conditional write is an UPDATE/DELETE that names the
etag it expects, so a stale writer changes zero rows and gets ConcurrencyError.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import sqlite3
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sync_core.state.base import (
    AuditEntry,
    ConcurrencyError,
    ContactListEntry,
    Cursor,
    Failure,
    Link,
    MailboxRecord,
    StateError,
    bumped_failure,
    keeping_pause,
    mailbox_of_user,
    with_pause,
)
from sync_core.state.codec import epoch_micros

_T = TypeVar("_T")
_IN_CHUNK = 500  # values of one `IN (...)` list, well below SQLite's parameter limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS links (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    fno_key TEXT NOT NULL,
    graph_id TEXT NOT NULL,
    etag TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    UNIQUE (kind, mailbox, fno_key),
    UNIQUE (kind, mailbox, graph_id)
);
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY,
    etag TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mailboxes (
    mailbox TEXT PRIMARY KEY,
    etag TEXT NOT NULL,
    body TEXT NOT NULL
);
-- The change-notification webhook finds a mailbox by its Entra object id (get_mailbox_by_user).
CREATE INDEX IF NOT EXISTS mailboxes_by_user ON mailboxes (lower(json_extract(body, '$.user_id')));
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_newest ON audit (at_us DESC, seq DESC);
CREATE TABLE IF NOT EXISTS failures (
    kind TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    item_key TEXT NOT NULL,
    etag TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, mailbox, item_key)
);
CREATE TABLE IF NOT EXISTS contact_entries (
    mailbox TEXT NOT NULL,
    contact_key TEXT NOT NULL,
    etag TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (mailbox, contact_key)
);
"""


def in_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], _T]) -> _T:
    """Run `fn` in one write transaction, taken at its start (BEGIN IMMEDIATE), so its reads and writes are
    atomic across processes too; rolled back if `fn` fails."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _new_etag() -> str:
    return uuid.uuid4().hex


def _body(record: Any) -> str:
    dumped: str = record.model_dump_json(exclude={"etag"})
    return dumped


class SqliteStateStore:
    """`StateStore` on one SQLite file (WAL mode); safe for many tasks of one process."""

    def __init__(self, path: pathlib.Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so a write holds the lock from its
        # first read, which is what makes read-check-write sequences atomic across processes too.
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    # -- plumbing ---------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StateError("state store is closed")
        return self._conn

    def _read_sync(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            return fn(self._connection())

    def _write_sync(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            return in_transaction(self._connection(), fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        return await asyncio.to_thread(self._read_sync, fn)

    async def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        return await asyncio.to_thread(self._write_sync, fn)

    async def close(self) -> None:
        def _close() -> None:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await asyncio.to_thread(_close)

    # -- links ------------------------------------------------------------------------------------

    @staticmethod
    def _link_row(row: tuple[str, str] | None) -> Link | None:
        if row is None:
            return None
        return Link.model_validate({**json.loads(row[1]), "etag": row[0]})

    async def get_link_by_fno(self, kind: str, mailbox: str, fno_key: str) -> Link | None:
        sql = "SELECT etag, body FROM links WHERE kind = ? AND mailbox = ? AND fno_key = ?"
        row = await self._read(lambda c: c.execute(sql, (kind, mailbox, fno_key)).fetchone())
        return self._link_row(row)

    async def get_link_by_graph(self, kind: str, mailbox: str, graph_id: str) -> Link | None:
        sql = "SELECT etag, body FROM links WHERE kind = ? AND mailbox = ? AND graph_id = ?"
        row = await self._read(lambda c: c.execute(sql, (kind, mailbox, graph_id)).fetchone())
        return self._link_row(row)

    async def get_links_by_fno(self, kind: str, mailbox: str, fno_keys: Sequence[str]) -> dict[str, Link]:
        links = await self._links_where(kind, mailbox, "fno_key", fno_keys)
        return {link.fno_key: link for link in links}

    async def get_links_by_graph(self, kind: str, mailbox: str, graph_ids: Sequence[str]) -> dict[str, Link]:
        links = await self._links_where(kind, mailbox, "graph_id", graph_ids)
        return {link.graph_id: link for link in links}

    async def _links_where(self, kind: str, mailbox: str, column: str, values: Sequence[str]) -> list[Link]:
        wanted = list(dict.fromkeys(values))

        def read(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows: list[tuple[str, str]] = []
            # SQLite allows at least 999 parameters a statement: a page of keys fits in one or two.
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT etag, body FROM links WHERE kind = ? AND mailbox = ? AND {column} IN ({marks})"
                rows.extend(conn.execute(sql, (kind, mailbox, *chunk)).fetchall())
            return rows

        rows = await self._read(read) if wanted else []
        return [Link.model_validate({**json.loads(body), "etag": etag}) for etag, body in rows]

    async def save_link(self, link: Link) -> Link:
        etag = _new_etag()
        body = _body(link)

        def _save(conn: sqlite3.Connection) -> None:
            try:
                if link.etag is None:
                    conn.execute(
                        "INSERT INTO links (kind, mailbox, fno_key, graph_id, etag, body) VALUES (?,?,?,?,?,?)",
                        (link.kind, link.mailbox, link.fno_key, link.graph_id, etag, body),
                    )
                    return
                # Both ids may change here; the unique indexes move with the row in one statement.
                cur = conn.execute(
                    "UPDATE links SET fno_key = ?, graph_id = ?, etag = ?, body = ?"
                    " WHERE etag = ? AND kind = ? AND mailbox = ?",
                    (link.fno_key, link.graph_id, etag, body, link.etag, link.kind, link.mailbox),
                )
            except sqlite3.IntegrityError as exc:
                raise ConcurrencyError("a link with that fno_key or graph_id already exists") from exc
            if cur.rowcount != 1:
                raise ConcurrencyError("link changed or vanished since it was read")

        await self._write(_save)
        return link.model_copy(update={"etag": etag})

    async def delete_link(self, link: Link) -> None:
        if link.etag is None:
            raise ConcurrencyError("cannot delete a link that was never read (no etag)")

        def _delete(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "DELETE FROM links WHERE etag = ? AND kind = ? AND mailbox = ?",
                (link.etag, link.kind, link.mailbox),
            )
            if cur.rowcount != 1:
                raise ConcurrencyError("link changed or vanished since it was read")

        await self._write(_delete)

    async def list_links(self, kind: str, mailbox: str) -> list[Link]:
        sql = "SELECT etag, body FROM links WHERE kind = ? AND mailbox = ? ORDER BY id"
        rows = await self._read(lambda c: c.execute(sql, (kind, mailbox)).fetchall())
        return [Link.model_validate({**json.loads(body), "etag": etag}) for etag, body in rows]

    # -- cursors ----------------------------------------------------------------------------------

    async def get_cursor(self, name: str) -> Cursor | None:
        sql = "SELECT etag, body FROM cursors WHERE name = ?"
        row = await self._read(lambda c: c.execute(sql, (name,)).fetchone())
        if row is None:
            return None
        return Cursor.model_validate({**json.loads(row[1]), "etag": row[0]})

    async def list_cursors(self, prefix: str) -> list[Cursor]:
        # A range, not LIKE: names may hold % and _ (addresses).
        sql = "SELECT etag, body FROM cursors WHERE name >= ? AND name < ?"
        rows = await self._read(lambda c: c.execute(sql, (prefix, prefix + "\U0010ffff")).fetchall())
        return [Cursor.model_validate({**json.loads(body), "etag": etag}) for etag, body in rows]

    async def save_cursor(self, cursor: Cursor) -> Cursor:
        etag = _new_etag()
        body = _body(cursor)

        def _save(conn: sqlite3.Connection) -> None:
            if cursor.etag is None:
                try:
                    conn.execute(
                        "INSERT INTO cursors (name, etag, body) VALUES (?,?,?)", (cursor.name, etag, body)
                    )
                except sqlite3.IntegrityError as exc:
                    raise ConcurrencyError("cursor already exists") from exc
                return
            cur = conn.execute(
                "UPDATE cursors SET etag = ?, body = ? WHERE name = ? AND etag = ?",
                (etag, body, cursor.name, cursor.etag),
            )
            if cur.rowcount != 1:
                raise ConcurrencyError("cursor changed or vanished since it was read")

        await self._write(_save)
        return cursor.model_copy(update={"etag": etag})

    async def delete_cursor(self, name: str) -> None:
        await self._write(lambda c: c.execute("DELETE FROM cursors WHERE name = ?", (name,)))

    # -- mailboxes --------------------------------------------------------------------------------

    async def upsert_mailbox(self, record: MailboxRecord) -> MailboxRecord:
        return await self._change_mailbox(record.mailbox, lambda stored: keeping_pause(record, stored))

    async def set_mailbox_pause(
        self, mailbox: str, paused: bool, *, by: str = "", at: datetime | None = None, reason: str = ""
    ) -> MailboxRecord:
        return await self._change_mailbox(
            mailbox, lambda stored: with_pause(stored, mailbox, paused, by, at, reason)
        )

    async def _change_mailbox(
        self, mailbox: str, change: Callable[[MailboxRecord | None], MailboxRecord]
    ) -> MailboxRecord:
        """Read, change and write the record in one transaction."""
        etag = _new_etag()

        def _upsert(conn: sqlite3.Connection) -> MailboxRecord:
            row = conn.execute("SELECT body FROM mailboxes WHERE mailbox = ?", (mailbox,)).fetchone()
            record = change(None if row is None else MailboxRecord.model_validate_json(row[0]))
            conn.execute(
                "INSERT INTO mailboxes (mailbox, etag, body) VALUES (?,?,?)"
                " ON CONFLICT (mailbox) DO UPDATE SET etag = excluded.etag, body = excluded.body",
                (mailbox, etag, _body(record)),
            )
            return record.model_copy(update={"etag": etag})

        return await self._write(_upsert)

    async def get_mailbox(self, mailbox: str) -> MailboxRecord | None:
        sql = "SELECT etag, body FROM mailboxes WHERE mailbox = ?"
        row = await self._read(lambda c: c.execute(sql, (mailbox,)).fetchone())
        if row is None:
            return None
        return MailboxRecord.model_validate({**json.loads(row[1]), "etag": row[0]})

    async def get_mailbox_by_user(self, user_id: str) -> MailboxRecord | None:
        # The expression matches the index mailboxes_by_user, so this is an index lookup.
        sql = "SELECT etag, body FROM mailboxes WHERE lower(json_extract(body, '$.user_id')) = ?"
        rows = await self._read(lambda c: c.execute(sql, (user_id.lower(),)).fetchall())
        records = [MailboxRecord.model_validate({**json.loads(body), "etag": etag}) for etag, body in rows]
        return mailbox_of_user(records, user_id) if user_id else None

    async def get_mailboxes(self, mailboxes: Sequence[str]) -> dict[str, MailboxRecord]:
        wanted = list(dict.fromkeys(mailboxes))

        def read(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows: list[tuple[str, str]] = []
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT etag, body FROM mailboxes WHERE mailbox IN ({marks})"
                rows.extend(conn.execute(sql, chunk).fetchall())
            return rows

        rows = await self._read(read) if wanted else []
        found = [MailboxRecord.model_validate({**json.loads(body), "etag": etag}) for etag, body in rows]
        return {record.mailbox: record for record in found}

    async def list_mailboxes(self) -> list[MailboxRecord]:
        rows = await self._read(
            lambda c: c.execute("SELECT etag, body FROM mailboxes ORDER BY mailbox").fetchall()
        )
        return [MailboxRecord.model_validate({**json.loads(body), "etag": etag}) for etag, body in rows]

    async def delete_mailbox(self, mailbox: str) -> None:
        await self._write(lambda c: c.execute("DELETE FROM mailboxes WHERE mailbox = ?", (mailbox,)))

    # -- audit ------------------------------------------------------------------------------------

    async def append_audit(self, entry: AuditEntry) -> None:
        body = _body(entry)
        at_us = epoch_micros(entry.at)
        await self._write(lambda c: c.execute("INSERT INTO audit (at_us, body) VALUES (?,?)", (at_us, body)))

    async def list_audit(
        self,
        limit: int = 1000,
        *,
        mailbox: str | None = None,
        kind: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEntry]:
        where: list[str] = []
        params: list[Any] = []
        for field, value in (("mailbox", mailbox), ("kind", kind), ("action", action)):
            if value is not None:
                where.append(f"json_extract(body, '$.{field}') = ?")
                params.append(value)
        if since is not None:
            where.append("at_us >= ?")
            params.append(epoch_micros(since))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT body FROM audit{clause} ORDER BY at_us DESC, seq DESC LIMIT ?"
        params.append(max(limit, 0))
        rows = await self._read(lambda c: c.execute(sql, params).fetchall())
        return [AuditEntry.model_validate_json(body) for (body,) in rows]

    async def purge_audit(self, before: datetime, *, batch: int = 500) -> int:
        sql = "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE at_us < ? ORDER BY at_us LIMIT ?)"
        cutoff = epoch_micros(before)
        cur = await self._write(lambda c: c.execute(sql, (cutoff, max(batch, 0))))
        return int(cur.rowcount)

    async def forget_audit(self, mailbox: str, *, batch: int = 500) -> int:
        sql = (
            "DELETE FROM audit WHERE seq IN"
            " (SELECT seq FROM audit WHERE json_extract(body, '$.mailbox') = ? LIMIT ?)"
        )
        cur = await self._write(lambda c: c.execute(sql, (mailbox, max(batch, 0))))
        return int(cur.rowcount)

    # -- failures ---------------------------------------------------------------------------------

    async def record_failure(
        self,
        kind: str,
        mailbox: str,
        item_key: str,
        reason: str,
        at: datetime,
        *,
        message: str | None = None,
        retry_at: datetime | None = None,
    ) -> Failure:
        etag = _new_etag()

        def _bump(conn: sqlite3.Connection) -> Failure:
            row = conn.execute(
                "SELECT body FROM failures WHERE kind = ? AND mailbox = ? AND item_key = ?",
                (kind, mailbox, item_key),
            ).fetchone()
            old = None if row is None else Failure.model_validate_json(row[0])
            failure = bumped_failure(old, kind, mailbox, item_key, reason, at, message, retry_at)
            conn.execute(
                "INSERT INTO failures (kind, mailbox, item_key, etag, body) VALUES (?,?,?,?,?)"
                " ON CONFLICT (kind, mailbox, item_key) DO UPDATE SET etag = excluded.etag, body = excluded.body",
                (kind, mailbox, item_key, etag, _body(failure)),
            )
            return failure.model_copy(update={"etag": etag})

        return await self._write(_bump)

    async def save_failure(self, failure: Failure) -> Failure:
        etag = _new_etag()

        def _replace(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE failures SET etag = ?, body = ? WHERE kind = ? AND mailbox = ? AND item_key = ?"
                " AND etag = ?",
                (etag, _body(failure), failure.kind, failure.mailbox, failure.item_key, failure.etag),
            )
            if cur.rowcount != 1:
                raise ConcurrencyError("failure changed or vanished since it was read")

        await self._write(_replace)
        return failure.model_copy(update={"etag": etag})

    async def clear_failure(self, kind: str, mailbox: str, item_key: str) -> None:
        await self._write(
            lambda c: c.execute(
                "DELETE FROM failures WHERE kind = ? AND mailbox = ? AND item_key = ?",
                (kind, mailbox, item_key),
            )
        )

    async def list_failures(self) -> list[Failure]:
        sql = "SELECT etag, body FROM failures ORDER BY kind, mailbox, item_key"
        rows = await self._read(lambda c: c.execute(sql).fetchall())
        return [Failure.model_validate({**json.loads(body), "etag": etag}) for etag, body in rows]

    # -- contact list entries -----------------------------------------------------------------------

    async def get_contact_entry(self, mailbox: str, contact_key: str) -> ContactListEntry | None:
        sql = "SELECT etag, body FROM contact_entries WHERE mailbox = ? AND contact_key = ?"
        row = await self._read(lambda c: c.execute(sql, (mailbox, contact_key)).fetchone())
        if row is None:
            return None
        return ContactListEntry.model_validate({**json.loads(row[1]), "etag": row[0]})

    async def save_contact_entry(self, entry: ContactListEntry) -> ContactListEntry:
        etag = _new_etag()
        body = _body(entry)

        def _save(conn: sqlite3.Connection) -> None:
            if entry.etag is None:
                try:
                    conn.execute(
                        "INSERT INTO contact_entries (mailbox, contact_key, etag, body) VALUES (?,?,?,?)",
                        (entry.mailbox, entry.contact_key, etag, body),
                    )
                except sqlite3.IntegrityError as exc:
                    raise ConcurrencyError("contact list entry already exists") from exc
                return
            cur = conn.execute(
                "UPDATE contact_entries SET etag = ?, body = ? WHERE mailbox = ? AND contact_key = ? AND etag = ?",
                (etag, body, entry.mailbox, entry.contact_key, entry.etag),
            )
            if cur.rowcount != 1:
                raise ConcurrencyError("contact list entry changed or vanished since it was read")

        await self._write(_save)
        return entry.model_copy(update={"etag": etag})

    async def delete_contact_entry(self, entry: ContactListEntry) -> None:
        def _delete(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "DELETE FROM contact_entries WHERE mailbox = ? AND contact_key = ? AND etag = ?",
                (entry.mailbox, entry.contact_key, entry.etag),
            )
            if cur.rowcount != 1:
                raise ConcurrencyError("contact list entry changed or vanished since it was read")

        await self._write(_delete)

    async def list_contact_entries(
        self, mailbox: str | None = None, *, contact_key: str | None = None, pending: bool | None = None
    ) -> list[ContactListEntry]:
        clauses, params = [], []
        for column, value in (("mailbox", mailbox), ("contact_key", contact_key)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = f"SELECT etag, body FROM contact_entries{where} ORDER BY mailbox, contact_key"
        rows = await self._read(lambda c: c.execute(sql, params).fetchall())
        found = [ContactListEntry.model_validate({**json.loads(body), "etag": etag}) for etag, body in rows]
        return [e for e in found if pending is None or e.pending == pending]
