"""The contact field maps (docs/spec.md §3.4): F&O ContactPersons <-> canonical <-> Graph contact."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync_core.model.contact import (
    FIELDS,
    Contact,
    company_key,
    contact_fields,
    contact_from_graph,
    contact_from_person,
    content_hash,
    from_record,
    person_fields,
    to_record,
)

PERSON: dict[str, Any] = {
    "FirstName": "Jane",
    "MiddleName": "Q",
    "LastName": "O'Brien",
    "ProfessionalTitle": "Dr.",
    "EmploymentJobTitle": "Buyer",
    "EmploymentDepartment": "Purchasing",
    "PrimaryEmailAddress": "jane.o'brien@fabrikam.com",
    "PrimaryPhoneNumber": "+1 206 555 0101",
    "IsPrimaryPhoneNumberMobile": "No",
    "PrimaryAddressStreet": "1 Main St\r\nSuite 4  ",
    "PrimaryAddressCity": "Seattle",
    "PrimaryAddressStateId": "WA",
    "PrimaryAddressZipCode": "98101",
    "PrimaryAddressCountryRegionId": "USA",
    "Notes": "Met at the fair.\r\n",
}


def test_fno_to_graph_field_map() -> None:
    contact = contact_from_person(PERSON, company_name="Fabrikam Retail")
    body = contact_fields(contact)
    assert body["givenName"] == "Jane" and body["middleName"] == "Q" and body["surname"] == "O'Brien"
    assert body["title"] == "Dr." and body["jobTitle"] == "Buyer" and body["department"] == "Purchasing"
    assert body["companyName"] == "Fabrikam Retail"
    assert body["emailAddresses"] == [{"address": "jane.o'brien@fabrikam.com", "name": "Jane Q O'Brien"}]
    assert body["businessPhones"] == ["+1 206 555 0101"]
    assert body["businessAddress"] == {
        "street": "1 Main St\nSuite 4",
        "city": "Seattle",
        "state": "WA",
        "postalCode": "98101",
        "countryOrRegion": "USA",
    }
    assert body["personalNotes"] == "Met at the fair."
    assert body["displayName"] == "Jane Q O'Brien"
    assert contact_from_graph(body) == contact  # reading back what was written gives the same record


def test_mobile_primary_phone_goes_to_mobile_phone_and_back() -> None:
    contact = contact_from_person({**PERSON, "IsPrimaryPhoneNumberMobile": "Yes"})
    body = contact_fields(contact, {"phone"}, current={"businessPhones": ["+1 old"]})
    assert body["mobilePhone"] == "+1 206 555 0101" and body["businessPhones"] == []
    assert contact_from_graph({**body}).phone_is_mobile
    assert person_fields(contact, {"phone"}) == {
        "PrimaryPhoneNumber": "+1 206 555 0101",
        "IsPrimaryPhoneNumberMobile": "Yes",
    }


def test_updates_always_carry_display_name_and_keep_other_addresses_and_phones() -> None:
    current = {
        "emailAddresses": [
            {"address": "old@x.com", "name": "Old"},
            {"address": "home@x.com", "name": "Home"},
        ],
        "businessPhones": ["+1 1", "+1 2"],
    }
    contact = Contact(given_name="Ann", surname="Lee", email="new@x.com", phone="+1 9")
    patch = contact_fields(contact, {"given_name"}, current=current)
    assert patch == {"givenName": "Ann", "displayName": "Ann Lee"}
    patch = contact_fields(contact, {"email", "phone"}, current=current)
    assert patch["emailAddresses"] == [
        {"address": "new@x.com", "name": "Ann Lee"},
        {"address": "home@x.com", "name": "Home"},
    ]
    assert patch["businessPhones"] == ["+1 9", "+1 2"]
    cleared = contact_fields(Contact(given_name="Ann"), {"phone"}, current=current)
    assert cleared["businessPhones"] == [] and cleared["mobilePhone"] is None


def test_graph_reader_tolerates_hostile_payloads() -> None:
    hostile = {
        "givenName": 42,
        "surname": "A\x00B  \u2028C",
        "emailAddresses": "nope",
        "businessPhones": [None, 5, "  "],
        "mobilePhone": {"x": 1},
        "businessAddress": ["street"],
        "personalNotes": "x" * 100_000,
        "companyName": None,
    }
    contact = contact_from_graph(hostile)
    assert contact.given_name == "" and contact.surname == "AB C" and contact.email == ""
    assert contact.phone == "" and not contact.phone_is_mobile and contact.city == ""
    assert len(contact.notes) <= 32_000
    assert contact_from_graph({}) == Contact()
    assert contact_from_person({}) == Contact()


def test_person_fields_for_a_subset_and_all() -> None:
    contact = contact_from_person(PERSON)
    assert person_fields(contact, {"job_title", "city"}) == {
        "EmploymentJobTitle": "Buyer",
        "PrimaryAddressCity": "Seattle",
    }
    every = person_fields(contact)
    assert "AssociatedPartyNumber" not in every  # the company travels through the associated party
    assert contact_from_person(every) == contact


def test_content_hash_ignores_representation_noise() -> None:
    a = contact_from_person(PERSON, company_name="Fabrikam")
    b = contact_from_graph(contact_fields(a))
    assert content_hash(to_record(a)) == content_hash(to_record(b))
    assert content_hash(to_record(a)) != content_hash({**to_record(a), "city": "Tacoma"})
    assert content_hash({}) == content_hash(to_record(Contact()))
    assert set(to_record(a)) == set(FIELDS)


def test_company_names_compare_case_and_whitespace_insensitively() -> None:
    assert company_key("fabrikam  RETAIL ") == company_key("Fabrikam Retail")
    assert company_key("Fabrikam Retail") != company_key("Fabrikam Retailers")
    assert company_key("") == ""


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)


@given(
    given_name=_text,
    surname=_text,
    company=_text,
    email=_text,
    phone=_text,
    mobile=st.booleans(),
    street=_text,
    notes=st.text(max_size=200),
)
def test_graph_round_trip_is_stable(
    given_name: str, surname: str, company: str, email: str, phone: str, mobile: bool, street: str, notes: str
) -> None:
    """Whatever F&O holds, writing it to Graph and reading it back changes nothing (no ping-pong)."""
    contact = Contact(
        given_name=given_name,
        surname=surname,
        company_name=company,
        email=email,
        phone=phone,
        phone_is_mobile=mobile,
        street=street,
        notes=notes,
    )
    assert contact_from_graph(contact_fields(contact)) == contact
    assert contact_from_person(person_fields(contact), company_name=contact.company_name) == contact
    assert from_record(to_record(contact)) == contact
