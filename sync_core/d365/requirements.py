"""The F&O entity sets the product uses, with the keys and fields it needs, checked against `$metadata`.

The standard entities are required: without one of them nothing can sync, so the product stops at start.
The parent-link entity is not standard (F&O's smmActivityParentLinkEntity is not public; the customer
publishes one, docs/admin-guide.md "Dynamics 365 F&O"): without it, or with one of another shape, everything else
syncs and attendees and associations are skipped, with a configuration warning each cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync_core.d365.metadata import ServiceMetadata

NAMESPACE = "Microsoft.Dynamics.DataEntities"
PARENT_TYPE_ENUM = f"{NAMESPACE}.smmActivityParentType"
NO_YES_ENUM = f"{NAMESPACE}.NoYes"
# The smmActivityParentType members the product writes (d365/parties.py: BusRel is a prospect).
PARENT_TYPES = ("ContactPerson", "Customer", "Vendor", "BusRel")
PARENT_LINK_KEYS = ("dataAreaId", "ActivityNumber", "ParentType", "ParentId")


@dataclass(frozen=True)
class EntityNeed:
    entity_set: str
    keys: tuple[str, ...]
    properties: tuple[str, ...]
    # property -> the enum type it must have (qualified name)
    enum_types: tuple[tuple[str, str], ...] = ()
    what_for: str = ""


_ACTIVITY_FIELDS = (
    "Category", "Purpose", "OutlookText", "StartDateTime", "EndDateTime", "AllDay", "Location",
    "ShowTimeAs", "Sensitivity", "Priority", "Reminder", "ReminderMinutes", "ReminderDate",
    "OutlookCategories", "KeepSynchronized", "ResponsibleWorkerPersonnelNumber", "OutlookEntryId",
    "RecurrenceState", "MasterAppointment", "OriginalStartDate", "ActivityStatus", "Closed",
    "CompletedPercentage", "LastDateTimeEdited",
)  # fmt: skip
_CONTACT_FIELDS = (
    "ContactPersonPartyNumber", "AssociatedPartyNumber", "ContactPersonResponsiblePersonnelNumber",
    "MicrosoftOutlookCategories", "IsInactive", "LastEditDateTime", "FirstName", "MiddleName", "LastName",
    "ProfessionalTitle", "EmploymentJobTitle", "EmploymentDepartment", "PrimaryEmailAddress",
    "PrimaryPhoneNumber", "IsPrimaryPhoneNumberMobile", "PrimaryAddressStreet", "PrimaryAddressCity",
    "PrimaryAddressStateId", "PrimaryAddressZipCode", "PrimaryAddressCountryRegionId", "Notes",
)  # fmt: skip

STANDARD = (
    EntityNeed("Activities", ("dataAreaId", "ActivityNumber"), _ACTIVITY_FIELDS, what_for="activities"),
    EntityNeed("Workers", ("PersonnelNumber",), ("PrimaryContactEmail", "Name"), what_for="mailbox owners"),
    EntityNeed(
        "ContactPersons", ("dataAreaId", "ContactPersonId"), _CONTACT_FIELDS, what_for="contact persons"
    ),
    EntityNeed(
        "CustomersV3",
        ("dataAreaId", "CustomerAccount"),
        ("PrimaryContactEmail", "PartyNumber", "OrganizationName"),
        what_for="customers (attendees, contacts' companies)",
    ),
    EntityNeed(
        "VendorsV2",
        ("dataAreaId", "VendorAccountNumber"),
        ("PrimaryEmailAddress", "VendorPartyNumber", "VendorOrganizationName"),
        what_for="vendors (attendees, contacts' companies)",
    ),
    EntityNeed(
        "Prospects",
        ("dataAreaId", "ProspectId"),
        ("PrimaryEmailAddress", "ProspectPartyNumber", "CompanyName"),
        what_for="prospects (attendees, contacts' companies)",
    ),
    EntityNeed(
        "PartyContactsV3",
        ("PartyNumber", "ElectronicAddressId"),
        ("Locator", "Type"),
        what_for="parties' other e-mail addresses",
    ),
)


def parent_link_need(collection: str) -> EntityNeed:
    return EntityNeed(
        collection,
        PARENT_LINK_KEYS,
        ("IsPrimaryLink",),
        enum_types=(("ParentType", PARENT_TYPE_ENUM), ("IsPrimaryLink", NO_YES_ENUM)),
        what_for="attendees and associations (activity parent links)",
    )


def properties_needed(collection: str) -> set[str]:
    """Every property name the check looks at (the metadata reader keeps only these)."""
    needs = (*STANDARD, parent_link_need(collection))
    return {name for need in needs for name in (*need.keys, *need.properties)}


@dataclass(frozen=True)
class EntityCheck:
    entity_set: str
    required: bool
    what_for: str
    problems: tuple[str, ...]  # empty: as the product needs it

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "entitySet": self.entity_set,
            "required": self.required,
            "usedFor": self.what_for,
            "ok": self.ok,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class ServiceCheck:
    """What `$metadata` said of every entity set the product uses; `read` False when it could not be read
    (then nothing was checked and `reason` says why)."""

    entities: tuple[EntityCheck, ...]
    read: bool = True
    reason: str = ""

    @property
    def missing_required(self) -> list[EntityCheck]:
        return [e for e in self.entities if e.required and not e.ok]

    @property
    def parent_links(self) -> EntityCheck | None:
        return next((e for e in self.entities if not e.required), None)

    @property
    def parent_links_usable(self) -> bool:
        links = self.parent_links
        return not self.read or links is None or links.ok

    def to_json(self) -> dict[str, Any]:
        return {"read": self.read, "reason": self.reason, "entities": [e.to_json() for e in self.entities]}


def check_service(metadata: ServiceMetadata, parent_links_collection: str) -> ServiceCheck:
    checks = [_check(metadata, need, required=True) for need in STANDARD]
    checks.append(_check(metadata, parent_link_need(parent_links_collection), required=False))
    return ServiceCheck(tuple(checks))


def _check(metadata: ServiceMetadata, need: EntityNeed, *, required: bool) -> EntityCheck:
    found = metadata.entity_sets.get(need.entity_set)
    if found is None:
        problems: list[str] = ["not published (no such entity set in $metadata)"]
    else:
        problems = []
        if set(found.keys) != set(need.keys):  # addressed by name: the order does not matter
            shown = ", ".join(found.keys) or "none"
            problems.append(f"key is ({shown}), needed ({', '.join(need.keys)})")
        missing = [p for p in (*need.keys, *need.properties) if p not in found.properties]
        if missing:
            problems.append("missing field(s): " + ", ".join(dict.fromkeys(missing)))
        for prop, enum in need.enum_types:
            actual = found.properties.get(prop)
            if actual is not None and actual != enum:
                problems.append(f"{prop} is of type {actual}, needed {enum}")
        if any(enum == PARENT_TYPE_ENUM for _, enum in need.enum_types):
            members = metadata.enums.get(PARENT_TYPE_ENUM, frozenset())
            lacking = [m for m in PARENT_TYPES if m not in members]
            if lacking:
                problems.append(f"{PARENT_TYPE_ENUM} lacks member(s): " + ", ".join(lacking))
    return EntityCheck(need.entity_set, required, need.what_for, tuple(problems))
