"""Telemetry captured in memory: the hooks are routed to an SDK tracer and meter with in-memory readers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sync_core.telemetry import Telemetry, use


@dataclass
class Point:
    attributes: dict[str, Any]
    value: float  # counters and gauges: the value; histograms: the sum
    count: int = 1  # histograms: number of recordings


@dataclass
class Captured:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self, name_prefix: str = "") -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name.startswith(name_prefix)]

    def points(self, metric: str) -> list[Point]:
        data = self.reader.get_metrics_data()
        found: list[Point] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name != metric:
                        continue
                    for point in item.data.data_points:
                        if isinstance(point, HistogramDataPoint):
                            found.append(Point(dict(point.attributes or {}), point.sum, point.count))
                        elif isinstance(point, NumberDataPoint):
                            found.append(Point(dict(point.attributes or {}), point.value))
        return found

    def total(self, metric: str, **attributes: Any) -> float:
        """Sum of a counter (cumulative) over the points whose attributes include the given ones."""
        return sum(
            p.value
            for p in self.points(metric)
            if all(p.attributes.get(k.replace("__", ".")) == v for k, v in attributes.items())
        )


@pytest.fixture
def otel() -> Iterator[Captured]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    with use(Telemetry.from_providers(tracer_provider, meter_provider, exporting=True)):
        yield Captured(exporter, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()
