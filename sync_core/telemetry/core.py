"""The tracer and the instruments, bound to one tracer and one meter provider.

By default they use OpenTelemetry's global providers, which `setup.configure_from_environment` points at
Application Insights; without it they are no-ops. Tests install in-memory providers with `use()`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.metrics import Counter, Histogram, MeterProvider, _Gauge
from opentelemetry.trace import Tracer, TracerProvider

from sync_core.telemetry import names


@dataclass(frozen=True)
class Telemetry:
    tracer: Tracer
    items: Counter
    conflicts: Counter
    failures: Counter
    messages: Counter
    skipped_mailboxes: Counter
    mailbox_sync_age: _Gauge
    cycle_duration: Histogram
    queue_depth: _Gauge
    latency: Histogram
    deletions_held: _Gauge
    # False while nothing exports: hooks then skip work that costs I/O (queue depths).
    exporting: bool = False

    @classmethod
    def from_providers(
        cls, tracer_provider: TracerProvider, meter_provider: MeterProvider, *, exporting: bool
    ) -> Telemetry:
        meter = meter_provider.get_meter(names.SCOPE)
        return cls(
            tracer=tracer_provider.get_tracer(names.SCOPE),
            items=meter.create_counter(names.ITEMS, unit="{item}", description="items synced"),
            conflicts=meter.create_counter(
                names.CONFLICTS, unit="{field}", description="fields decided by the conflict policy"
            ),
            failures=meter.create_counter(names.FAILURES, unit="{item}", description="recorded failures"),
            messages=meter.create_counter(names.MESSAGES, unit="{message}", description="queue messages"),
            skipped_mailboxes=meter.create_counter(
                names.SKIPPED_MAILBOXES, unit="{mailbox}", description="mailboxes skipped by a cycle"
            ),
            mailbox_sync_age=meter.create_gauge(
                names.MAILBOX_SYNC_AGE, unit="s", description="time since the mailbox was last synced"
            ),
            cycle_duration=meter.create_histogram(
                names.CYCLE_DURATION, unit="s", description="duration of planning or of a whole cycle"
            ),
            queue_depth=meter.create_gauge(
                names.QUEUE_DEPTH, unit="{message}", description="approximate messages waiting"
            ),
            latency=meter.create_histogram(
                names.LATENCY, unit="s", description="from a change on one side to its write on the other"
            ),
            deletions_held=meter.create_gauge(
                names.DELETIONS_HELD, unit="{item}", description="deletions the safety valve holds"
            ),
            exporting=exporting,
        )


_current: Telemetry | None = None
_exporting = False


def current() -> Telemetry:
    global _current
    if _current is None:
        _current = Telemetry.from_providers(
            trace.get_tracer_provider(), metrics.get_meter_provider(), exporting=_exporting
        )
    return _current


def mark_exporting() -> None:
    """Called once the global providers export somewhere: rebuild the instruments on them."""
    global _current, _exporting
    _exporting = True
    _current = None


@contextmanager
def use(telemetry: Telemetry) -> Iterator[Telemetry]:
    """Route every hook to `telemetry` (tests: in-memory exporters) and restore afterwards."""
    global _current
    previous = _current
    _current = telemetry
    try:
        yield telemetry
    finally:
        _current = previous
