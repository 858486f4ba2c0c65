"""A contact's company name by party number, many at once and cached per context (sync_core.contacts)."""

from __future__ import annotations

from simulators.fno.state import FnoState
from sync_core.contacts.cache import lookups
from sync_core.contacts.companies import party_name, party_names
from sync_core.contacts.membership import contacts_by_key
from sync_core.d365.client import FnoClient


def _seed(state: FnoState) -> None:
    for account, party, name in (
        ("US-001", "000000101", "Fabrikam Retail"),
        ("US-002", "000000102", "O'Neil & Sons"),
        ("US-009", "PN*9", "Star Traders"),
    ):
        state.add(
            "CustomersV3",
            {
                "dataAreaId": "usmf",
                "CustomerAccount": account,
                "PartyNumber": party,
                "OrganizationName": name,
            },
        )
    # Another company's customer with the same party number must not answer for usmf.
    state.add(
        "CustomersV3",
        {
            "dataAreaId": "demf",
            "CustomerAccount": "DE-001",
            "PartyNumber": "000000103",
            "OrganizationName": "X",
        },
    )
    state.add(
        "VendorsV2",
        {
            "dataAreaId": "usmf",
            "VendorAccountNumber": "V-1",
            "VendorPartyNumber": "000000201",
            "VendorOrganizationName": "Litware Supplies",
        },
    )
    state.add(
        "Prospects",
        {
            "dataAreaId": "usmf",
            "ProspectId": "PR-1",
            "ProspectPartyNumber": "000000301",
            "CompanyName": "Tailspin",
        },
    )


async def test_many_names_in_a_few_queries_each_source_in_order(fno: FnoClient, fno_state: FnoState) -> None:
    _seed(fno_state)
    wanted = ["000000101", "000000102", "000000201", "000000301", "000000103", "000000999"]
    before = len(fno_state.request_log)
    names = await party_names(fno, "usmf", wanted)
    assert names == {
        "000000101": "Fabrikam Retail",
        "000000102": "O'Neil & Sons",
        "000000201": "Litware Supplies",
        "000000301": "Tailspin",
    }
    # Customers, then vendors for what is left, then prospects: one query each for six numbers.
    assert [r["path"] for r in fno_state.request_log[before:]] == [
        "/data/CustomersV3",
        "/data/VendorsV2",
        "/data/Prospects",
    ]
    for party in wanted:
        assert names.get(party, "") == await party_name(fno, "usmf", party)


async def test_a_wildcard_party_number_is_read_on_its_own_and_never_widens(
    fno: FnoClient, fno_state: FnoState
) -> None:
    _seed(fno_state)
    names = await party_names(fno, "usmf", ["PN*9", "*", "0000001*", "bad\x00number"])
    assert names == {"PN*9": "Star Traders"}


async def test_names_are_asked_once_per_context(fno: FnoClient, fno_state: FnoState) -> None:
    _seed(fno_state)
    cache = lookups(fno)
    assert lookups(fno) is cache  # one cache per F&O client, that is per context
    await cache.prefetch_names(fno, "usmf", ["000000101", "000000201", "000000999"])
    before = len(fno_state.request_log)
    assert await cache.party_name(fno, "usmf", "000000101") == "Fabrikam Retail"
    assert await cache.party_name(fno, "USMF", "000000201 ") == "Litware Supplies"  # as F&O compares keys
    assert await cache.party_name(fno, "usmf", "000000999") == ""  # no party: remembered too
    assert await cache.party_name(fno, "usmf", "") == ""
    assert len(fno_state.request_log) == before
    fno_state.update(
        "CustomersV3",
        {"dataAreaId": "usmf", "CustomerAccount": "US-001"},
        {"OrganizationName": "Fabrikam Group"},
    )
    # A rename is seen by the next context (the next cycle), not by this one.
    assert await cache.party_name(fno, "usmf", "000000101") == "Fabrikam Retail"


async def test_contacts_by_key_in_one_query_per_company_exactly(fno: FnoClient, fno_state: FnoState) -> None:
    for company, number in (("usmf", "CP-1"), ("usmf", "CP-2"), ("usmf", "CP-3"), ("demf", "CP-1")):
        fno_state.add(
            "ContactPersons", {"dataAreaId": company, "ContactPersonId": number, "FirstName": number}
        )
    keys = ["usmf|CP-1", "usmf|CP-2", "usmf|CP-9", "usmf|cp-3", "usmf|CP-*", "demf|CP-1", "usmf|\x00"]
    before = len(fno_state.request_log)
    rows = await contacts_by_key(fno, keys)
    assert set(rows) == {"usmf|CP-1", "usmf|CP-2", "demf|CP-1"}  # case and `*` never match another row
    assert rows["usmf|CP-2"]["FirstName"] == "CP-2"
    # usmf's plain keys together, the wildcard key on its own, demf's key: three queries, not seven.
    assert len(fno_state.request_log) - before == 3
