"""Run every doctor check against the configured services and collect the findings.

Bounded on purpose: one attempt per request plus one resend (never the sync's long retries), and short
timeouts, so an unreachable service is reported within seconds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from sync_core.auth import GRAPH_SCOPE, TokenSource, token_source_from_settings
from sync_core.contacts.membership import CUSTOMERS
from sync_core.d365.client import FnoClient
from sync_core.d365.entities import CONTACT_PERSONS
from sync_core.d365.errors import FnoError
from sync_core.doctor import fno as fno_checks
from sync_core.doctor import graph as graph_checks
from sync_core.doctor.effective import effective_settings
from sync_core.doctor.model import Finding, error, exit_code, ok, warning
from sync_core.doctor.names import UnknownName
from sync_core.exchange.client import GraphClient
from sync_core.settings import Settings, SharedList

ATTEMPTS = 2
TIMEOUT_SECONDS = 10.0
MAILBOXES_AT_ONCE = 8


@dataclass
class DoctorReport:
    settings: dict[str, str]
    findings: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return exit_code(self.findings)


def settings_findings(unknown: list[UnknownName]) -> list[Finding]:
    return [
        warning(
            "settings", u.name, u.message, f"rename it to {u.suggestion}" if u.suggestion else "remove it"
        )
        for u in unknown
    ]


async def run_doctor(
    settings: Settings,
    unknown: list[UnknownName],
    *,
    mailbox: str | None = None,
    tokens: TokenSource | None = None,
) -> DoctorReport:
    report = DoctorReport(effective_settings(settings), settings_findings(unknown))
    tokens = tokens or token_source_from_settings(
        settings.auth.value, settings.static_token or None, settings.managed_identity_client_id or None
    )
    fno = FnoClient(settings.d365_url, tokens, max_attempts=ATTEMPTS, timeout=TIMEOUT_SECONDS)
    graph = GraphClient(settings.graph_url, tokens, max_attempts=ATTEMPTS)
    try:
        await _run(report, settings, fno, graph, tokens, mailbox)
    finally:
        await graph.close()
        await fno.close()
        closer = getattr(tokens, "close", None)
        if closer is not None:
            await closer()
    return report


async def _run(
    report: DoctorReport,
    settings: Settings,
    fno: FnoClient,
    graph: GraphClient,
    tokens: TokenSource,
    only: str | None,
) -> None:
    findings = report.findings
    fno_findings, fno_usable = await fno_checks.check_service_and_company(fno, settings)
    findings.extend(fno_findings)
    try:
        token = await tokens.get_token(GRAPH_SCOPE)
    except Exception as exc:  # azure-identity raises its own errors for every way a sign-in can fail
        findings.append(
            error(
                "Graph",
                "token",
                f"no token for Microsoft Graph ({type(exc).__name__})",
                "check SYNC_AUTH and the identity (docs/admin-guide.md, Configuration)",
                unusable=True,
            )
        )
        return
    findings.extend(graph_checks.check_roles(settings, token))
    try:
        mailboxes = await _mailboxes(graph, settings, only, findings)
        workers = await _workers(fno, mailboxes, findings) if fno_usable else {}
        findings.extend(await _each_mailbox(graph, settings, mailboxes, workers))
        for shared in settings.shared_lists:
            if only is None or only == shared.mailbox.lower():
                findings.extend(await _shared_list(graph, fno, settings, shared, fno_usable))
    except graph_checks.GraphUnusable as unusable:
        findings.append(unusable.finding)


async def _mailboxes(
    graph: GraphClient, settings: Settings, only: str | None, findings: list[Finding]
) -> list[str]:
    if only is not None:
        shared = {s.mailbox.lower() for s in settings.shared_lists}
        return [] if only in shared else [only]
    mailboxes = list(settings.mailboxes)
    if settings.mailbox_group:
        members, finding = await graph_checks.group_members(graph, settings)
        findings.append(finding)
        mailboxes.extend(m for m in members if m not in mailboxes)
    return mailboxes


async def _workers(fno: FnoClient, mailboxes: list[str], findings: list[Finding]) -> dict[str, str | None]:
    try:
        return await fno_checks.check_workers(fno, mailboxes)
    except FnoError as exc:
        findings.append(
            error(
                "F&O",
                "Workers",
                f"the worker lookup failed: {exc}",
                "run the doctor again; if it persists, check the Workers entity",
            )
        )
        return {}


async def _each_mailbox(
    graph: GraphClient, settings: Settings, mailboxes: list[str], workers: dict[str, str | None]
) -> list[Finding]:
    slots = asyncio.Semaphore(MAILBOXES_AT_ONCE)

    async def one(mailbox: str) -> list[Finding]:
        async with slots:
            return await graph_checks.check_mailbox(graph, settings, mailbox, workers.get(mailbox))

    results = await asyncio.gather(*(one(m) for m in mailboxes))
    return [finding for result in results for finding in result]


async def _shared_list(
    graph: GraphClient, fno: FnoClient, settings: Settings, shared: SharedList, fno_usable: bool
) -> list[Finding]:
    area = f"shared list {shared.name} ({shared.mailbox})"
    findings: list[Finding] = []
    if fno_usable:
        for setting, entity_set, text in (
            ("contactFilter", CONTACT_PERSONS, shared.contactFilter),
            ("customerFilter", CUSTOMERS, shared.customerFilter),
        ):
            if not text:
                continue
            try:
                async for _row in fno.query(entity_set, filter=text, select=["dataAreaId"], top=1):
                    pass
                findings.append(ok(area, setting, f"F&O runs it on {entity_set}"))
            except FnoError as exc:
                findings.append(
                    error(
                        area,
                        setting,
                        f"F&O refused the filter on {entity_set}: {exc}",
                        f"correct the {setting} of list {shared.name!r} in SYNC_SHARED_LISTS (an OData $filter)",
                    )
                )
    mailbox = await graph_checks.check_mailbox(graph, settings, shared.mailbox.lower(), None, shared=True)
    findings.extend(replace(f, area=area) for f in mailbox)
    return findings
