"""The chart of recent days: items synced per kind, conflicts, failures and held deletions per day, drawn as
inline SVG on the server from what the audit log and the failure list already hold (nothing is recorded
for the chart). Each chart has its numbers in a table beside it for screen readers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

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
    days: list[date]
    series: dict[str, list[int]]  # name -> count per day
    colours: dict[str, str] = field(default_factory=dict)
    bars: list[Bar] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # y, label
    labels: list[tuple[float, str]] = field(default_factory=list)  # x, day label
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def empty(self) -> bool:
        return not any(any(values) for values in self.series.values())


def day_range(now: datetime, days: int) -> list[date]:
    today = now.astimezone(UTC).date()
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def synced_chart(entries: list[AuditEntry], days: list[date]) -> Chart:
    per: dict[str, Counter[date]] = {}
    for entry in entries:
        if entry.action in SYNCED:
            per.setdefault(entry.kind, Counter())[entry.at.astimezone(UTC).date()] += 1
    series = {kind: [per[kind][d] for d in days] for kind in sorted(per)}
    return _stacked("Items synced per day, by kind", days, series)


def trouble_chart(entries: list[AuditEntry], failures: list[Failure], days: list[date]) -> Chart:
    conflicts: Counter[date] = Counter()
    held: Counter[date] = Counter()
    for entry in entries:
        day = entry.at.astimezone(UTC).date()
        if entry.detail.get("conflicts"):
            conflicts[day] += 1
        if entry.action == "deletions_held":
            held[day] += 1
    failed = Counter(f.first_at.astimezone(UTC).date() for f in failures)
    series = {
        "conflicts decided": [conflicts[d] for d in days],
        "failures still open (day first seen)": [failed[d] for d in days],
        "deletions held": [held[d] for d in days],
    }
    return _stacked("Conflicts, failures and held deletions per day", days, series)


def _stacked(title: str, days: list[date], series: dict[str, list[int]]) -> Chart:
    chart = Chart(title=title, days=days, series=series)
    chart.colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    top = _nice(max(totals, default=0))
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(1, len(days))
    for i, day in enumerate(days):
        x = LEFT + i * slot + slot * 0.15
        base = float(HEIGHT - BOTTOM)
        for name, values in series.items():
            if not values[i]:
                continue
            h = plot_h * values[i] / top
            base -= h
            chart.bars.append(
                Bar(x, base, slot * 0.7, h, chart.colours[name], f"{day.isoformat()}: {values[i]} {name}")
            )
        if len(days) <= 16 or i % 2 == 0:
            chart.labels.append((x + slot * 0.35, day.strftime("%d %b")))
    chart.ticks = [(HEIGHT - BOTTOM - plot_h * v / top, str(v)) for v in (0, top // 2, top) if v or top]
    return chart


def _nice(value: int) -> int:
    """A round top for the axis (at least 2, so its half is a whole number)."""
    for step in (2, 4, 10, 20, 40, 100, 200, 400, 1000, 2000, 4000, 10000):
        if value <= step:
            return step
    return ((value + 9999) // 10000) * 10000
