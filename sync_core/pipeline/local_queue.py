"""A durable queue in the embedded store for local runs (`run --once`, the sandbox).

Why: a scan saves its delta token or watermark once its pair messages are queued. If those messages
lived only in memory, a process killed between a scan and its pair jobs would lose the changes for good
(the cursor has moved past them). This queue keeps them in a SQLite file beside the state store, with the
at-least-once semantics of Azure Storage queues: a received message stays hidden while its receiver works
on it (a lease), counts one more dequeue, and is deleted only when its job has finished. A message whose
receiver died comes back: at once when the receiving process is gone (its pid no longer runs on this
machine; the file is local), otherwise when the lease runs out. Jobs are idempotent, so a message that
comes back after its job had already finished is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

from sync_core.runtime.messages import encode
from sync_core.runtime.owner import alive
from sync_core.runtime.queues import AnyMessage, Delivery
from sync_core.state.sqlite import in_transaction

_T = TypeVar("_T")
FILE_NAME = "queue.sqlite"
# A job that runs longer than this is taken to be lost and its message is handed out again.
LEASE_SECONDS = 600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    dequeue_count INTEGER NOT NULL DEFAULT 0,
    visible_at REAL NOT NULL,
    owner_pid INTEGER,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_at, id);
"""


class SqliteQueues:
    """Durable local queues. Use `SqliteQueues.open(state_dir)`; close() when done."""

    def __init__(self, path: pathlib.Path, *, lease_seconds: float = LEASE_SECONDS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lease = lease_seconds
        self._owner = uuid.uuid4().hex
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)
        self._reclaim_from_dead_processes()

    @classmethod
    def open(cls, state_dir: pathlib.Path) -> SqliteQueues:
        return cls(state_dir / FILE_NAME)

    # -- plumbing ---------------------------------------------------------------------------------

    def _run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise RuntimeError("the local queue is closed")
            return in_transaction(conn, fn)

    async def _do(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        return await asyncio.to_thread(self._run, fn)

    def _reclaim_from_dead_processes(self) -> None:
        def reclaim(conn: sqlite3.Connection) -> None:
            pids = [
                row[0]
                for row in conn.execute("SELECT DISTINCT owner_pid FROM messages WHERE owner_pid IS NOT NULL")
            ]
            dead = [pid for pid in pids if pid != self._pid and not alive(pid)]
            for pid in dead:
                conn.execute(
                    "UPDATE messages SET visible_at = 0, owner = NULL, owner_pid = NULL WHERE owner_pid = ?",
                    (pid,),
                )

        self._run(reclaim)

    # -- the queue ----------------------------------------------------------------------------------

    async def send(self, queue: str, messages: Sequence[AnyMessage]) -> None:
        rows = [(queue, encode(m), 0.0) for m in messages]
        if rows:
            await self._do(
                lambda c: c.executemany("INSERT INTO messages (queue, body, visible_at) VALUES (?,?,?)", rows)
            )

    async def receive(self, queue: str, limit: int) -> list[Delivery]:
        """Up to `limit` visible messages, oldest first, hidden for the lease and counted."""

        def take(conn: sqlite3.Connection) -> list[Delivery]:
            now = time.time()
            rows = conn.execute(
                "SELECT id, body, dequeue_count FROM messages WHERE queue = ? AND visible_at <= ?"
                " ORDER BY id LIMIT ?",
                (queue, now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE messages SET dequeue_count = dequeue_count + 1, visible_at = ?, owner = ?, owner_pid = ?"
                " WHERE id = ?",
                [(now + self._lease, self._owner, self._pid, row[0]) for row in rows],
            )
            return [Delivery(queue, str(body), int(count) + 1, int(ident)) for ident, body, count in rows]

        return await self._do(take)

    async def complete(self, delivery: Delivery) -> None:
        await self._do(
            lambda c: c.execute(
                "DELETE FROM messages WHERE id = ? AND owner = ?", (delivery.handle, self._owner)
            )
        )

    async def release(self, delivery: Delivery, *, count: bool = True) -> None:
        """Make the message visible again now; `count=False` takes back the dequeue it was counted for
        (it was put back without being tried)."""
        undo = 0 if count else 1
        await self._do(
            lambda c: c.execute(
                "UPDATE messages SET visible_at = 0, owner = NULL, owner_pid = NULL,"
                " dequeue_count = dequeue_count - ? WHERE id = ? AND owner = ?",
                (undo, delivery.handle, self._owner),
            )
        )

    async def size(self, queue: str) -> int:
        """Messages visible now (what a receive could get)."""

        def count(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE queue = ? AND visible_at <= ?", (queue, time.time())
            ).fetchone()
            return int(row[0])

        return await self._do(count)

    async def close(self) -> None:
        def _close() -> None:
            with self._lock:
                if self._conn is not None:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.close()
                    self._conn = None

        await asyncio.to_thread(_close)
