"""Who may use the console, and the token that ties a form to the page it came from.

In Azure, App Service authentication signs the administrator in with Entra ID and hands the function the
signed-in principal in the `X-MS-CLIENT-PRINCIPAL` header: Base64-encoded JSON with `claims` (objects with
`typ` and `val`), `name_typ` and `role_typ`. External requests cannot set that header; App Service sets it
("Work with user identities in Azure App Service authentication",
https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities). The platform
already refuses anyone not signed in; the function checks again (defence in depth, and so that a
misconfigured app with authentication off still refuses) and requires membership of the operators group
(`groups` claim) or the app role (`roles` claim).

Locally, the command prints a URL with a one-time token; the first request exchanges it for a session
cookie, and the token is then spent.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

PRINCIPAL_HEADER = "x-ms-client-principal"
ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
NAME_CLAIMS = ("preferred_username", "name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")


class Refused(Exception):
    """The request may not see the console: 401 (nobody signed in) or 403 (signed in, not allowed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Admin:
    name: str  # shown on every page and written as the actor of every action


def admin_from_principal(header: str | None, *, group_id: str, role: str) -> Admin:
    """The signed-in administrator, or Refused. `group_id`/`role`: who is allowed (either suffices);
    with neither configured nobody is (the console fails closed)."""
    if not header:
        raise Refused(401, "Sign-in required: open the console through the app's address (Entra ID sign-in).")
    try:
        principal = json.loads(base64.b64decode(header, validate=False))
        claims = [(str(c["typ"]), str(c["val"])) for c in principal.get("claims", [])]
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
        raise Refused(401, "The sign-in information App Service passed on is unreadable.") from None
    if not group_id and not role:
        raise Refused(
            403,
            "No administrators are configured for the console: set SYNC_CONSOLE_GROUP_ID (the operators"
            " group) or SYNC_CONSOLE_ROLE (an app role) in the app's settings (infra parameter operatorsGroupId).",
        )
    role_types = {*ROLE_CLAIMS, str(principal.get("role_typ") or "roles")}
    groups = {val for typ, val in claims if typ == "groups"}
    roles = {val for typ, val in claims if typ in role_types}
    if (group_id and group_id in groups) or (role and role in roles):
        return Admin(name=_name(principal, claims))
    overage = any(typ in ("_claim_names", "hasgroups") for typ, _ in claims)
    hint = (
        " Your account is in too many groups for the token to list them: ask for the app role instead."
        if overage
        else ""
    )
    raise Refused(
        403, f"Your account is not an administrator of this sync (operators group or app role).{hint}"
    )


def _name(principal: dict[str, Any], claims: list[tuple[str, str]]) -> str:
    wanted = (str(principal.get("name_typ") or ""), *NAME_CLAIMS)
    for typ in wanted:
        for claim_typ, val in claims:
            if claim_typ == typ and val:
                return val
    return next((val for typ, val in claims if typ.endswith("objectidentifier") or typ == "oid"), "unknown")


def encode_principal(name: str, *, groups: tuple[str, ...] = (), roles: tuple[str, ...] = ()) -> str:
    """The header as App Service writes it (tests, and the local console's documentation)."""
    claims = [{"typ": "preferred_username", "val": name}, {"typ": "name", "val": name}]
    claims += [{"typ": "groups", "val": g} for g in groups] + [{"typ": "roles", "val": r} for r in roles]
    payload = {"auth_typ": "aad", "claims": claims, "name_typ": "preferred_username", "role_typ": "roles"}
    return base64.b64encode(json.dumps(payload).encode()).decode()


@dataclass
class LocalGate:
    """The local console's sign-in: a one-time token, then a session cookie (for this process only)."""

    admin: Admin
    token: str | None = field(default_factory=lambda: secrets.token_urlsafe(24))
    sessions: set[str] = field(default_factory=set)

    def exchange(self, offered: str) -> str | None:
        """A new session for the right token (once), else None."""
        if self.token is None or not hmac.compare_digest(offered.encode(), self.token.encode()):
            return None
        self.token = None
        session = secrets.token_urlsafe(32)
        self.sessions.add(session)
        return session

    def signed_in(self, session: str | None) -> bool:
        return bool(session) and any(hmac.compare_digest(session or "", s) for s in self.sessions)


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def csrf_ok(cookie_value: str | None, form_value: str | None) -> bool:
    """Double-submit: the form's token must equal the cookie's. A cookie with SameSite=Strict is not sent
    by another site's page, and that page cannot read it to copy it into its form."""
    if not cookie_value or not form_value:
        return False
    return hmac.compare_digest(cookie_value.encode(), form_value.encode())
