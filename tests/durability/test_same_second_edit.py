"""An F&O edit made in the same second as the product's own write is not taken for that write's echo.

F&O's edit stamps have whole seconds; the product tells its own write from a user's edit by the row's
`@odata.etag` as well (runtime/keys.row_version). The tenant clock stands still here, so every write and
edit below carries the same stamp."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.sample_data import CATEGORY, COMPANY
from tests.e2e.harness import Tenant, sample_tenant

ALICE = "alice@contoso.com"


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as value:
        value.settle()
        yield value


def _task_activity(tenant: Tenant, title: str) -> dict[str, Any]:
    [row] = [a for a in tenant.fno.all("Activities") if a.get("Purpose") == title]
    return row


def test_an_fno_edit_in_the_second_of_our_create_reaches_to_do(tenant: Tenant) -> None:
    task = tenant.graph.todo.add_task(ALICE, {"title": "Ring the printer", "categories": [CATEGORY]})
    tenant.cycle()  # the activity is created now
    row = _task_activity(tenant, "Ring the printer")
    stamp = row["LastDateTimeEdited"]
    key = {"dataAreaId": COMPANY, "ActivityNumber": str(row["ActivityNumber"])}
    tenant.fno.update("Activities", key, {"Purpose": "Ring the printer supplier"})
    edited = tenant.fno.get("Activities", key)
    assert edited is not None and edited["LastDateTimeEdited"] == stamp  # same second, same stamp

    report = tenant.cycle()
    assert report.failures == []
    [synced] = [t for t in tenant.graph.todo.tasks(ALICE) if t["id"] == task["id"]]
    assert synced["title"] == "Ring the printer supplier"


def test_an_fno_edit_in_the_second_of_our_update_reaches_outlook(tenant: Tenant) -> None:
    lunch = tenant.handles["lunch"]
    tenant.graph.update_event(ALICE, lunch, {"subject": "Lunch, moved"})
    tenant.cycle()  # written to F&O now
    [row] = [a for a in tenant.fno.all("Activities") if a.get("Purpose") == "Lunch, moved"]
    key = {"dataAreaId": COMPANY, "ActivityNumber": row["ActivityNumber"]}
    tenant.cycle()  # the feed reads the echo of that write
    tenant.fno.update("Activities", key, {"Purpose": "Lunch, moved again"})

    report = tenant.cycle()
    assert report.failures == []
    [event] = [e for e in tenant.graph.events(ALICE) if e["id"] == lunch]
    assert event["subject"] == "Lunch, moved again"
