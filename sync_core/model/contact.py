"""Contacts (docs/spec.md §3.4): the canonical record and its two field maps, in one import.

    from sync_core.model.contact import Contact, contact_from_person, contact_fields, person_fields, ...

The pieces live in small modules: `contact_base` (model, snapshot record, hash), `contact_fno`
(F&O ContactPersons) and `contact_graph` (Graph contacts).
"""

from __future__ import annotations

from sync_core.model.contact_base import (
    ADDRESS_FIELDS,
    FIELDS,
    MERGE_GROUPS,
    PHONE_FIELDS,
    Contact,
    company_key,
    content_hash,
    from_record,
    select_fields,
    to_record,
)
from sync_core.model.contact_fno import contact_from_person, person_fields
from sync_core.model.contact_graph import contact_fields, contact_from_graph

__all__ = [
    "ADDRESS_FIELDS",
    "FIELDS",
    "MERGE_GROUPS",
    "PHONE_FIELDS",
    "Contact",
    "company_key",
    "contact_fields",
    "contact_from_graph",
    "contact_from_person",
    "content_hash",
    "from_record",
    "person_fields",
    "select_fields",
    "to_record",
]
