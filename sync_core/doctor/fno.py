"""The doctor's F&O checks: reachable, token accepted, every entity the product uses (d365/requirements.py,
the same check each process runs at start), the company, and the workers of the mailboxes.

A company is a legal entity: F&O publishes them as the entity set `LegalEntities`, keyed by
`LegalEntityId` (the `dataAreaId`, compared case-insensitively as F&O compares strings), a standard entity
that is not company-specific ("Open Data Protocol (OData)": cross-company and company-specific entities,
learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/odata).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sync_core.d365.client import FnoClient
from sync_core.d365.entities import workers_by_email
from sync_core.d365.errors import FnoError
from sync_core.d365.metadata import MetadataError, MetadataReader, ServiceMetadata
from sync_core.d365.odata import exact_string_eq
from sync_core.d365.preflight import MAX_METADATA_BYTES, parent_links_warning
from sync_core.d365.requirements import check_service, properties_needed
from sync_core.doctor.model import Finding, error, ok, warning
from sync_core.settings import Settings

AREA = "F&O"
LEGAL_ENTITIES = "LegalEntities"
REGISTER = "register the app in F&O: docs/admin-guide.md, 'Register the identity in F&O' (System administration > Setup > Microsoft Entra applications)"


def host_of(settings: Settings) -> str:
    return urlsplit(settings.d365_url).netloc


async def check_service_and_company(fno: FnoClient, settings: Settings) -> tuple[list[Finding], bool]:
    """Findings, and whether F&O answered well enough for the per-mailbox checks."""
    host = host_of(settings)
    collection = settings.parent_links_collection
    reader = MetadataReader(properties_needed(collection) | {"LegalEntityId"})
    try:
        await fno.read_metadata(reader.feed, limit=MAX_METADATA_BYTES)
        metadata = reader.finish()
    except FnoError as exc:
        return [_unusable(exc, host)], False
    except MetadataError as exc:
        detail = f"{settings.d365_url}/data/$metadata is not an OData service document ({exc})"
        return [
            error(
                AREA,
                "service",
                detail,
                "check that D365_URL is the F&O environment's root URL",
                unusable=True,
            )
        ], False
    findings = [ok(AREA, "reachable", f"{host} answered; token accepted")]
    check = check_service(metadata, collection)
    for entity in check.entities:
        json = entity.to_json()
        if entity.ok:
            findings.append(
                ok(
                    AREA,
                    f"entity {entity.entity_set}",
                    f"published as needed ({entity.what_for})",
                    entity=json,
                )
            )
        elif entity.required:
            findings.append(
                error(
                    AREA,
                    f"entity {entity.entity_set}",
                    f"{'; '.join(entity.problems)} (needed for {entity.what_for})",
                    "make this standard entity public in the environment and let the app's F&O user read it "
                    "(docs/admin-guide.md, Prerequisites: Dynamics 365 F&O)",
                    entity=json,
                )
            )
        else:
            findings.append(
                warning(
                    AREA,
                    f"entity {entity.entity_set}",
                    parent_links_warning(check) or "; ".join(entity.problems),
                    "publish the parent-link entity (docs/admin-guide.md, Prerequisites: Dynamics 365 F&O, step 2) or set "
                    "SYNC_PARENT_LINKS_COLLECTION to its name",
                    entity=json,
                )
            )
    findings.append(await _company(fno, settings, metadata))
    return findings, True


async def _company(fno: FnoClient, settings: Settings, metadata: ServiceMetadata) -> Finding:
    company = settings.company
    if LEGAL_ENTITIES not in metadata.entity_sets:
        return warning(
            AREA,
            "SYNC_COMPANY",
            f"not checked: the environment publishes no {LEGAL_ENTITIES} entity",
            f"make sure SYNC_COMPANY ({company}) is a company (legal entity) of this environment",
        )
    try:
        async for row in fno.query(
            LEGAL_ENTITIES, filter=exact_string_eq("LegalEntityId", company), select=["LegalEntityId"]
        ):
            if str(row.get("LegalEntityId", "")).casefold() == company.casefold():
                return ok(AREA, "SYNC_COMPANY", f"company {company} exists")
    except FnoError as exc:
        return warning(
            AREA,
            "SYNC_COMPANY",
            f"not checked: {exc}",
            f"make sure SYNC_COMPANY ({company}) is a company of this environment",
        )
    return error(
        AREA,
        "SYNC_COMPANY",
        f"no company (legal entity) {company!r} in this F&O environment",
        "set SYNC_COMPANY to the dataAreaId of the company new activities belong to (e.g. usmf)",
    )


async def check_workers(fno: FnoClient, mailboxes: list[str]) -> dict[str, str | None]:
    """Mailbox -> personnel number of its worker (by PrimaryContactEmail), None when there is none."""
    found = await workers_by_email(fno, mailboxes)
    return {m: (str(found[m].get("PersonnelNumber")) if m in found else None) for m in mailboxes}


def _unusable(exc: FnoError, host: str) -> Finding:
    if exc.status == 0:
        return error(
            AREA,
            "reachable",
            f"{host} is unreachable ({exc.message.rpartition(': ')[2]}: refused connection, unknown name or timeout)",
            "check D365_URL (the environment's URL, e.g. https://contoso.operations.dynamics.com) and the "
            "network path from here to it",
            unusable=True,
        )
    if exc.status in (401, 403):
        return error(
            AREA,
            "token",
            f"{host} refused the app's token (HTTP {exc.status})",
            REGISTER + "; check SYNC_AUTH and SYNC_MANAGED_IDENTITY_CLIENT_ID",
            unusable=True,
        )
    if exc.status == 404:
        return error(
            AREA,
            "service",
            f"{host} has no OData service at /data/$metadata (HTTP 404)",
            "set D365_URL to the environment's root URL, without a path",
            unusable=True,
        )
    return error(
        AREA,
        "service",
        f"{host}: {exc}",
        "try again later; if it persists, check the environment's health in LCS or the Power Platform admin center",
        unusable=True,
    )
