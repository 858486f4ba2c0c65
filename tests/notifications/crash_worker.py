"""A worker process for test_crash.py: takes one message from the scan queue as the Functions host does (peek
lock), runs the scan function on it, and is killed (SIGKILL, by itself) the moment the scan would note its
read: after its pair messages are queued and its delta cursor saved. Settings come from the environment."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from azure.storage.queue import BinaryBase64DecodePolicy, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from sync_core import functions
from sync_core.pipeline import scan


async def _die(*_args: object, **_kwargs: object) -> None:
    sys.stdout.write("killed\n")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


async def main(lease_seconds: int) -> None:
    setattr(scan, "note_scan", _die)  # noqa: B010 (the kill replaces the note of the read)
    settings = functions.settings()
    async with QueueClient.from_connection_string(
        settings.storage_connection,
        settings.scan_queue,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy(),
    ) as queue:
        async for message in queue.receive_messages(max_messages=1, visibility_timeout=lease_seconds):
            await functions.on_queue_message(message.content, message.dequeue_count or 1)
            sys.stdout.write("finished\n")  # not reached: the scan dies first
            return
    sys.stdout.write("empty\n")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
