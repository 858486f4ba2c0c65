"""The sample tenant with a fault layer in front of both stand-ins, settled, and the quiet-cycle check the
durability tests end with (shared by the lost-answer tests of every kind)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.faults import Faults
from tests.e2e.harness import Tenant, sample_tenant


@pytest.fixture
def faults() -> Faults:
    return Faults(seed=13)


@pytest.fixture
def tenant(tmp_path: Path, faults: Faults) -> Iterator[Tenant]:
    with sample_tenant(tmp_path, faults=faults) as value:
        value.settle()
        yield value


def quiet(tenant: Tenant) -> None:
    """Five minutes on, a cycle with nothing failed, nothing waiting for a retry and nothing written."""
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == [] and report.waiting_for_retry == 0
    assert tenant.writes_since(mark) == []
