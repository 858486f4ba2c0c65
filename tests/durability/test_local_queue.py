"""The durable local queue keeps what a killed process had queued or was working on."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from sync_core.pipeline.local_queue import SqliteQueues
from sync_core.runtime.messages import ScanMailbox, SyncPair, decode

REPO = Path(__file__).resolve().parents[2]


def _pair(n: int) -> SyncPair:
    return SyncPair(kind="appointment", mailbox="alice@contoso.com", fno_key=f"usmf|ACT-{n}")


def test_messages_a_killed_process_held_come_back_at_once(tmp_path: Path) -> None:
    # A real process queues three messages, takes two, and is killed with SIGKILL while "working".
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, pathlib
        from sync_core.pipeline.local_queue import SqliteQueues
        from sync_core.runtime.messages import SyncPair

        async def main():
            queues = SqliteQueues.open(pathlib.Path({str(tmp_path)!r}))
            await queues.send("items", [
                SyncPair(kind="appointment", mailbox="alice@contoso.com", fno_key=f"usmf|ACT-{{n}}")
                for n in range(3)
            ])
            taken = await queues.receive("items", 2)
            assert len(taken) == 2
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, check=False)
    assert done.returncode == -signal.SIGKILL

    async def check() -> None:
        queues = SqliteQueues.open(tmp_path)
        try:
            taken = await queues.receive("items", 10)
            got = {decode(d.text): d.dequeue_count for d in taken}
            # Nothing lost; the two that were being worked on count one dequeue more.
            assert got == {_pair(0): 2, _pair(1): 2, _pair(2): 1}
            for delivery in taken:
                await queues.complete(delivery)
            assert await queues.receive("items", 10) == []
        finally:
            await queues.close()

    asyncio.run(check())


def test_a_message_held_by_a_live_receiver_waits_for_its_lease(tmp_path: Path) -> None:
    async def run() -> None:
        first = SqliteQueues(tmp_path / "queue.sqlite", lease_seconds=0.3)
        second = SqliteQueues(tmp_path / "queue.sqlite", lease_seconds=0.3)
        try:
            await first.send("scan", [ScanMailbox(kind="task", mailbox="bob@contoso.com")])
            [held] = await first.receive("scan", 5)
            assert await second.receive("scan", 5) == []  # hidden while its receiver (alive) works on it
            await asyncio.sleep(0.4)
            [again] = await second.receive("scan", 5)  # the lease ran out: handed out again
            assert again.dequeue_count == 2
            await first.complete(held)  # the first receiver lost it: its completion deletes nothing
            await second.complete(again)
            assert await second.size("scan") == 0
            assert await first.receive("scan", 5) == []
        finally:
            await first.close()
            await second.close()

    asyncio.run(run())


def test_release_without_counting_and_fifo_order(tmp_path: Path) -> None:
    async def run() -> None:
        queues = SqliteQueues.open(tmp_path)
        try:
            await queues.send("items", [_pair(n) for n in range(3)])
            taken = await queues.receive("items", 1)
            await queues.release(taken[0], count=False)  # put back untried
            again = await queues.receive("items", 3)
            assert [decode(d.text) for d in again] == [_pair(0), _pair(1), _pair(2)]
            assert [d.dequeue_count for d in again] == [1, 1, 1]
            await queues.release(again[1])  # tried and failed: counted
            [retried] = await queues.receive("items", 3)
            assert retried.dequeue_count == 2
        finally:
            await queues.close()

    asyncio.run(run())


def test_pid_check_sees_a_dead_process() -> None:
    from sync_core.runtime.owner import alive as _alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert _alive(os.getpid())
    assert not _alive(child.pid)
