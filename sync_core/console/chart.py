"""The chart of recent sync cycles: items synced per kind, conflicts, failures and held deletions, and the sync
latency (median and 95th percentile), per cycle, drawn as inline SVG on the server from what the audit log
and the failure list already hold. The pair job's audit entries carry their cycle id and latency; entries
without a cycle (older ones, the e-mail import, the safety valve, changes pushed by notifications) are
counted per hour. Each chart has its numbers in a table beside it for screen readers."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sync_core.state.base import AuditEntry, Failure

# Decisions of the pair job (engine/types.py ActionKind) and the e-mail import that wrote something.
SYNCED = frozenset(
    {
        "create_in_graph",
        "create_in_fno",
        "link",
        "update",
        "delete_in_graph",
        "delete_in_fno",
        "unlink",
        "forget",
        "imported-to-fno",
    }
)
# Okabe-Ito: told apart with every common colour vision deficiency, dark enough on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 40, 28, 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str  # the tooltip and accessible name


@dataclass
class Chart:
    title: str
    periods: list[Period]
    series: dict[str, list[int]]  # name -> value per period
    colours: dict[str, str] = field(default_factory=dict)
    bars: list[Bar] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # y, label
    labels: list[tuple[float, str]] = field(default_factory=list)  # x, day label
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def empty(self) -> bool:
        return not any(any(values) for values in self.series.values())


# Bars stay readable up to this many periods; older ones are left off the chart (the page says so).
MAX_PERIODS = 48
_HOUR = "hour:"
# The webhook receiver gives each notification batch its own id (notifications/receiver.py): not a cycle.
_NOT_A_CYCLE = "notification-"


@dataclass(frozen=True)
class Period:
    """One bar of the charts: a planning cycle, or an hour of writes outside one."""

    key: str
    start: datetime
    cycle_id: str = ""

    @property
    def label(self) -> str:
        when = self.start.strftime("%Y-%m-%d %H:%M UTC")
        return f"{when}, cycle {self.cycle_id[:8]}" if self.cycle_id else f"{when}, hour"

    @property
    def short(self) -> str:
        return self.start.strftime("%d %b %H:%M")


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def _hour(at: datetime) -> datetime:
    return _utc(at).replace(minute=0, second=0, microsecond=0)


def period_key(entry: AuditEntry) -> str:
    if entry.cycle_id and not entry.cycle_id.startswith(_NOT_A_CYCLE):
        return entry.cycle_id
    return _HOUR + _hour(entry.at).isoformat()


def periods(entries: list[AuditEntry], limit: int = MAX_PERIODS) -> tuple[list[Period], bool]:
    """The newest `limit` periods, oldest first (a cycle starts at its first entry), and whether any were cut."""
    starts: dict[str, datetime] = {}
    for entry in entries:
        key = period_key(entry)
        at = _hour(entry.at) if key.startswith(_HOUR) else _utc(entry.at)
        if key not in starts or at < starts[key]:
            starts[key] = at
    ordered = sorted(starts.items(), key=lambda item: item[1])
    found = [Period(k, at, "" if k.startswith(_HOUR) else k) for k, at in ordered[-limit:]]
    return found, len(ordered) > limit


def _index(found: list[Period]) -> dict[str, int]:
    return {p.key: i for i, p in enumerate(found)}


def synced_chart(entries: list[AuditEntry], found: list[Period]) -> Chart:
    index = _index(found)
    per: dict[str, Counter[int]] = {}
    for entry in entries:
        i = index.get(period_key(entry))
        if entry.action in SYNCED and i is not None:
            per.setdefault(entry.kind, Counter())[i] += 1
    series = {kind: [per[kind][i] for i in range(len(found))] for kind in sorted(per)}
    return _stacked("Items synced per cycle, by kind", found, series)


def _failure_period(found: list[Period], at: datetime) -> int | None:
    """The period a failure was first seen in: the last one started by then, if within an hour of it."""
    at = _utc(at)
    chosen = None
    for i, p in enumerate(found):
        if p.start <= at:
            chosen = i
    if chosen is None or at - found[chosen].start > timedelta(hours=1):
        return None
    return chosen


def trouble_chart(entries: list[AuditEntry], failures: list[Failure], found: list[Period]) -> Chart:
    index = _index(found)
    conflicts: Counter[int] = Counter()
    held: Counter[int] = Counter()
    for entry in entries:
        i = index.get(period_key(entry))
        if i is None:
            continue
        if entry.detail.get("conflicts"):
            conflicts[i] += 1
        if entry.action == "deletions_held":
            held[i] += 1
    failed: Counter[int] = Counter()
    for failure in failures:
        j = _failure_period(found, failure.first_at)
        if j is not None:
            failed[j] += 1
    n = range(len(found))
    series = {
        "conflicts decided": [conflicts[i] for i in n],
        "failures still open (cycle first seen)": [failed[i] for i in n],
        "deletions held": [held[i] for i in n],
    }
    return _stacked("Conflicts, failures and held deletions per cycle", found, series)


def nearest_rank(values: list[float], share: float) -> float:
    """The nearest-rank percentile of a non-empty list (`share` 0.5: median, 0.95: 95th)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def latency_chart(entries: list[AuditEntry], found: list[Period]) -> Chart:
    """Seconds from a change on its source side to our write, per cycle (entries without a time are left out)."""
    index = _index(found)
    waited: dict[int, list[float]] = {}
    for entry in entries:
        i = index.get(period_key(entry))
        if entry.latency_s is not None and i is not None:
            waited.setdefault(i, []).append(entry.latency_s)
    n = range(len(found))
    series = {
        "median seconds": [round(nearest_rank(waited[i], 0.5)) if i in waited else 0 for i in n],
        "95th percentile seconds": [round(nearest_rank(waited[i], 0.95)) if i in waited else 0 for i in n],
    }
    return _grouped("Sync latency per cycle, seconds", found, series)


def _stacked(title: str, found: list[Period], series: dict[str, list[int]]) -> Chart:
    """Bars stacked per period (counts that add up)."""
    chart, top, slot = _frame(
        title, found, series, [sum(v[i] for v in series.values()) for i in range(len(found))]
    )
    plot_h = HEIGHT - BOTTOM - TOP
    for i, period in enumerate(found):
        x = LEFT + i * slot + slot * 0.15
        base = float(HEIGHT - BOTTOM)
        for name, values in series.items():
            if not values[i]:
                continue
            h = plot_h * values[i] / top
            base -= h
            chart.bars.append(
                Bar(x, base, slot * 0.7, h, chart.colours[name], f"{period.label}: {values[i]} {name}")
            )
    return chart


def _grouped(title: str, found: list[Period], series: dict[str, list[int]]) -> Chart:
    """Bars side by side per period (values that do not add up, such as percentiles)."""
    peaks = [max((v[i] for v in series.values()), default=0) for i in range(len(found))]
    chart, top, slot = _frame(title, found, series, peaks)
    plot_h = HEIGHT - BOTTOM - TOP
    width = slot * 0.7 / max(1, len(series))
    for i, period in enumerate(found):
        for k, (name, values) in enumerate(series.items()):
            if not values[i]:
                continue
            h = plot_h * values[i] / top
            x = LEFT + i * slot + slot * 0.15 + k * width
            chart.bars.append(
                Bar(
                    x,
                    HEIGHT - BOTTOM - h,
                    width,
                    h,
                    chart.colours[name],
                    f"{period.label}: {values[i]} {name}",
                )
            )
    return chart


def _frame(
    title: str, found: list[Period], series: dict[str, list[int]], heights: list[int]
) -> tuple[Chart, int, float]:
    """The chart with its colours, axis ticks and period labels; the axis top and the width of a period."""
    chart = Chart(title=title, periods=found, series=series)
    chart.colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    top = _nice(max(heights, default=0))
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(1, len(found))
    step = max(1, math.ceil(len(found) / 12))  # at most about 12 labels fit under the axis
    for i, period in enumerate(found):
        if i % step == 0:
            chart.labels.append((LEFT + i * slot + slot * 0.5, period.short))
    chart.ticks = [(HEIGHT - BOTTOM - plot_h * v / top, str(v)) for v in (0, top // 2, top) if v or top]
    return chart, top, slot


def _nice(value: int) -> int:
    """A round top for the axis (at least 2, so its half is a whole number)."""
    for step in (2, 4, 10, 20, 40, 100, 200, 400, 1000, 2000, 4000, 10000, 20000, 40000, 100000):
        if value <= step:
            return step
    return ((value + 99999) // 100000) * 100000
