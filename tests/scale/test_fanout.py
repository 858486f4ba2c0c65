"""The planner's chunked fan-out, on the sample tenant with a chunk of one or two mailboxes:
the same sync as planning in one go, scans before the upkeep, a redelivered chunk costs nothing, and the
F&O feeds' first read waits until every mailbox is registered."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sync_core.app import open_context
from sync_core.pipeline import fanout, plan
from sync_core.pipeline.handlers import handle_message
from sync_core.runtime.messages import AnyMessage, PlanMailboxes, ScanFnoFeed, encode
from sync_core.runtime.queues import InProcessQueues
from tests.e2e.deletion_helpers import links
from tests.e2e.harness import Tenant, sample_tenant


@pytest.fixture
def chunked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    monkeypatch.setattr(plan, "CHUNK_MAILBOXES", 2)  # the sample tenant's 4 mailboxes: two chunks
    with sample_tenant(tmp_path / "chunked") as tenant:
        yield tenant


def _synced(tenant: Tenant) -> Counter[tuple[str, str]]:
    """Links per kind and mailbox (F&O numbers of items created from Outlook follow the order of work)."""
    return Counter((link.kind, link.mailbox) for link in links(tenant) if not link.is_claim)


def _run(tenant: Tenant, cycles: int) -> None:
    for _ in range(cycles):
        assert tenant.cycle().failures == []
        tenant.advance(minutes=5)


def test_chunks_sync_what_one_plan_syncs(chunked: Tenant, tmp_path: Path) -> None:
    with sample_tenant(tmp_path / "inline") as inline:
        _run(inline, 2)
        expected = _synced(inline)
    _run(chunked, 3)  # the first F&O read waits one cycle for the registry (see the go-live test)
    assert expected and _synced(chunked) == expected


def test_go_live_first_fno_read_waits_for_the_registry(chunked: Tenant) -> None:
    planned: list[list[AnyMessage]] = []
    original = plan._fan_out

    async def spy(*args: Any) -> Any:
        result = await original(*args)
        planned.append(result[0])
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plan, "_fan_out", spy)
        _run(chunked, 2)
    first, second = planned
    assert not any(isinstance(m, ScanFnoFeed) for m in first)  # no feed: nobody registered yet
    assert {m.mailboxes for m in first if isinstance(m, PlanMailboxes)} == {
        ("alice@contoso.com", "bob@contoso.com"),
        ("carol@contoso.com", "dave@contoso.com"),
    }
    assert any(isinstance(m, ScanFnoFeed) for m in second)


def test_scans_go_out_before_the_upkeep(chunked: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []

    async def upkeep(ctx: Any, records: Sequence[Any], *_known: Any) -> None:
        events.append(f"subscriptions {len(records)}")

    original = InProcessQueues.send

    async def send(self: InProcessQueues, queue: str, messages: Sequence[AnyMessage]) -> None:
        events.append(f"send {messages[0].type}" if messages else "send nothing")
        await original(self, queue, messages)

    monkeypatch.setattr(plan, "ensure_subscriptions", upkeep)
    monkeypatch.setattr(fanout, "ensure_subscriptions", upkeep)
    monkeypatch.setattr(InProcessQueues, "send", send)
    chunked.cycle(dry_run=True)  # a dry run plans into InProcessQueues
    # The timer's chunks (and the shared mailbox's scans), then each chunk's scans before its subscriptions.
    assert events[:2] == ["send plan-mailboxes", "subscriptions 1"]  # the shared-list mailbox
    chunk_events = [e for e in events[2:] if not e.startswith("send sync-pair")]
    assert chunk_events[:4] == [
        "send scan-mailbox",
        "subscriptions 2",
        "send scan-mailbox",
        "subscriptions 2",
    ]


def test_a_redelivered_chunk_asks_no_service_again(chunked: Tenant) -> None:
    _run(chunked, 2)
    message = PlanMailboxes(mailboxes=("alice@contoso.com", "bob@contoso.com"), cycle_id="again")
    mark = chunked.mark_logs()

    async def deliver_twice() -> InProcessQueues:
        queues = InProcessQueues()
        settings = chunked.settings()
        async with open_context(settings, queues, clock=lambda: chunked.now) as ctx:
            for attempt in (1, 2):
                await handle_message(ctx, encode(message), attempt)
        return queues

    queues = asyncio.run(deliver_twice())
    graph, fno = chunked.graph.request_log[mark[0] :], chunked.fno.request_log[mark[1] :]
    assert graph == [] and fno == []  # both mailboxes fresh: no user, settings or worker read
    scans = queues.take(chunked.settings().scan_queue, 100)
    assert len(scans) == 2 * len({text for text, _ in scans})  # the same scans twice: idempotent


def test_chunks_stay_within_a_queue_message() -> None:
    addresses = [f"{'x' * 200}{n}@contoso.com" for n in range(500)]
    chunks = plan.chunks(addresses)
    assert [a for c in chunks for a in c] == addresses
    for chunk in chunks:
        assert len(chunk) <= plan.CHUNK_MAILBOXES
        encode(PlanMailboxes(mailboxes=chunk))  # raises when over the queue limit
