"""Which F&O company (dataAreaId) a mailbox's items from Outlook go to.

The first rule that names one wins:
1. SYNC_MAILBOX_COMPANIES names the mailbox (`alice@contoso.com=DEMF`);
2. SYNC_MAILBOX_COMPANIES names an Entra group the mailbox is a member of (`<group object id>=DEMF`; of
   several groups, the first listed);
3. with SYNC_COMPANY_SOURCE=employment, the legal entity of the worker's current employment (EmployeesV2's
   EmploymentLegalEntityId: the only standard entity that publishes it, simulators/reference/fno-entities.json);
4. SYNC_COMPANY.

Shared-list mailboxes have no worker: rule 1, else SYNC_COMPANY. The planner keeps the result on the
mailbox's record (`MailboxRecord.company`), which is what every kind and the e-mail import use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sync_core.d365.odata import any_of, filter_chunks
from sync_core.runtime.keys import parse_fno_time

if TYPE_CHECKING:
    from sync_core.d365.client import FnoClient
    from sync_core.settings import Settings

EMPLOYMENTS = "EmployeesV2"
SOURCES = ("setting", "employment")


def group_ids(settings: Settings) -> list[str]:
    return [key for key, _ in settings.mailbox_companies if "@" not in key]


@dataclass(frozen=True)
class CompanyRules:
    """The rules of one planning run: the settings plus the members of the groups the map names."""

    default: str
    by_mailbox: Mapping[str, str]
    by_group: tuple[tuple[frozenset[str], str], ...]  # (member addresses, company), in the order given
    from_employment: bool

    def explicit(self, address: str) -> str | None:
        """The company the map gives the mailbox (rules 1 and 2), or None."""
        wanted = address.lower()
        if wanted in self.by_mailbox:
            return self.by_mailbox[wanted]
        return next((company for members, company in self.by_group if wanted in members), None)

    def expected(self, address: str, kept: str) -> str:
        """The company a record checked recently should have: `kept` (what the last check found) stands
        when it came from the employment, which is looked at again once the record is due."""
        explicit = self.explicit(address)
        if explicit is not None:
            return explicit
        return (kept or self.default) if self.from_employment else self.default

    def resolve(self, address: str, employment: Mapping[str, str], personnel_number: str) -> str:
        explicit = self.explicit(address)
        if explicit is not None:
            return explicit
        if self.from_employment and personnel_number in employment:
            return employment[personnel_number]
        return self.default


def rules(settings: Settings, members: Mapping[str, Iterable[str]]) -> CompanyRules:
    """`members`: group object id -> member addresses (groups not read this cycle are left out)."""
    by_group = tuple(
        (frozenset(m.lower() for m in members[key]), company)
        for key, company in settings.mailbox_companies
        if "@" not in key and key in members
    )
    return CompanyRules(
        default=settings.company.lower(),
        by_mailbox={k: c for k, c in settings.mailbox_companies if "@" in k},
        by_group=by_group,
        from_employment=settings.company_source == "employment",
    )


async def employment_companies(
    client: FnoClient, personnel_numbers: list[str], now: datetime
) -> dict[str, str]:
    """Personnel number -> lower-cased legal entity of the worker's current employment. EmployeesV2 is
    date-effective: F&O returns the employment valid today; a row outside its dates is skipped all the same.
    Of concurrent employments the one started last wins (then the lowest legal entity id)."""
    found: dict[str, list[tuple[datetime, str]]] = {}
    wanted = sorted({p for p in personnel_numbers if p})
    earliest = datetime.min.replace(tzinfo=now.tzinfo)
    for chunk in filter_chunks("PersonnelNumber", wanted):
        async for row in client.query(
            EMPLOYMENTS,
            filter=any_of("PersonnelNumber", chunk),
            select=["PersonnelNumber", "EmploymentLegalEntityId", "EmploymentStartDate", "EmploymentEndDate"],
        ):
            number, company = row.get("PersonnelNumber"), row.get("EmploymentLegalEntityId")
            if not isinstance(number, str) or not isinstance(company, str) or not company.strip():
                continue
            if number not in chunk or not _current(row, now):
                continue
            started = parse_fno_time(row.get("EmploymentStartDate")) or earliest
            found.setdefault(number, []).append((started, company.strip().lower()))
    out: dict[str, str] = {}
    for number, employments in found.items():
        latest = max(started for started, _ in employments)
        out[number] = min(company for started, company in employments if started == latest)
    return out


def _current(row: Mapping[str, Any], now: datetime) -> bool:
    start, end = parse_fno_time(row.get("EmploymentStartDate")), parse_fno_time(row.get("EmploymentEndDate"))
    return (start is None or start <= now) and (end is None or end >= now)
