"""PartyResolver against the F&O stand-in: docs/spec.md §3.5 order, batching, caching, hostile addresses."""

from __future__ import annotations

from simulators.fno.state import FnoState
from sync_core.d365.client import FnoClient
from sync_core.d365.parties import PartyRef, PartyResolver


def contact(state: FnoState, cid: str, email: str, party: str, company: str = "usmf") -> None:
    state.add(
        "ContactPersons",
        {
            "dataAreaId": company,
            "ContactPersonId": cid,
            "PrimaryEmailAddress": email,
            "ContactPersonPartyNumber": party,
        },
    )


def customer(state: FnoState, account: str, email: str, party: str, company: str = "usmf") -> None:
    state.add(
        "CustomersV3",
        {
            "dataAreaId": company,
            "CustomerAccount": account,
            "PrimaryContactEmail": email,
            "PartyNumber": party,
        },
    )


def vendor(state: FnoState, account: str, email: str, party: str) -> None:
    state.add(
        "VendorsV2",
        {"VendorAccountNumber": account, "PrimaryEmailAddress": email, "VendorPartyNumber": party},
    )


def prospect(state: FnoState, pid: str, email: str, party: str) -> None:
    state.add("Prospects", {"ProspectId": pid, "PrimaryEmailAddress": email, "ProspectPartyNumber": party})


def party_email(state: FnoState, party: str, address_id: str, locator: str, kind: str = "Email") -> None:
    state.add(
        "PartyContactsV3",
        {"PartyNumber": party, "ElectronicAddressId": address_id, "Type": kind, "Locator": locator},
    )


async def test_first_match_wins_in_spec_order(fno: FnoClient, fno_state: FnoState) -> None:
    shared = "shared@example.com"
    contact(fno_state, "CP-1", shared, "P-CP1")
    customer(fno_state, "C-1", shared, "P-C1")
    customer(fno_state, "C-2", "Cust@Example.com", "P-C2")
    vendor(fno_state, "V-1", "cust@example.com", "P-V1")
    vendor(fno_state, "V-2", "vend@example.com", "P-V2")
    prospect(fno_state, "PR-1", "vend@example.com", "P-PR1")
    prospect(fno_state, "PR-2", "prospect@example.com", "P-PR2")
    # Only reachable through a secondary e-mail address of the customer's party:
    party_email(fno_state, "P-C2", "E-1", "Billing@Example.com")
    party_email(fno_state, "P-V2", "E-2", "billing-phone@example.com", kind="Phone")

    resolver = PartyResolver(fno, "usmf")
    got = await resolver.resolve(
        [
            "SHARED@example.com",
            "cust@example.com",
            "vend@example.com",
            "prospect@example.com",
            "billing@example.com",
            "billing-phone@example.com",
            "nobody@example.com",
        ]
    )
    assert got == {
        "shared@example.com": PartyRef(parent_type="ContactPerson", parent_id="CP-1", party_number="P-CP1"),
        "cust@example.com": PartyRef(parent_type="Customer", parent_id="C-2", party_number="P-C2"),
        "vend@example.com": PartyRef(parent_type="Vendor", parent_id="V-2", party_number="P-V2"),
        "prospect@example.com": PartyRef(parent_type="BusRel", parent_id="PR-2", party_number="P-PR2"),
        "billing@example.com": PartyRef(parent_type="Customer", parent_id="C-2", party_number="P-C2"),
    }
    assert all("cross-company=true" in e["query"] for e in fno_state.request_log)


async def test_only_the_resolvers_company(fno: FnoClient, fno_state: FnoState) -> None:
    contact(fno_state, "CP-9", "elsewhere@example.com", "P-9", company="demf")
    customer(fno_state, "C-9", "elsewhere@example.com", "P-10", company="usmf")
    party_email(fno_state, "P-9", "E-9", "secondary@example.com")
    got = await PartyResolver(fno, "usmf").resolve(["elsewhere@example.com", "secondary@example.com"])
    assert got == {
        "elsewhere@example.com": PartyRef(parent_type="Customer", parent_id="C-9", party_number="P-10")
    }
    got_demf = await PartyResolver(fno, "demf").resolve(["elsewhere@example.com", "secondary@example.com"])
    assert {a: r.parent_id for a, r in got_demf.items()} == {
        "elsewhere@example.com": "CP-9",
        "secondary@example.com": "CP-9",
    }


async def test_fifty_addresses_cost_a_handful_of_queries_and_are_cached(
    fno: FnoClient, fno_state: FnoState
) -> None:
    addresses = [f"person{i}@example.com" for i in range(50)]
    for i, address in enumerate(addresses):
        bucket = i % 6
        if bucket == 0:
            contact(fno_state, f"CP-{i:03d}", address, f"P-{i:03d}")
        elif bucket == 1:
            customer(fno_state, f"C-{i:03d}", address, f"P-{i:03d}")
        elif bucket == 2:
            vendor(fno_state, f"V-{i:03d}", address, f"P-{i:03d}")
        elif bucket == 3:
            prospect(fno_state, f"PR-{i:03d}", address, f"P-{i:03d}")
        elif bucket == 4:
            customer(fno_state, f"C-{i:03d}", f"main{i}@example.com", f"P-{i:03d}")
            party_email(fno_state, f"P-{i:03d}", f"E-{i:03d}", address)
        # bucket 5: unknown address

    resolver = PartyResolver(fno, "usmf")
    got = await resolver.resolve([a.upper() for a in addresses])
    expected_types = {0: "ContactPerson", 1: "Customer", 2: "Vendor", 3: "BusRel", 4: "Customer"}
    assert {a: r.parent_type for a, r in got.items()} == {
        a: expected_types[i % 6] for i, a in enumerate(addresses) if i % 6 != 5
    }
    first_round = len(fno_state.request_log)
    # At most one query per entity set per chunk of 20 addresses (5 lookups x 3 chunks), plus the
    # party-number mapping: a handful, never one per address (which would be 50 x 5).
    assert first_round <= 5 * 3 + 2, first_round

    again = await resolver.resolve([*addresses[:10], "new@example.com"])
    assert {a: r.parent_id for a, r in again.items()} == {
        a: got[a].parent_id for a in addresses[:10] if a in got
    }
    # Cached hits and misses cost nothing; only the new address is looked up (one query per source).
    assert len(fno_state.request_log) - first_round == 5


async def test_hostile_addresses_never_widen(fno: FnoClient, fno_state: FnoState) -> None:
    contact(fno_state, "CP-1", "o'brien@example.com", "P-1")
    contact(fno_state, "CP-2", "anyone@example.com", "P-2")
    customer(fno_state, "C-1", "a*b@example.com", "P-3")
    customer(fno_state, "C-2", "aXb@example.com", "P-4")
    vendor(fno_state, "V-1", "jürgen@exämple.de", "P-5")
    party_email(fno_state, "P-2", "E-1", "other@example.com")

    got = await PartyResolver(fno, "usmf").resolve(
        [
            "O'Brien@example.com",
            "*@example.com",
            "a*b@example.com",
            "JÜRGEN@exämple.de",
            "*",
            "tab\t@example.com",
        ]
    )
    assert {a: r.parent_id for a, r in got.items()} == {
        "o'brien@example.com": "CP-1",
        "a*b@example.com": "C-1",
        "jürgen@exämple.de": "V-1",
    }


async def test_party_number_with_wildcard_maps_exactly(fno: FnoClient, fno_state: FnoState) -> None:
    customer(fno_state, "C-1", "", "P-1*")
    customer(fno_state, "C-0", "", "P-10")
    party_email(fno_state, "P-1*", "E-1", "star@example.com")
    got = await PartyResolver(fno, "usmf").resolve(["star@example.com"])
    assert got == {"star@example.com": PartyRef(parent_type="Customer", parent_id="C-1", party_number="P-1*")}
