"""The hooks the pipeline calls: one decorator per unit of work, one call after a pair is applied.

- `traced_plan` (plan_cycle): span "sync plan" in the cycle's trace, planning duration, skipped mailboxes,
  each mailbox's time since its last successful scan (the registry's `last_synced_at`), and one span event
  per configuration warning (once a cycle: the planner runs once a cycle, locally and in Azure).
- `traced_message` (handle_message): one CONSUMER span per queue message in the cycle's trace (the cycle
  id is in every message), its outcome, and the counts the report gained.
- `traced_cycle` (run_cycle, local): span "sync cycle" and the whole cycle's duration.
- `deletions_held` (the deletion check): items the safety valve holds per mailbox and kind, 0 on release.
- `pair_applied` (sync_pair, after the writes): the action on the span, conflicts, change-to-synced latency.

Telemetry never changes what the sync does: errors inside a hook are logged and swallowed."""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, get_current_span
from opentelemetry.util.types import AttributeValue

from sync_core.engine.latency import seconds_between, sources
from sync_core.engine.types import Decision, SideView
from sync_core.runtime.messages import MessageError, decode
from sync_core.telemetry import names
from sync_core.telemetry.core import current
from sync_core.telemetry.ids import cycle_context, mailbox_ref, reason_class
from sync_core.telemetry.report_flush import flush, marks_for

if TYPE_CHECKING:
    from sync_core.runtime.context import SyncContext
    from sync_core.runtime.report import CycleReport
    from sync_core.state.base import MailboxRecord

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def _guarded(what: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # never let telemetry break a sync
        log.warning("telemetry %s failed: %s", what, type(exc).__name__)


def _key(ctx: SyncContext) -> str:
    return ctx.settings.d365_url


def message_attributes(ctx: SyncContext, text: str | bytes) -> dict[str, AttributeValue]:
    """Ids of a queue message for its span and metrics: type, kind, mailbox ref, cycle and item ids."""
    try:
        message = decode(text)
    except MessageError:
        return {names.MESSAGE_TYPE: "unreadable", names.KIND: "?", names.MAILBOX: "?", names.CYCLE_ID: ""}
    attributes: dict[str, AttributeValue] = {
        names.MESSAGE_TYPE: str(getattr(message, "type", "?")),
        names.KIND: str(getattr(message, "kind", "?")),
        names.MAILBOX: mailbox_ref(str(getattr(message, "mailbox", "*")), _key(ctx)),
        names.CYCLE_ID: str(getattr(message, "cycle_id", "")),
    }
    for attribute, name in ((names.FNO_KEY, "fno_key"), (names.GRAPH_ID, "graph_id")):
        value = getattr(message, name, None)
        if value:
            attributes[attribute] = str(value)
    return attributes


def _own_failure(report: CycleReport, since: int, text: str | bytes) -> bool:
    """Did this message record a (final) failure? Matched by ids: other messages may fail meanwhile."""
    try:
        message = decode(text)
    except MessageError:
        return len(report.failures) > since
    ids = (
        getattr(message, "kind", "?"),
        getattr(message, "mailbox", "*"),
        getattr(message, "fno_key", None),
        getattr(message, "graph_id", None),
    )
    return any((n.kind, n.mailbox, n.fno_key, n.graph_id) == ids for n in report.failures[since:])


def traced_message(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Decorates `handle_message(ctx, text, dequeue_count)`."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        ctx, text, attempt = bound.args[0], bound.args[1], bound.args[2]
        telemetry = current()
        attributes: dict[str, AttributeValue] = {}
        with _guarded("message start"):
            attributes = message_attributes(ctx, text)
            attributes[names.ATTEMPT] = int(attempt)
            attributes[names.DRY_RUN] = bool(ctx.dry_run)
        failures_before = len(ctx.report.failures)
        name = names.SPAN_MESSAGE_PREFIX + str(attributes.get(names.MESSAGE_TYPE, "message"))
        with telemetry.tracer.start_as_current_span(
            name,
            context=cycle_context(str(attributes.get(names.CYCLE_ID, ""))),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            record_exception=False,  # exception messages can quote content: record the class only
            set_status_on_exception=False,
        ) as span:
            raised: BaseException | None = None
            try:
                return await fn(*args, **kwargs)
            except BaseException as exc:
                raised = exc
                raise
            finally:
                with _guarded("message end"):
                    failed = _own_failure(ctx.report, failures_before, text)
                    outcome = (
                        names.OUTCOME_FAILED
                        if failed
                        else (names.OUTCOME_RETRY if raised is not None else names.OUTCOME_OK)
                    )
                    _finish(span, outcome, raised)
                    telemetry.messages.add(
                        1,
                        {
                            key: attributes[key]
                            for key in (names.MESSAGE_TYPE, names.KIND, names.MAILBOX)
                            if key in attributes
                        }
                        | {names.OUTCOME: outcome},
                    )
                    flush(ctx.report, telemetry, _key(ctx))

    return wrapper


def _finish(span: Span, outcome: str, raised: BaseException | None) -> None:
    span.set_attribute(names.OUTCOME, outcome)
    if raised is not None:
        span.set_attribute("error.type", type(raised).__name__)
    if outcome != names.OUTCOME_OK:
        span.set_status(Status(StatusCode.ERROR, _description(raised)))


def _description(raised: BaseException | None) -> str:
    """No exception text (it may quote content), except the handlers' TransientError, whose text is
    `describe()`'s reason, of which reason_class keeps the content-free part."""
    if raised is None:
        return "recorded failure"
    if type(raised).__name__ == "TransientError":
        return reason_class(str(raised))
    return type(raised).__name__


def traced_plan(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Decorates `plan_cycle(ctx)`, which returns the scan messages of a new cycle."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx: SyncContext = args[0] if args else kwargs["ctx"]  # type: ignore[assignment]
        started_ns, started = time.time_ns(), time.perf_counter()
        raised: BaseException | None = None
        messages: Any = None
        try:
            messages = await fn(*args, **kwargs)
            return messages  # type: ignore[no-any-return]
        except BaseException as exc:
            raised = exc
            raise
        finally:
            with _guarded("plan"):
                _record_plan(ctx, messages or (), started_ns, time.perf_counter() - started, raised)

    return wrapper


def _record_plan(
    ctx: SyncContext, messages: Sequence[Any], started_ns: int, seconds: float, raised: BaseException | None
) -> None:
    telemetry = current()
    cycle_id = next((str(m.cycle_id) for m in messages if getattr(m, "cycle_id", "")), "")
    marks = marks_for(ctx.report)
    marks.cycle_id = cycle_id
    records = list(ctx.registry.values())
    span = telemetry.tracer.start_span(
        names.SPAN_PLAN,
        context=cycle_context(cycle_id),
        kind=SpanKind.CONSUMER,
        start_time=started_ns,
        attributes={
            names.CYCLE_ID: cycle_id,
            names.DRY_RUN: bool(ctx.dry_run),
            "sync.mailboxes": len(records),
            "sync.mailboxes_skipped": len(ctx.report.skipped_mailboxes),
            "sync.messages": len(messages),
        },
    )
    for warning in ctx.report.warnings:
        # The code only: the message names entities, never personal data, but stays in the summary.
        span.add_event(names.EVENT_CONFIG_WARNING, {names.WARNING: warning.code})
    _finish(span, names.OUTCOME_OK if raised is None else names.OUTCOME_RETRY, raised)
    span.end()
    telemetry.cycle_duration.record(seconds, {names.STAGE: "plan"})
    _set_sync_ages(ctx, records)
    flush(ctx.report, telemetry, _key(ctx))


def mailboxes_planned(ctx: SyncContext, records: Sequence[MailboxRecord]) -> None:
    """The sync age of mailboxes planned outside the timer's execution (a chunk, pipeline/fanout.py):
    the timer's own plan span only sees the mailboxes it resolved itself."""
    with _guarded("chunk"):
        _set_sync_ages(ctx, records)


def _set_sync_ages(ctx: SyncContext, records: Sequence[MailboxRecord]) -> None:
    telemetry = current()
    now = ctx.now()
    for record in records:
        # Never synced: as old as it is in scope (a mailbox skipped from its first day must go stale too).
        since = record.last_synced_at or record.first_seen_at or record.checked_at
        telemetry.mailbox_sync_age.set(
            max(0.0, (now - since).total_seconds()) if since else 0.0,
            {
                names.MAILBOX: mailbox_ref(record.mailbox, _key(ctx)),
                names.USER_ID: record.user_id,
                names.STATUS: record.status,
                names.NEVER_SYNCED: record.last_synced_at is None,
            },
        )


def traced_cycle(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Decorates `run_cycle(ctx, queues, ...)`, a whole local cycle that returns its report."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx: SyncContext = args[0] if args else kwargs["ctx"]  # type: ignore[assignment]
        started_ns, started = time.time_ns(), time.perf_counter()
        raised: BaseException | None = None
        try:
            return await fn(*args, **kwargs)
        except BaseException as exc:
            raised = exc
            raise
        finally:
            with _guarded("cycle"):
                _record_cycle(ctx, started_ns, time.perf_counter() - started, raised)

    return wrapper


def _record_cycle(ctx: SyncContext, started_ns: int, seconds: float, raised: BaseException | None) -> None:
    telemetry = current()
    report = ctx.report
    cycle_id = marks_for(report).cycle_id
    span = telemetry.tracer.start_span(
        names.SPAN_CYCLE,
        context=cycle_context(cycle_id),
        kind=SpanKind.CONSUMER,
        start_time=started_ns,
        attributes={
            names.CYCLE_ID: cycle_id,
            names.DRY_RUN: bool(ctx.dry_run),
            "sync.writes": report.writes,
            "sync.failures": len(report.failures),
            "sync.conflicts": report.conflicts,
        },
    )
    outcome = names.OUTCOME_OK if raised is None and not report.failures else names.OUTCOME_FAILED
    _finish(span, outcome, raised)
    span.end()
    telemetry.cycle_duration.record(seconds, {names.STAGE: "cycle"})
    flush(report, telemetry, _key(ctx))


def deletions_held(ctx: SyncContext, kind: str, mailbox: str, items: int) -> None:
    """The safety valve holds `items` deletions of this mailbox and kind (0: released). Counts only."""
    with _guarded("valve"):
        current().deletions_held.set(
            items, {names.KIND: kind, names.MAILBOX: mailbox_ref(mailbox, _key(ctx))}
        )


def pair_applied(
    ctx: SyncContext, kind: str, mailbox: str, decision: Decision, fno: SideView, graph: SideView
) -> None:
    """After a pair's writes: its action, its conflicts, and how long the change took to arrive."""
    with _guarded("pair"):
        telemetry = current()
        get_current_span().set_attribute(names.ACTION, decision.action.value)
        ref = mailbox_ref(mailbox, _key(ctx))
        if decision.conflicts:
            telemetry.conflicts.add(len(decision.conflicts), {names.KIND: kind, names.MAILBOX: ref})
        now = ctx.now()
        for direction, source in sources(decision, fno, graph):
            if source.modified_at is not None:
                telemetry.latency.record(
                    seconds_between(source.modified_at, now),
                    {names.KIND: kind, names.DIRECTION: direction},
                )
