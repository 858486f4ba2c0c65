"""F&O `ContactPersons` rows <-> the canonical contact (docs/spec.md §3.4).

The company name is not a column of the contact person: it is the name of the associated party
(`AssociatedPartyNumber`), which the caller looks up and passes in, and writes back by party number.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sync_core.model.contact_base import Contact, select_fields
from sync_core.model.fields import read_flag

# Canonical field -> ContactPersons property (company_name is handled through the associated party).
PERSON_FIELDS: dict[str, str] = {
    "given_name": "FirstName",
    "middle_name": "MiddleName",
    "surname": "LastName",
    "title": "ProfessionalTitle",
    "job_title": "EmploymentJobTitle",
    "department": "EmploymentDepartment",
    "email": "PrimaryEmailAddress",
    "phone": "PrimaryPhoneNumber",
    "phone_is_mobile": "IsPrimaryPhoneNumberMobile",
    "street": "PrimaryAddressStreet",
    "city": "PrimaryAddressCity",
    "state": "PrimaryAddressStateId",
    "postal_code": "PrimaryAddressZipCode",
    "country": "PrimaryAddressCountryRegionId",
    "notes": "Notes",
}


def contact_from_person(row: Mapping[str, Any], *, company_name: str = "") -> Contact:
    values: dict[str, Any] = {field: row.get(prop) for field, prop in PERSON_FIELDS.items()}
    values["phone_is_mobile"] = read_flag(
        row.get("IsPrimaryPhoneNumberMobile"), False, source="fno", field="IsPrimaryPhoneNumberMobile"
    )
    values["company_name"] = company_name
    return Contact.model_validate(values)


def person_fields(contact: Contact, fields: Collection[str] | None = None) -> dict[str, Any]:
    """The ContactPersons properties for `fields` (None: all), as a PATCH/POST body."""
    wanted = select_fields(fields)
    body: dict[str, Any] = {}
    for field, prop in PERSON_FIELDS.items():
        if field not in wanted:
            continue
        value = getattr(contact, field)
        body[prop] = ("Yes" if value else "No") if field == "phone_is_mobile" else value
    if "phone" in wanted and "phone_is_mobile" not in wanted:
        body["IsPrimaryPhoneNumberMobile"] = "Yes" if contact.phone_is_mobile else "No"
    return body
