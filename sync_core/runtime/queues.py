"""Queue transports: Azure Storage queues in Azure, an in-process queue locally. Same messages, same handlers."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import BinaryBase64DecodePolicy, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueServiceClient

from sync_core.runtime.messages import AnyMessage, encode

__all__ = ["AnyMessage", "Delivery", "InProcessQueues", "LocalQueues", "QueueSender", "StorageQueues"]


class QueueSender(Protocol):
    async def send(self, queue: str, messages: Sequence[AnyMessage]) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Delivery:
    """One received message: its text, how often it has been handed out (this time included), and the
    queue's own handle for completing or releasing it."""

    queue: str
    text: str
    dequeue_count: int
    handle: int | None = None


class LocalQueues(QueueSender, Protocol):
    """What the local runner needs of a queue (pipeline/runner.py): the durable SqliteQueues in
    `run --once` and the sandbox, InProcessQueues in tests that drive a cycle in memory."""

    async def receive(self, queue: str, limit: int) -> list[Delivery]: ...
    async def complete(self, delivery: Delivery) -> None: ...
    async def release(self, delivery: Delivery, *, count: bool = True) -> None: ...
    async def size(self, queue: str) -> int: ...


class InProcessQueues:
    """FIFO queues in memory, for tests (a killed process loses them: `run --once` uses the durable
    pipeline/local_queue.py). Messages are stored encoded, so the same wire format is exercised."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[tuple[str, int]]] = {}

    async def send(self, queue: str, messages: Sequence[AnyMessage]) -> None:
        bucket = self._queues.setdefault(queue, deque())
        bucket.extend((encode(m), 1) for m in messages)

    def requeue(self, queue: str, text: str, dequeue_count: int) -> None:
        self._queues.setdefault(queue, deque()).append((text, dequeue_count + 1))

    def take(self, queue: str, limit: int) -> list[tuple[str, int]]:
        bucket = self._queues.get(queue)
        taken: list[tuple[str, int]] = []
        while bucket and len(taken) < limit:
            taken.append(bucket.popleft())
        return taken

    def depth(self, queue: str) -> int:
        return len(self._queues.get(queue, ()))

    async def receive(self, queue: str, limit: int) -> list[Delivery]:
        return [Delivery(queue, text, count) for text, count in self.take(queue, limit)]

    async def complete(self, delivery: Delivery) -> None:
        return None  # taken out at receive

    async def release(self, delivery: Delivery, *, count: bool = True) -> None:
        self.requeue(delivery.queue, delivery.text, delivery.dequeue_count - (0 if count else 1))

    async def size(self, queue: str) -> int:
        return self.depth(queue)

    async def close(self) -> None:
        self._queues.clear()


class StorageQueues:
    """Azure Storage queues, base64 text as the Functions queue trigger expects."""

    def __init__(self, service: QueueServiceClient) -> None:
        self._service = service

    @classmethod
    def from_connection_string(cls, connection_string: str) -> StorageQueues:
        return cls(QueueServiceClient.from_connection_string(connection_string))

    @classmethod
    def from_account(cls, account_name: str, credential: Any, endpoint: str | None = None) -> StorageQueues:
        url = endpoint or f"https://{account_name}.queue.core.windows.net"
        return cls(QueueServiceClient(url, credential=credential))

    async def ensure_queues(self, names: Sequence[str]) -> None:
        """The Functions trigger does not create queues; the deployment does, this is for local runs."""
        for name in names:
            for full in (name, f"{name}-poison"):
                with contextlib.suppress(ResourceExistsError):
                    await self._service.create_queue(full)

    async def send(self, queue: str, messages: Sequence[AnyMessage]) -> None:
        # The service client does not hand its encode policy down to queue clients: set it here.
        client = self._service.get_queue_client(queue, **_codec())
        texts = [encode(m) for m in messages]
        # Bounded fan-out: a scan can emit thousands of messages.
        for start in range(0, len(texts), 32):
            await asyncio.gather(*(client.send_message(t) for t in texts[start : start + 32]))

    async def drain_poison(
        self, queue: str, adopt: Callable[[str], Awaitable[object]], *, limit: int = 1000
    ) -> int:
        """Hand each message of `<queue>-poison` to `adopt` (which puts it on the work list) and delete it
        once adopted; returns how many. A message `adopt` fails on stays for the next cycle."""
        client = self._service.get_queue_client(f"{queue}-poison", **_codec())
        done = 0
        try:
            async for message in client.receive_messages(messages_per_page=32, visibility_timeout=300):
                content = message.content
                text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
                await adopt(text)
                await client.delete_message(message)
                done += 1
                if done >= limit:
                    break
        except ResourceNotFoundError:
            return done  # no poison queue yet: nothing was ever poisoned
        return done

    async def close(self) -> None:
        await self._service.close()


def _codec() -> dict[str, Any]:
    return {
        "message_encode_policy": TextBase64EncodePolicy(),
        "message_decode_policy": BinaryBase64DecodePolicy(),
    }
