"""The doctor's Graph checks: the token's permissions, then per mailbox one cheap documented read of each
resource the product uses (docs/wire.md lists every one).

Exchange "RBAC for Applications" (and the application access policies it replaces) answers 403
`ErrorAccessDenied` for a mailbox outside the app's scope (concepts/auth-limit-mailbox-access.md, "Handling
API errors"); a missing application permission answers 403 too, so both are named in the next step.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import quote, urlsplit

from sync_core.doctor.model import Finding, error, ok, warning
from sync_core.doctor.roles import EXCHANGE_SCOPED, NotAJwt, needed_permissions, token_roles
from sync_core.exchange.client import GraphClient
from sync_core.exchange.errors import GraphError
from sync_core.exchange.urls import graph_datetime, user_seg
from sync_core.model.timezones import resolve_time_zone_checked
from sync_core.settings import Settings

AREA = "Graph"
GRANT = "grant it as an application permission with admin consent: scripts/grant-graph-permissions.sh (docs/admin-guide.md, Deploy to Azure)"
SCOPE = (
    "put the mailbox into the mail-enabled security group of Exchange RBAC for Applications "
    "(docs/admin-guide.md, Scope the mailboxes; changes take up to 2 hours), or grant the permission tenant-wide"
)
T = TypeVar("T")


class GraphUnusable(Exception):
    """Graph cannot be used at all (unreachable, token refused): no further Graph check makes sense."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.detail)
        self.finding = finding


def host_of(settings: Settings) -> str:
    return urlsplit(settings.graph_url).netloc


def check_roles(settings: Settings, token: str) -> list[Finding]:
    try:
        roles = token_roles(token)
    except NotAJwt:
        return [
            ok(AREA, "permissions", "the token is not a JWT (a static token): permissions not read from it")
        ]
    findings = []
    for permission, why in needed_permissions(settings).items():
        if permission in roles or (permission == "User.Read.All" and "Directory.Read.All" in roles):
            findings.append(ok(AREA, f"permission {permission}", f"granted ({why})"))
        elif permission in EXCHANGE_SCOPED:
            # Scoped installations grant these through Exchange, not in the token (docs/admin-guide.md, Scope the mailboxes).
            findings.append(
                ok(
                    AREA,
                    f"permission {permission}",
                    f"not in the token ({why}): must come from Exchange RBAC for Applications; the mailbox checks show whether it does",
                )
            )
        else:
            findings.append(
                error(
                    AREA,
                    f"permission {permission}",
                    f"missing from the token ({why})",
                    GRANT,
                    granted=sorted(roles),
                )
            )
    return findings


def classify(exc: GraphError, host: str) -> GraphUnusable | None:
    """The error as Graph-wide (unreachable, token refused), or None when it concerns one request."""
    if exc.status == 0:
        return GraphUnusable(
            error(
                AREA,
                "reachable",
                f"{host} is unreachable ({exc.message or exc.code}: refused connection, unknown name or timeout)",
                "check GRAPH_URL (https://graph.microsoft.com/v1.0) and the network path from here to it",
                unusable=True,
            )
        )
    if exc.status == 401:
        return GraphUnusable(
            error(
                AREA,
                "token",
                f"{host} refused the app's token (HTTP 401 {exc.code})",
                "check SYNC_AUTH and SYNC_MANAGED_IDENTITY_CLIENT_ID: the token must be an app-only token "
                "for https://graph.microsoft.com",
                unusable=True,
            )
        )
    return None


async def _try(call: Awaitable[T], host: str) -> tuple[T | None, GraphError | None]:
    try:
        return await call, None
    except GraphError as exc:
        unusable = classify(exc, host)
        if unusable is not None:
            raise unusable from None
        return None, exc


def _refused(area: str, check: str, exc: GraphError, what: str) -> Finding:
    if exc.status == 403:
        return error(area, check, f"Graph refused access to {what} (403 {exc.code})", SCOPE)
    return error(
        area,
        check,
        f"reading {what} failed ({exc})",
        "run the doctor again; if it persists, see `failures` and the Graph service health",
    )


async def check_mailbox(
    graph: GraphClient, settings: Settings, mailbox: str, worker: str | None, *, shared: bool = False
) -> list[Finding]:
    """User, time zone, calendar, To Do, contacts and messages of one mailbox (contacts only for a shared
    list's mailbox), and its F&O worker. Raises GraphUnusable when Graph refuses everything."""
    host = host_of(settings)
    area = f"mailbox {mailbox}"
    user, exc = await _try(graph.get_user(mailbox), host)
    if exc is not None:
        return [_refused(area, "user", exc, "the user")]
    if user is None:
        return [
            error(
                area,
                "user",
                "no such user in Microsoft Entra ID (Graph 404)",
                "check the address in SYNC_MAILBOXES, the group or SYNC_SHARED_LISTS (the primary SMTP address)",
            )
        ]
    findings = [ok(area, "user", "found")]
    base = f"users/{user_seg(mailbox)}"
    if shared:
        probes = {"contacts": f"{base}/contactFolders?$top=1&$select=id"}
    else:
        zone, exc = await _try(graph.get_mailbox_time_zone(mailbox), host)
        if exc is not None:
            findings.append(_refused(area, "time zone", exc, "the mailbox settings"))
        elif not resolve_time_zone_checked(zone)[1]:
            findings.append(
                error(
                    area,
                    "time zone",
                    f"time zone {zone!r} is not recognised: the mailbox would be skipped",
                    "set a standard time zone in the mailbox's Outlook settings",
                )
            )
        else:
            findings.append(ok(area, "time zone", f"{zone}"))
        now = datetime.now(UTC)
        window = f"startDateTime={quote(graph_datetime(now))}&endDateTime={quote(graph_datetime(now + timedelta(days=1)))}"
        probes = {
            "calendar": f"{base}/calendarView?{window}&$top=1&$select=id",
            "To Do": f"{base}/todo/lists",
            "contacts": f"{base}/contactFolders?$top=1&$select=id",
            "messages": f"{base}/messages?$top=1&$select=id",
        }
    for name, path in probes.items():
        _, exc = await _try(graph.request_json("GET", mailbox, path), host)
        findings.append(
            ok(area, name, "reachable") if exc is None else _refused(area, name, exc, f"its {name}")
        )
    if not shared:
        findings.append(
            ok(area, "worker", f"F&O worker {worker}")
            if worker
            else warning(
                area,
                "worker",
                "no F&O worker has this address as PrimaryContactEmail: the mailbox is skipped",
                "set the worker's primary e-mail (PrimaryContactEmail) in F&O to this address, or take the mailbox out of scope",
            )
        )
    return findings


async def group_members(graph: GraphClient, settings: Settings) -> tuple[list[str], Finding]:
    host = host_of(settings)
    mails, exc = await _try(graph.list_group_member_mails(settings.mailbox_group), host)
    if exc is not None:
        what = "the members of SYNC_MAILBOX_GROUP"
        if exc.status == 404:
            return [], error(
                AREA,
                "SYNC_MAILBOX_GROUP",
                "no such group (Graph 404)",
                "set SYNC_MAILBOX_GROUP to the group's Entra object id",
            )
        return [], _refused(AREA, "SYNC_MAILBOX_GROUP", exc, what)
    members = sorted({m.lower() for m in mails or []})
    return members, ok(AREA, "SYNC_MAILBOX_GROUP", f"{len(members)} member(s) with a mailbox address")
