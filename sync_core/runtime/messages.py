"""Queue messages (versioned JSON). A message names what to look at, never what to write:
the handler reads the current state, so duplicated, reordered or replayed messages are harmless."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    v: Literal[1] = 1
    cycle_id: str = ""


class ScanMailbox(_Message):
    type: Literal["scan-mailbox"] = "scan-mailbox"
    kind: str
    mailbox: str
    # Set by the webhook: when the notification was queued. A complete read of the feed that began at or
    # after it covers the change, so the scan is skipped (pipeline/poll_schedule.py covered).
    queued_at: datetime | None = None


class ScanFnoFeed(_Message):
    type: Literal["scan-fno"] = "scan-fno"
    kind: str


class PlanMailboxes(_Message):
    """A chunk of the mailboxes in scope: the scan queue's function refreshes their registry
    records, queues their scans, then keeps their subscriptions. The timer sends one per chunk instead of
    doing that for the whole tenant itself. A redelivered chunk is harmless: fresh records are not read
    again, and the scans it queues again are idempotent."""

    type: Literal["plan-mailboxes"] = "plan-mailboxes"
    mailboxes: tuple[str, ...]


class CarriedGraphItem(BaseModel):
    """An Exchange item as the mailbox feed listed it (runtime/kind.py GraphItem)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    item: dict[str, Any]
    version: str = ""
    stamp: str | None = None


class SyncPair(_Message):
    type: Literal["sync-pair"] = "sync-pair"
    kind: str
    mailbox: str
    fno_key: str | None = None
    graph_id: str | None = None
    # Set only by the mailbox's deletion check after the safety valve let it through (pipeline/valve.py):
    # without it a pair whose one side vanished is left alone.
    allow_delete: bool = False
    # The changed item as the feed read it, and when the scan began reading: the pair job of a linked pair
    # decides on it without reading it again, unless the link was synced after that (it may be older).
    graph_item: CarriedGraphItem | None = None
    fno_row: dict[str, Any] | None = None
    observed_at: datetime | None = None


class ImportMessage(_Message):
    """Import one Outlook message marked with the import category (one way: Exchange to F&O)."""

    type: Literal["import-message"] = "import-message"
    kind: str
    mailbox: str
    graph_id: str


AnyMessage = ScanMailbox | ScanFnoFeed | SyncPair | ImportMessage | PlanMailboxes
Message = Annotated[AnyMessage, Field(discriminator="type")]
_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)

# Storage queue messages hold 64 KiB, 48 KiB of payload after base64; ids are far below that.
MAX_MESSAGE_BYTES = 48 * 1024


class MessageError(ValueError):
    """A queue message that cannot be understood (it will never succeed: do not retry it)."""


def encode(message: AnyMessage) -> str:
    text = message.model_dump_json()
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise MessageError(f"{message.type} message is {len(text)} bytes, over the queue limit")
    return text


def fits(message: AnyMessage) -> bool:
    try:
        text = message.model_dump_json()
    except ValueError:  # a carried item that cannot be serialised: the pair job reads it (and fails alone)
        return False
    return len(text.encode()) <= MAX_MESSAGE_BYTES


def decode(text: str | bytes) -> AnyMessage:
    try:
        return _ADAPTER.validate_json(text)
    except ValueError as exc:
        raise MessageError(f"not a sync message: {str(exc).splitlines()[0]}") from exc
