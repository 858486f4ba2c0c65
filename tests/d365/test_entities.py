"""Typed reads/writes against the F&O stand-in, with hostile values (quotes, `*`, case, unicode)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from simulators.fno.state import FnoState
from sync_core.d365.client import FnoClient
from sync_core.d365.entities import (
    activities_changed_since,
    add_parent_link,
    contact_emails,
    find_activities_by_outlook_entry_id,
    get_activity,
    list_parent_links,
    remove_parent_link,
    workers_by_email,
)
from sync_core.d365.odata import KeyValue

HOSTILE = [
    "o'brien@example.com",
    "a*b@example.com",
    "jürgen.müller@exämple.de",
    "x+tag@example.com",
    "100%@example.com",
    "semi;colon#hash&amp=eq@example.com",
]


async def test_workers_by_email_is_case_insensitive_and_exact(fno: FnoClient, fno_state: FnoState) -> None:
    fno_state.add(
        "Workers", {"PersonnelNumber": "000010", "PrimaryContactEmail": "Ann.Lee@Contoso.com", "Name": "Ann"}
    )
    for i, address in enumerate(HOSTILE):
        fno_state.add(
            "Workers", {"PersonnelNumber": f"0001{i:02d}", "PrimaryContactEmail": address, "Name": "W"}
        )
    fno_state.add("Workers", {"PersonnelNumber": "000200", "PrimaryContactEmail": "aXXXb@example.com"})
    fno_state.add("Workers", {"PersonnelNumber": "000201", "PrimaryContactEmail": "someone@example.com"})

    asked = ["ANN.LEE@contoso.COM", *HOSTILE, "*@example.com", "bad\nline@example.com", ""]
    found = await workers_by_email(fno, asked)

    assert set(found) == {"ann.lee@contoso.com", *HOSTILE}
    assert found["ann.lee@contoso.com"]["PersonnelNumber"] == "000010"
    assert found["ann.lee@contoso.com"]["Name"] == "Ann"
    assert found["a*b@example.com"]["PersonnelNumber"] == "000101"  # not aXXXb, not someone
    assert found["o'brien@example.com"]["PersonnelNumber"] == "000100"
    assert len(fno_state.request_log) == 1


async def test_workers_by_email_batches(fno: FnoClient, fno_state: FnoState) -> None:
    for i in range(50):
        fno_state.add(
            "Workers", {"PersonnelNumber": f"{i:06d}", "PrimaryContactEmail": f"user{i}@example.com"}
        )
    found = await workers_by_email(fno, [f"User{i}@Example.com" for i in range(50)])
    assert len(found) == 50
    assert len(fno_state.request_log) == 3


async def test_duplicate_worker_address_picks_lowest_personnel_number(
    fno: FnoClient, fno_state: FnoState
) -> None:
    fno_state.add("Workers", {"PersonnelNumber": "000002", "PrimaryContactEmail": "dup@example.com"})
    fno_state.add("Workers", {"PersonnelNumber": "000001", "PrimaryContactEmail": "DUP@example.com"})
    found = await workers_by_email(fno, ["dup@example.com"])
    assert found["dup@example.com"]["PersonnelNumber"] == "000001"


async def test_activities_changed_since_filters_category_and_time(
    fno: FnoClient, fno_state: FnoState
) -> None:
    def seed(number: str, category: str, edited: str, company: str = "usmf") -> None:
        record = {"dataAreaId": company, "ActivityNumber": number, "Category": category}
        fno_state.add("Activities", {**record, "LastDateTimeEdited": edited})

    seed("A1", "Appointment", "2024-01-01T10:00:05Z")
    seed("A2", "Appointment", "2024-01-01T09:59:59Z")
    seed("A3", "Task", "2024-01-01T11:00:00Z")
    seed("A4", "Appointment", "2024-01-01T10:00:00Z", company="demf")
    seed("A5", "Appointment", "2024-01-01T10:30:00Z")

    since = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    rows = [r async for r in activities_changed_since(fno, "Appointment", since)]
    assert [r["ActivityNumber"] for r in rows] == ["A4", "A1", "A5"]
    everything = [
        r async for r in activities_changed_since(fno, "Appointment", None, select=["ActivityNumber"])
    ]
    assert [r["ActivityNumber"] for r in everything] == ["A2", "A4", "A1", "A5"]
    assert set(everything[0]) == {"ActivityNumber", "@odata.etag"}


async def test_get_activity_and_outlook_entry_id(fno: FnoClient, fno_state: FnoState) -> None:
    fno_state.add("Activities", {"dataAreaId": "demf", "ActivityNumber": "A1", "OutlookEntryId": "AAMk*Q=="})
    fno_state.add(
        "Activities", {"dataAreaId": "usmf", "ActivityNumber": "A2", "OutlookEntryId": "AAMkXYZQ=="}
    )
    fno_state.add("Activities", {"dataAreaId": "usmf", "ActivityNumber": "A3", "OutlookEntryId": "aamk*q=="})
    got = await get_activity(fno, "demf", "A1")
    assert got is not None and got["OutlookEntryId"] == "AAMk*Q=="
    assert await get_activity(fno, "usmf", "A1") is None
    found = await find_activities_by_outlook_entry_id(fno, "AAMk*Q==")
    assert [(r["dataAreaId"], r["ActivityNumber"]) for r in found] == [("demf", "A1")]
    assert await find_activities_by_outlook_entry_id(fno, "AAMk") == []
    assert await find_activities_by_outlook_entry_id(fno, "") == []


async def test_parent_links_add_is_idempotent_and_remove_tolerates_gone(
    fno: FnoClient, fno_state: FnoState
) -> None:
    await add_parent_link(fno, "demf", "A1", "ContactPerson", "CP'1", primary=True)
    await add_parent_link(fno, "demf", "A1", "ContactPerson", "CP'1", primary=True)
    await add_parent_link(fno, "demf", "A1", "Customer", "US-001", primary=False)
    await add_parent_link(fno, "usmf", "A1", "Vendor", "V-1", primary=False)
    stored = fno_state.all("ActivityParentLinks")
    assert len(stored) == 3

    links = await list_parent_links(fno, "demf", "A1")
    assert {(r["ParentType"], r["ParentId"], r["IsPrimaryLink"]) for r in links} == {
        ("ContactPerson", "CP'1", "Yes"),
        ("Customer", "US-001", "No"),
    }
    await remove_parent_link(fno, "demf", "A1", "ContactPerson", "CP'1")
    await remove_parent_link(fno, "demf", "A1", "ContactPerson", "CP'1")
    assert [(r["ParentType"], r["ParentId"]) for r in await list_parent_links(fno, "demf", "A1")] == [
        ("Customer", "US-001")
    ]
    assert all("cross-company=true" in e["query"] for e in fno_state.request_log)


async def test_parent_link_create_race_counts_as_success(fno: FnoClient, fno_state: FnoState) -> None:
    """Another worker creates the link between our existence check and our create."""
    real_get = fno.get
    calls = 0

    async def racing_get(entity_set: str, key: Mapping[str, KeyValue]) -> dict[str, Any] | None:
        nonlocal calls
        calls += 1
        result = await real_get(entity_set, key)
        if calls == 1:
            fno_state.add(
                "ActivityParentLinks",
                {"ActivityNumber": "A1", "ParentType": "Vendor", "ParentId": "V-1", "IsPrimaryLink": "No"},
            )
        return result

    fno.get = racing_get  # type: ignore[method-assign]
    await add_parent_link(fno, "usmf", "A1", "Vendor", "V-1", primary=False)
    assert len(fno_state.all("ActivityParentLinks")) == 1
    assert [e["status"] for e in fno_state.request_log] == [404, 400, 200]


async def test_contact_emails(fno: FnoClient, fno_state: FnoState) -> None:
    fno_state.add(
        "ContactPersons", {"dataAreaId": "demf", "ContactPersonId": "CP-1", "PrimaryEmailAddress": "a@x.com"}
    )
    fno_state.add(
        "ContactPersons", {"dataAreaId": "demf", "ContactPersonId": "CP-2", "PrimaryEmailAddress": ""}
    )
    fno_state.add(
        "ContactPersons", {"dataAreaId": "usmf", "ContactPersonId": "CP-3", "PrimaryEmailAddress": "c@x.com"}
    )
    fno_state.add(
        "ContactPersons", {"dataAreaId": "demf", "ContactPersonId": "CP-1X", "PrimaryEmailAddress": "z@x.com"}
    )
    got = await contact_emails(fno, "demf", ["cp-1", "CP-2", "CP-3", "CP-*"])
    assert got == {"cp-1": "a@x.com"}
