from __future__ import annotations

import pytest

from sync_core.runtime.messages import MessageError, ScanFnoFeed, ScanMailbox, SyncPair, decode, encode
from sync_core.runtime.queues import InProcessQueues


@pytest.mark.parametrize(
    "message",
    [
        ScanMailbox(kind="appointment", mailbox="a@contoso.com", cycle_id="c1"),
        ScanFnoFeed(kind="appointment"),
        SyncPair(kind="appointment", mailbox="a@contoso.com", graph_id="AAMk/+x==", fno_key="usmf|ACT-1"),
    ],
)
def test_round_trip(message: ScanMailbox | ScanFnoFeed | SyncPair) -> None:
    assert decode(encode(message)) == message
    assert decode(encode(message).encode()) == message


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        '{"type": "delete-everything"}',
        '{"type": "sync-pair"}',
        '{"v": 2, "type": "scan-fno", "kind": "x"}',
    ],
)
def test_unreadable_messages_are_rejected_clearly(text: str) -> None:
    with pytest.raises(MessageError, match="not a sync message"):
        decode(text)


def test_oversized_message_is_refused() -> None:
    with pytest.raises(MessageError, match="over the queue limit"):
        encode(SyncPair(kind="appointment", mailbox="a@contoso.com", graph_id="x" * 50_000))


async def test_in_process_queue_keeps_order_and_counts_attempts() -> None:
    queues = InProcessQueues()
    first, second = ScanFnoFeed(kind="a"), ScanFnoFeed(kind="b")
    await queues.send("q", [first, second])
    assert queues.depth("q") == 2
    text, count = queues.take("q", 1)[0]
    assert decode(text) == first and count == 1
    queues.requeue("q", text, count)
    assert [(decode(t), c) for t, c in queues.take("q", 5)] == [(second, 1), (first, 2)]
