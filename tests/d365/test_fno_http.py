"""FnoClient over real HTTP against the F&O stand-in: paging, cross-company, throttling, errors."""

from __future__ import annotations

import pytest

from simulators.fno.state import FnoState
from simulators.serve import BackgroundServer
from sync_core.auth import StaticTokenSource
from sync_core.d365.client import FnoClient
from sync_core.d365.errors import FnoError, FnoNotFound, FnoThrottled
from tests.d365.conftest import TOKEN, RecordedSleeps


def seed_workers(state: FnoState, count: int) -> None:
    for i in range(count):
        state.add("Workers", {"PersonnelNumber": f"{i:06d}", "PrimaryContactEmail": f"w{i}@example.com"})


def cross_company_everywhere(state: FnoState) -> bool:
    return all("cross-company=true" in entry["query"] for entry in state.request_log)


async def test_paging_follows_next_links(fno_state: FnoState, fno_server: BackgroundServer) -> None:
    seed_workers(fno_state, 10)
    async with FnoClient(fno_server.url, StaticTokenSource(TOKEN), page_size=3) as client:
        rows = [
            row
            async for row in client.query("Workers", select=["PersonnelNumber"], orderby="PersonnelNumber")
        ]
    assert [row["PersonnelNumber"] for row in rows] == [f"{i:06d}" for i in range(10)]
    assert len(fno_state.request_log) == 4
    assert cross_company_everywhere(fno_state)


async def test_server_side_page_size_and_top(fno: FnoClient, fno_state: FnoState) -> None:
    fno_state.page_size = 4
    seed_workers(fno_state, 9)
    assert len([row async for row in fno.query("Workers")]) == 9
    assert len(fno_state.request_log) == 3
    assert [
        r["PersonnelNumber"] async for r in fno.query("Workers", top=5, orderby="PersonnelNumber desc")
    ] == [f"{i:06d}" for i in (8, 7, 6, 5, 4)]


async def test_company_data_outside_default_company(fno: FnoClient, fno_state: FnoState) -> None:
    fno_state.add("Activities", {"dataAreaId": "demf", "ActivityNumber": "ACT-1", "Category": "Task"})
    key = {"dataAreaId": "demf", "ActivityNumber": "ACT-1"}
    assert [r["dataAreaId"] async for r in fno.query("Activities")] == ["demf"]
    got = await fno.get("Activities", key)
    assert got is not None and got["Category"] == "Task"
    await fno.update("Activities", key, {"Purpose": "Call back", "Priority": "High"})
    stored = fno_state.get("Activities", key)
    assert stored is not None and stored["Purpose"] == "Call back" and stored["Priority"] == "High"
    created = await fno.create(
        "Activities", {"dataAreaId": "demf", "Category": "Appointment", "Purpose": "x"}
    )
    assert created["ActivityNumber"] and created["dataAreaId"] == "demf"
    await fno.delete("Activities", key)
    await fno.delete("Activities", key)  # already gone
    assert fno_state.get("Activities", key) is None
    with pytest.raises(FnoNotFound):
        await fno.update("Activities", key, {"Purpose": "y"})
    assert await fno.get("Activities", key) is None
    assert [e["method"] for e in fno_state.request_log].count("PATCH") == 2
    assert cross_company_everywhere(fno_state)


async def test_throttling_is_retried_with_retry_after(
    fno: FnoClient, fno_state: FnoState, sleeps: RecordedSleeps
) -> None:
    seed_workers(fno_state, 2)
    fno_state.throttle_next(2, retry_after=5)
    assert len([row async for row in fno.query("Workers")]) == 2
    assert sleeps.delays == [5.0, 5.0]
    assert fno.stats == {"requests": 3, "throttled": 2, "retries": 2}
    assert [e["status"] for e in fno_state.request_log] == [429, 429, 200]


async def test_throttling_gives_up_after_max_attempts(
    fno_server: BackgroundServer, fno_state: FnoState, sleeps: RecordedSleeps
) -> None:
    fno_state.throttle_next(10, retry_after=1)
    async with FnoClient(fno_server.url, StaticTokenSource(TOKEN), sleep=sleeps, max_attempts=3) as client:
        with pytest.raises(FnoThrottled) as info:
            await client.get("Workers", {"PersonnelNumber": "000001"})
    assert info.value.status == 429
    assert len(fno_state.request_log) == 3


async def test_bad_query_becomes_fno_error(fno: FnoClient) -> None:
    with pytest.raises(FnoError) as info:
        _ = [row async for row in fno.query("Activities", filter="Category eq 'Task'")]
    assert info.value.status == 400
    assert "Activities" in info.value.message


async def test_wrong_token_is_an_error(fno_server: BackgroundServer, sleeps: RecordedSleeps) -> None:
    async with FnoClient(fno_server.url, StaticTokenSource("nope"), sleep=sleeps) as client:
        with pytest.raises(FnoError) as info:
            await client.get("Workers", {"PersonnelNumber": "1"})
    assert info.value.status == 401


async def test_conditional_update_lands_only_on_the_etag_it_names(
    fno: FnoClient, fno_state: FnoState
) -> None:
    fno_state.add("Activities", {"dataAreaId": "usmf", "ActivityNumber": "ACT-7", "Category": "Task"})
    key = {"dataAreaId": "usmf", "ActivityNumber": "ACT-7"}
    row = await fno.get("Activities", key)
    assert row is not None
    etag = row["@odata.etag"]
    await fno.update("Activities", key, {"Purpose": "First"}, if_match=etag)
    with pytest.raises(FnoError) as refused:
        await fno.update("Activities", key, {"Purpose": "Second"}, if_match=etag)
    assert refused.value.status == 412
    after = await fno.get("Activities", key)
    assert after is not None and after["Purpose"] == "First"  # the refused write changed nothing
    assert fno_state.request_log[-2]["if_match"] == etag
