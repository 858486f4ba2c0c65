"""Every company: items created from Outlook go to the company of each mailbox, taken
from SYNC_MAILBOX_COMPANIES (a mailbox or a group) or from the worker's current employment
(SYNC_COMPANY_SOURCE=employment), else SYNC_COMPANY; two companies end to end against the stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.sample_data import COMPANY
from sync_core.app import open_store
from sync_core.state.base import MailboxRecord
from tests.e2e.deletion_helpers import add_event
from tests.e2e.harness import TOKEN, Tenant, sample_tenant

ALICE, BOB, CAROL = "alice@contoso.com", "bob@contoso.com", "carol@contoso.com"
OTHER = "demf"
GROUP = "8d0f4a1e-2b7c-4c55-9a0e-5f1d2c3b4a60"
NEVER = "2154-12-31T23:59:59Z"  # F&O's open end date


@pytest.fixture
def two_companies(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as tenant:
        tenant.fno.add("LegalEntities", {"LegalEntityId": OTHER.upper(), "Name": "Contoso Germany"})
        yield tenant


def _employ(tenant: Tenant, number: str, company: str, start: str, end: str = NEVER) -> None:
    tenant.fno.add(
        "EmployeesV2",
        {
            "PersonnelNumber": number,
            "EmploymentLegalEntityId": company.upper(),
            "EmploymentId": f"{number}-{company}",
            "EmploymentStartDate": start,
            "EmploymentEndDate": end,
        },
    )


def _records(tenant: Tenant) -> dict[str, MailboxRecord]:
    import asyncio

    async def read() -> dict[str, MailboxRecord]:
        store = open_store(tenant.settings())
        try:
            return {r.mailbox: r for r in await store.list_mailboxes()}
        finally:
            await store.close()

    return asyncio.run(read())


def _activity_of(tenant: Tenant, subject: str) -> dict[str, Any]:
    [row] = [a for a in tenant.fno.all("Activities") if a.get("Purpose") == subject]
    return row


def _new_events(tenant: Tenant) -> None:
    start = tenant.now + timedelta(days=2)
    for mailbox in (ALICE, BOB, CAROL):
        add_event(tenant, mailbox, f"Planning with {mailbox.split('@')[0]}", start)


def test_the_company_comes_from_the_workers_current_employment(two_companies: Tenant) -> None:
    tenant = two_companies
    _employ(tenant, "000101", OTHER, "2020-01-01T00:00:00Z", "2024-12-31T00:00:00Z")  # alice left demf
    _employ(tenant, "000101", COMPANY, "2025-01-01T00:00:00Z")
    _employ(tenant, "000102", OTHER, "2019-05-01T00:00:00Z")  # bob works for demf
    tenant.extra_env = {"SYNC_COMPANY_SOURCE": "employment"}
    tenant.cycle()
    records = _records(tenant)
    # carol has no employment row: SYNC_COMPANY.
    assert {m: records[m].company for m in (ALICE, BOB, CAROL)} == {
        ALICE: COMPANY,
        BOB: OTHER,
        CAROL: COMPANY,
    }

    _new_events(tenant)
    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert report.failures == []
    assert _activity_of(tenant, "Planning with bob")["dataAreaId"] == OTHER
    assert _activity_of(tenant, "Planning with alice")["dataAreaId"] == COMPANY
    assert _activity_of(tenant, "Planning with carol")["dataAreaId"] == COMPANY

    # An idle cycle within the day asks F&O for no employment again.
    mark = len(tenant.fno.request_log)
    tenant.advance(minutes=5)
    tenant.cycle()
    assert not [r for r in tenant.fno.request_log[mark:] if "EmployeesV2" in r["path"]]


def test_the_map_names_mailboxes_and_groups_and_wins_over_the_employment(two_companies: Tenant) -> None:
    tenant = two_companies
    _employ(tenant, "000102", COMPANY, "2019-05-01T00:00:00Z")  # bob's employment says usmf ...
    tenant.graph.add_group(GROUP, [CAROL])
    tenant.extra_env = {
        "SYNC_COMPANY_SOURCE": "employment",
        "SYNC_MAILBOX_COMPANIES": f"{BOB}={OTHER.upper()}, {GROUP}={OTHER}",  # ... the map says demf
    }
    _new_events(tenant)
    tenant.cycle()
    tenant.advance(minutes=5)
    tenant.cycle()
    records = _records(tenant)
    assert {m: records[m].company for m in (ALICE, BOB, CAROL)} == {ALICE: COMPANY, BOB: OTHER, CAROL: OTHER}
    assert _activity_of(tenant, "Planning with bob")["dataAreaId"] == OTHER
    assert _activity_of(tenant, "Planning with carol")["dataAreaId"] == OTHER
    assert _activity_of(tenant, "Planning with alice")["dataAreaId"] == COMPANY


def test_imported_e_mail_goes_to_the_mailboxs_company(two_companies: Tenant) -> None:
    tenant = two_companies
    tenant.extra_env = {"SYNC_MAILBOX_COMPANIES": f"{ALICE}={OTHER}"}
    tenant.graph.add_message(
        ALICE,
        {
            "subject": "Order for Germany",
            "receivedDateTime": "2026-03-19T08:15:00Z",
            "categories": ["D365 Import"],
            "from": {"emailAddress": {"address": "orders@fabrikam.com", "name": "Fabrikam"}},
            "toRecipients": [{"emailAddress": {"address": ALICE, "name": "Alice"}}],
        },
    )
    tenant.cycle()
    imported = [a for a in tenant.fno.all("Activities") if a.get("Purpose") == "Order for Germany"]
    assert [a["dataAreaId"] for a in imported] == [OTHER]


def test_the_fno_stand_in_shows_other_companies_only_across_companies(two_companies: Tenant) -> None:
    """As F&O does: without `cross-company=true` a query sees the caller's default company only."""
    tenant = two_companies
    add = {"Category": "Task", "Purpose": "Only in demf", "dataAreaId": OTHER}
    tenant.fno.add("Activities", add)
    url = tenant.settings().d365_url + "/data/Activities"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    query = {"$filter": "Purpose eq 'Only in demf'"}
    plain = httpx.get(url, params=query, headers=headers).json()["value"]
    across = httpx.get(url, params={**query, "cross-company": "true"}, headers=headers).json()["value"]
    assert plain == [] and [a["dataAreaId"] for a in across] == [OTHER]
