"""One span and the right outcome per queue message; the report's counts emitted exactly once."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from sync_core.runtime.messages import ScanFnoFeed, SyncPair, encode
from sync_core.runtime.report import CycleReport, FailureNote
from sync_core.telemetry import names, traced_message
from sync_core.telemetry.ids import mailbox_ref
from tests.telemetry.conftest import Captured

KEY = "https://contoso.operations.dynamics.com"
CYCLE = uuid.uuid4().hex


class Transient(Exception):
    pass


def _ctx() -> Any:
    return SimpleNamespace(report=CycleReport(), settings=SimpleNamespace(d365_url=KEY), dry_run=False)


def _pair(number: str = "ACT-1") -> str:
    return encode(
        SyncPair(kind="appointment", mailbox="alice@contoso.com", fno_key=f"usmf|{number}", cycle_id=CYCLE)
    )


@traced_message
async def _creates(ctx: Any, text: str | bytes, dequeue_count: int = 1) -> None:
    ctx.report.count("appointment", "to_exchange", "created")


@traced_message
async def _fails_for_good(ctx: Any, text: str | bytes, dequeue_count: int = 1) -> None:
    # As handlers._guard does for a permanent error: recorded, message consumed.
    reason = "F&O answered 400: Purpose 'Dinner with Jane O'Brien' is too long"
    ctx.report.fail(FailureNote("appointment", "alice@contoso.com", "usmf|ACT-1", None, reason))


@traced_message
async def _transient(ctx: Any, text: str | bytes, dequeue_count: int = 1) -> None:
    if dequeue_count >= 3:  # the last attempt is recorded as a failure, and still raised
        ctx.report.fail(
            FailureNote("appointment", "alice@contoso.com", "usmf|ACT-1", None, "ConnectionError")
        )
    raise Transient("F&O unreachable for alice@contoso.com")


def test_a_message_becomes_a_consumer_span_in_its_cycle_trace(otel: Captured) -> None:
    ctx = _ctx()
    asyncio.run(_creates(ctx, _pair(), 2))
    [span] = otel.spans()
    assert span.name == "sync sync-pair" and span.kind is SpanKind.CONSUMER
    assert span.context is not None and span.context.trace_id == int(CYCLE, 16)
    attributes = dict(span.attributes or {})
    assert attributes[names.CYCLE_ID] == CYCLE
    assert attributes[names.MAILBOX] == mailbox_ref("alice@contoso.com", KEY)
    assert attributes[names.FNO_KEY] == "usmf|ACT-1"
    assert attributes[names.ATTEMPT] == 2 and attributes[names.OUTCOME] == "ok"
    assert span.status.status_code is StatusCode.UNSET
    assert otel.total(names.ITEMS, sync__kind="appointment", sync__direction="to_exchange") == 1
    assert otel.total(names.MESSAGES, sync__outcome="ok", sync__message_type="sync-pair") == 1


def test_permanent_failure_is_counted_with_its_reason_class_only(otel: Captured) -> None:
    asyncio.run(_fails_for_good(_ctx(), _pair()))
    [span] = otel.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[names.OUTCOME] == "failed"
    [failure] = otel.points(names.FAILURES)
    assert failure.attributes == {
        names.KIND: "appointment",
        names.MAILBOX: mailbox_ref("alice@contoso.com", KEY),
        names.REASON: "F&O answered 400",
    }
    assert otel.total(names.MESSAGES, sync__outcome="failed") == 1


def test_transient_error_is_a_retry_until_the_last_attempt(otel: Captured) -> None:
    ctx = _ctx()
    for attempt in (1, 2, 3):
        with pytest.raises(Transient):
            asyncio.run(_transient(ctx, _pair(), attempt))
    outcomes = [dict(s.attributes or {})[names.OUTCOME] for s in otel.spans()]
    assert outcomes == ["retry", "retry", "failed"]
    assert all(s.status.status_code is StatusCode.ERROR for s in otel.spans())
    # The exception text can quote content: only its class is on the span.
    for span in otel.spans():
        assert dict(span.attributes or {})["error.type"] == "Transient"
        assert "alice" not in (span.status.description or "") and not span.events
    assert otel.total(names.FAILURES) == 1
    assert otel.total(names.MESSAGES, sync__outcome="retry") == 2


def test_concurrent_messages_on_one_report_count_each_item_once(otel: Captured) -> None:
    """A local cycle runs many messages side by side on one report."""

    @traced_message
    async def slow(ctx: Any, text: str | bytes, dequeue_count: int = 1) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
            ctx.report.count("appointment", "to_fno", "updated")

    async def run() -> CycleReport:
        ctx = _ctx()
        await asyncio.gather(*(slow(ctx, _pair(f"ACT-{n}")) for n in range(10)))
        return ctx.report  # type: ignore[no-any-return]

    report = asyncio.run(run())
    assert report.counts["appointment"]["to_fno"]["updated"] == 30
    assert otel.total(names.ITEMS, sync__direction="to_fno", sync__action="updated") == 30
    assert len(otel.spans()) == 10


def test_feed_scans_and_unreadable_messages_are_traced_too(otel: Captured) -> None:
    ctx = _ctx()
    asyncio.run(_creates(ctx, encode(ScanFnoFeed(kind="appointment", cycle_id=CYCLE))))
    asyncio.run(_creates(ctx, b"\x00 not json"))
    feed, unreadable = otel.spans()
    assert feed.name == "sync scan-fno" and dict(feed.attributes or {})[names.MAILBOX] == "*"
    assert unreadable.name == "sync unreadable"
    assert unreadable.context is not None and unreadable.context.trace_id != int(CYCLE, 16)


def test_broken_telemetry_never_breaks_the_sync(otel: Captured, monkeypatch: pytest.MonkeyPatch) -> None:
    from sync_core.telemetry import core

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("exporter down")

    telemetry = core.current()
    monkeypatch.setattr(telemetry.messages, "add", explode)
    monkeypatch.setattr(telemetry.items, "add", explode)
    ctx = _ctx()
    asyncio.run(_creates(ctx, _pair()))  # no exception
    assert ctx.report.counts["appointment"]["to_exchange"]["created"] == 1
