"""A small stand-in for the Azure Functions host: the Queue storage trigger and the timer trigger of
function_app.py, driven the way the host drives them, against real Storage queues (Azurite in the tests).

What the host does, as Microsoft documents it for the queue trigger ("Azure Queue storage trigger for Azure
Functions", https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger:
sections "Poison messages", "Peek lock", "Polling algorithm", "Concurrency"; the host.json settings under
`extensions.queues`: https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#hostjson-settings)
and as its source does it (Azure WebJobs SDK, Microsoft.Azure.WebJobs.Extensions.Storage.Queues,
`QueueProcessor.BeginProcessingMessageAsync` / `CompleteProcessingMessageAsync`):

- Each queue trigger's queue is polled. When a queue is found empty the host waits with a randomized
  exponential back-off, up to `maxPollingInterval`; a message found resets the wait.
- Up to `batchSize` messages are taken at once and their functions run concurrently; the next batch is taken
  once the number still running drops to `newBatchThreshold`.
- A message taken is invisible to others while its function runs ("peek lock"): the host takes it for ten
  minutes and renews that while the function runs. A host that dies holds it until that time runs out.
- The function succeeds: the message is deleted. It fails: the message is released, visible again after
  `visibilityTimeout` (the time between retries). It fails on its `maxDequeueCount`-th dequeue (default 5):
  the message is copied to `<queue>-poison` and deleted. A message whose dequeue count already exceeds
  `maxDequeueCount` when it is taken (its earlier attempts ended with the host dying) goes to the poison
  queue without running.
- Messages are base64 text; the function gets the decoded body and the dequeue count.

Options come from host.json (`extensions.queues`), and each can be overridden, so that tests can run with a
lease and retry delay of seconds instead of minutes. Settings come from the environment as in Azure: the queue
names `%NAME%` of the trigger bindings and the connection (`AzureWebJobsStorage`) are app settings.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient as SyncQueueClient
from azure.storage.queue import QueueMessage as StoredMessage
from azure.storage.queue.aio import QueueClient

ROOT = Path(__file__).resolve().parents[2]
HOST_JSON = ROOT / "host.json"
MIN_POLLING_INTERVAL = 0.1  # the SDK's minimum back-off while a queue stays empty
Function = Callable[..., Awaitable[None]]


def _timespan(value: Any) -> float:
    """host.json time spans: "hh:mm:ss" (optionally with fractions) or, in old files, milliseconds."""
    if isinstance(value, int | float):
        return float(value) / 1000.0
    match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", str(value).strip())
    if match is None:
        raise ValueError(f"not a time span: {value!r}")
    days, hours, minutes, seconds = match.groups()
    return ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + float(seconds)


@dataclass(frozen=True)
class HostOptions:
    """`extensions.queues` of host.json (defaults as documented), plus the peek-lock time."""

    batch_size: int = 16
    new_batch_threshold: int | None = None  # documented default: batchSize / 2
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0  # delay before a failed message is visible again
    max_polling_interval: float = 60.0
    lease: float = 600.0  # how long a taken message stays invisible; renewed at half of it while running

    @property
    def threshold(self) -> int:
        return self.batch_size // 2 if self.new_batch_threshold is None else self.new_batch_threshold

    @classmethod
    def from_host_json(cls, path: Path = HOST_JSON) -> HostOptions:
        queues = json.loads(path.read_text(encoding="utf-8")).get("extensions", {}).get("queues", {})
        options = cls()
        if "batchSize" in queues:
            options = replace(options, batch_size=int(queues["batchSize"]))
        if "newBatchThreshold" in queues:
            options = replace(options, new_batch_threshold=int(queues["newBatchThreshold"]))
        if "maxDequeueCount" in queues:
            options = replace(options, max_dequeue_count=int(queues["maxDequeueCount"]))
        if "visibilityTimeout" in queues:
            options = replace(options, visibility_timeout=_timespan(queues["visibilityTimeout"]))
        if "maxPollingInterval" in queues:
            options = replace(options, max_polling_interval=_timespan(queues["maxPollingInterval"]))
        return options


class Journal:
    """One JSON line per thing the host did, appended with O_APPEND (several processes share one file)."""

    def __init__(self, path: Path | None) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else None

    def write(self, event: str, **fields: Any) -> None:
        if self._fd is None:
            return
        line = json.dumps({"event": event, "pid": os.getpid(), "t": time.time(), **fields}) + "\n"
        os.write(self._fd, line.encode("utf-8"))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Lines of a journal; a line cut short by SIGKILL is skipped."""
    if not path.exists():
        return []
    events: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            events.append(json.loads(line))
    return events


def app_setting(expression: str) -> str:
    """Binding expressions `%NAME%` resolve from app settings (the environment); the host refuses a missing one."""
    match = re.fullmatch(r"%([^%]+)%", expression)
    if match is None:
        return expression
    value = os.environ.get(match.group(1))
    if not value:
        raise RuntimeError(f"app setting {match.group(1)} is not set (binding expression {expression})")
    return value


@dataclass(frozen=True)
class QueueBinding:
    function_name: str
    queue: str
    connection_string: str
    function: Function


@dataclass(frozen=True)
class TimerBinding:
    function_name: str
    function: Function


def discover() -> tuple[list[QueueBinding], list[TimerBinding]]:
    """The queue and timer triggers declared in function_app.py, resolved against the app settings."""
    import function_app

    queues: list[QueueBinding] = []
    timers: list[TimerBinding] = []
    for declared in function_app.app.get_functions():
        declared_trigger = declared.get_trigger()
        if declared_trigger is None:
            continue
        trigger = declared_trigger.get_dict_repr()
        name = str(declared.get_function_name())
        function: Function = declared.get_user_function()
        if trigger["type"] == "queueTrigger":
            connection = os.environ.get(trigger.get("connection") or "AzureWebJobsStorage", "")
            if not connection:
                raise RuntimeError(f"{name}: connection setting {trigger.get('connection')} is not set")
            queues.append(QueueBinding(name, app_setting(trigger["queueName"]), connection, function))
        elif trigger["type"] == "timerTrigger":
            timers.append(TimerBinding(name, function))
    return queues, timers


async def fire_timers() -> int:
    """Run every timer function once, as the host does when its schedule is due; returns how many ran."""
    from azure.functions.timer import TimerRequest

    _, timers = discover()
    for timer in timers:
        await timer.function(TimerRequest())
    return len(timers)


class LeaseKeeper:
    """Renews the peek locks of the messages whose functions run, at half the lease, from a thread of its own:
    in Azure the host is a process apart from the Python worker, so a busy worker event loop never delays a
    renewal (a renewal that came late would let another instance take the message while it still runs)."""

    def __init__(self, connection_string: str, seconds: float) -> None:
        self.connection_string = connection_string
        self.seconds = seconds
        self.lock = threading.Lock()
        # One per message taken (by id and first pop receipt: an instance may take a message again):
        # queue, message id, current pop receipt, when to renew.
        self.leases: dict[tuple[str, str], tuple[str, str, str, float]] = {}
        self.clients: dict[str, SyncQueueClient] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self.thread.start()

    def hold(self, queue: str, message: StoredMessage, taken_at: float) -> tuple[str, str]:
        """Renew `message`'s lock from now on (it was taken at `taken_at`); returns the lease's key."""
        key = (str(message.id), str(message.pop_receipt))
        with self.lock:
            self.leases[key] = (queue, key[0], key[1], taken_at + self.seconds / 2)
        return key

    def release(self, key: tuple[str, str]) -> str:
        """Stop renewing; returns the current pop receipt (never while a renewal is half done)."""
        with self.lock:
            held = self.leases.pop(key, None)
        return held[2] if held else key[1]

    def _run(self) -> None:
        while not self.stopped.wait(0.1):
            now = time.monotonic()
            with self.lock:
                due = [(k, q, i, r) for k, (q, i, r, at) in self.leases.items() if at <= now]
                for key, queue, message_id, receipt in due:
                    client = self.clients.get(queue)
                    if client is None:
                        client = SyncQueueClient.from_connection_string(self.connection_string, queue)
                        self.clients[queue] = client
                    try:
                        updated = client.update_message(
                            message_id, pop_receipt=receipt, visibility_timeout=_whole(self.seconds)
                        )
                    except HttpResponseError:
                        continue  # lost (another instance took it after all); completing will tell
                    renewed = str(updated.pop_receipt)
                    self.leases[key] = (queue, message_id, renewed, time.monotonic() + self.seconds / 2)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)
        for client in self.clients.values():
            client.close()


def _whole(seconds: float) -> int:
    return max(0, round(seconds))


class QueueListener:
    """One queue trigger of one host instance."""

    def __init__(
        self, binding: QueueBinding, options: HostOptions, journal: Journal, leases: LeaseKeeper
    ) -> None:
        self.binding = binding
        self.leases = leases
        self.options = options
        self.journal = journal
        # Raw text in and out: the host decodes base64 itself and copies the stored text to the poison queue.
        self.queue = QueueClient.from_connection_string(binding.connection_string, binding.queue)
        self.poison = QueueClient.from_connection_string(binding.connection_string, f"{binding.queue}-poison")
        self.running: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        delay = MIN_POLLING_INTERVAL
        try:
            while not stop.is_set():
                if len(self.running) > self.options.threshold:
                    await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                taken_at = time.monotonic()
                try:
                    batch = [
                        m
                        async for m in self.queue.receive_messages(
                            messages_per_page=self.options.batch_size,
                            max_messages=self.options.batch_size,
                            visibility_timeout=_whole(self.options.lease),
                        )
                    ]
                except HttpResponseError as exc:
                    self.journal.write("receive-error", queue=self.binding.queue, error=type(exc).__name__)
                    batch = []
                if not batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay * random.uniform(0.8, 1.2))
                    delay = min(delay * 2, max(self.options.max_polling_interval, MIN_POLLING_INTERVAL))
                    continue
                delay = MIN_POLLING_INTERVAL
                for message in batch:
                    # Renewed from the moment it was taken: its function may start a little later.
                    lease = self.leases.hold(self.binding.queue, message, taken_at)
                    task = asyncio.create_task(self._process(message, lease))
                    self.running.add(task)
                    task.add_done_callback(self.running.discard)
            if self.running:
                await asyncio.wait(self.running)
        finally:
            await self.queue.close()
            await self.poison.close()

    async def _process(self, message: StoredMessage, lease: tuple[str, str]) -> None:
        count = int(message.dequeue_count or 1)
        where = {"queue": self.binding.queue, "id": message.id, "dequeue_count": count}
        if count > self.options.max_dequeue_count:
            await self._to_poison(message, await asyncio.to_thread(self.leases.release, lease))
            self.journal.write("poisoned", before_run=True, **where)
            return
        self.journal.write("taken", function=self.binding.function_name, **where)
        error: Exception | None = None
        try:
            body = _body(message.content)
            from azure.functions.queue import QueueMessage

            delivered = QueueMessage(  # type: ignore[no-untyped-call]
                id=message.id, body=body, dequeue_count=count, pop_receipt=message.pop_receipt
            )
            await self.binding.function(delivered)
        except Exception as exc:
            error = exc
        receipt = await asyncio.to_thread(self.leases.release, lease)
        if error is None:
            if await self._delete(message.id, receipt):
                self.journal.write("ok", **where)
            else:
                self.journal.write("ok-but-lease-lost", **where)
        elif count >= self.options.max_dequeue_count:
            await self._to_poison(message, receipt)
            self.journal.write("poisoned", before_run=False, error=_describe(error), **where)
        else:
            with contextlib.suppress(ResourceNotFoundError, HttpResponseError):
                await self.queue.update_message(
                    message.id,
                    pop_receipt=receipt,
                    visibility_timeout=_whole(self.options.visibility_timeout),
                )
            self.journal.write("failed", error=_describe(error), **where)

    async def _delete(self, message_id: str, pop_receipt: str | None) -> bool:
        """As the host: a message someone else took meanwhile (pop receipt mismatch) is theirs to delete."""
        try:
            await self.queue.delete_message(message_id, pop_receipt=pop_receipt)
        except (ResourceNotFoundError, HttpResponseError):
            return False
        return True

    async def _to_poison(self, message: StoredMessage, pop_receipt: str | None) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self.poison.create_queue()
        await self.poison.send_message(message.content)
        await self._delete(message.id, pop_receipt)


def _body(content: Any) -> bytes:
    text = content.decode("ascii") if isinstance(content, bytes) else str(content)
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("queue message is not base64 text, as the Functions queue trigger expects") from exc


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error)[:300]}"


async def run_host(options: HostOptions, journal: Journal, stop: asyncio.Event) -> None:
    """Listen on every queue trigger of function_app.py until `stop` is set; then finish what runs."""
    queues, _ = discover()
    journal.write("started", queues=[q.queue for q in queues])
    connections = {binding.connection_string for binding in queues}
    if len(connections) > 1:
        raise RuntimeError("the stand-in host serves queue triggers of one storage account only")
    leases = LeaseKeeper(connections.pop(), options.lease)
    try:
        listeners = [QueueListener(binding, options, journal, leases) for binding in queues]
        await asyncio.gather(*(listener.run(stop) for listener in listeners))
    finally:
        await asyncio.to_thread(leases.close)
    journal.write("stopped")
