"""Graph `contact` JSON <-> the canonical contact (docs/spec.md §3.4).

- The e-mail address is the first of `emailAddresses`; the others are kept when writing.
- The phone is `businessPhones[0]`, or `mobilePhone` when F&O marks its primary phone as mobile (then the
  business phones are cleared, so that reading back gives the same record and nothing ping-pongs).
- `displayName` is written on every create and update: Graph does not recompute it from the name parts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sync_core.model.contact_base import ADDRESS_FIELDS, PHONE_FIELDS, Contact, select_fields
from sync_core.model.fields import read_mapping, read_str

# Canonical field -> Graph contact property, for the plain string fields.
_SIMPLE: dict[str, str] = {
    "given_name": "givenName",
    "middle_name": "middleName",
    "surname": "surname",
    "title": "title",
    "job_title": "jobTitle",
    "department": "department",
    "company_name": "companyName",
    "notes": "personalNotes",
}
# Canonical address field -> physicalAddress property.
_ADDRESS: dict[str, str] = {
    "street": "street",
    "city": "city",
    "state": "state",
    "postal_code": "postalCode",
    "country": "countryOrRegion",
}


def _emails(item: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    value = item.get("emailAddresses")
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, Mapping) and read_str(entry.get("address")).strip()]


def _business_phones(item: Mapping[str, Any]) -> list[str]:
    value = item.get("businessPhones")
    if not isinstance(value, list):
        return []
    return [phone for phone in value if isinstance(phone, str) and phone.strip()]


def contact_from_graph(item: Mapping[str, Any]) -> Contact:
    values: dict[str, Any] = {field: item.get(prop) for field, prop in _SIMPLE.items()}
    emails = _emails(item)
    values["email"] = read_str(emails[0].get("address")) if emails else ""
    business = _business_phones(item)
    mobile = read_str(item.get("mobilePhone")).strip()
    if business:
        values["phone"], values["phone_is_mobile"] = business[0], False
    elif mobile:
        values["phone"], values["phone_is_mobile"] = mobile, True
    address = read_mapping(item.get("businessAddress"))
    for field, prop in _ADDRESS.items():
        values[field] = address.get(prop)
    return Contact.model_validate(values)


def contact_fields(
    contact: Contact, fields: Collection[str] | None = None, *, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Graph JSON for `fields` (None: all, a create body). `current` is the contact as Graph has it now,
    so that the other e-mail addresses and business phones survive an update."""
    wanted = select_fields(fields)
    now = current or {}
    body: dict[str, Any] = {}
    for field, prop in _SIMPLE.items():
        if field in wanted:
            body[prop] = getattr(contact, field)
    if "email" in wanted:
        others = [dict(entry) for entry in _emails(now)[1:]]
        first = [{"address": contact.email, "name": contact.display_name()}] if contact.email else []
        body["emailAddresses"] = first + others
    if wanted & set(PHONE_FIELDS):
        if contact.phone_is_mobile:
            body["businessPhones"], body["mobilePhone"] = [], contact.phone
        elif contact.phone:
            body["businessPhones"] = [contact.phone, *_business_phones(now)[1:]]
        else:
            body["businessPhones"], body["mobilePhone"] = [], None
    if wanted & set(ADDRESS_FIELDS):
        body["businessAddress"] = {prop: getattr(contact, field) for field, prop in _ADDRESS.items()}
    body["displayName"] = contact.display_name()
    return body
