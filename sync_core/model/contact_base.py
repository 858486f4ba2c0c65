"""The canonical contact record (docs/spec.md §3.4), its JSON-able snapshot form and its content hash.

Every field is normalised the same way from either side, so equivalent payloads hash equal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from sync_core.model.text import normalise_body, normalise_line

NOTES_LIMIT = 32_000
"""Largest canonical note, in characters (F&O Notes is a memo, Outlook's personalNotes is generous)."""


class Contact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    given_name: str = ""
    middle_name: str = ""
    surname: str = ""
    title: str = ""
    job_title: str = ""
    department: str = ""
    company_name: str = ""
    email: str = ""
    phone: str = ""
    phone_is_mobile: bool = False
    street: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    notes: str = ""

    @field_validator(
        "given_name",
        "middle_name",
        "surname",
        "title",
        "job_title",
        "department",
        "company_name",
        "email",
        "phone",
        "city",
        "state",
        "postal_code",
        "country",
        mode="before",
    )
    @classmethod
    def _one_line(cls, value: Any) -> str:
        return normalise_line(value)

    @field_validator("street", mode="before")
    @classmethod
    def _street(cls, value: Any) -> str:
        # Streets may span lines in both systems; keep the lines, drop the noise around them.
        lines = (normalise_line(line) for line in normalise_body(value).split("\n"))
        return "\n".join(line for line in lines if line)[:1000]

    @field_validator("notes", mode="before")
    @classmethod
    def _notes(cls, value: Any) -> str:
        return normalise_body(value)[:NOTES_LIMIT].rstrip()

    @field_validator("phone_is_mobile", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> bool:
        return value is True

    @model_validator(mode="before")
    @classmethod
    def _no_phone_no_flag(cls, data: Any) -> Any:
        # "Mobile" means nothing without a number: both systems may leave the flag set.
        if isinstance(data, dict) and not normalise_line(data.get("phone")):
            return {**data, "phone_is_mobile": False}
        return data

    def display_name(self) -> str:
        """What Outlook shows: the name, else the company, else the address (never empty when any is set)."""
        name = " ".join(part for part in (self.given_name, self.middle_name, self.surname) if part)
        return name or self.company_name or self.email


FIELDS: tuple[str, ...] = tuple(Contact.model_fields)
ADDRESS_FIELDS = ("street", "city", "state", "postal_code", "country")
PHONE_FIELDS = ("phone", "phone_is_mobile")
# Merged as units: one side's street never pairs with the other side's city.
MERGE_GROUPS: tuple[tuple[str, ...], ...] = (PHONE_FIELDS, ADDRESS_FIELDS)


def select_fields(fields: Collection[str] | None) -> frozenset[str]:
    """The canonical fields to map (None: all); unknown names are a programming error."""
    if fields is None:
        return frozenset(FIELDS)
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise KeyError(f"not contact fields: {sorted(unknown)}")
    return frozenset(fields)


def to_record(contact: Contact) -> dict[str, Any]:
    return contact.model_dump()


def from_record(record: Mapping[str, Any]) -> Contact:
    return Contact.model_validate({key: record[key] for key in FIELDS if key in record})


def content_hash(record: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of the canonical fields (missing fields hash as their default)."""
    canonical = to_record(from_record(record))
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def company_key(name: str) -> str:
    """Company names compare case- and whitespace-insensitively ("Fabrikam  retail" == "fabrikam Retail")."""
    return " ".join(normalise_line(name).split()).casefold()
