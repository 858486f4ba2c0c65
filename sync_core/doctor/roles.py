"""The application permissions in a Graph token (its `roles` claim) against those the product needs.

The token is decoded without checking its signature. That is fine here: the doctor only reads what Entra ID
wrote into a token it just handed to this app, to explain a refusal before Graph gives one; nothing is
granted or trusted on the strength of it (Graph checks the signature of every request itself).
Access tokens: learn.microsoft.com/entra/identity-platform/access-token-claims-reference (`roles`).
"""

from __future__ import annotations

import base64
import binascii
import json

from sync_core.settings import Settings

# docs/admin-guide.md "Microsoft Graph (application permissions, admin consent)". A permission whose ReadWrite form is
# granted also covers reads, so only the ReadWrite names are needed.
EXCHANGE_SCOPED = ("Calendars.ReadWrite", "MailboxSettings.ReadWrite", "Mail.ReadWrite", "Contacts.ReadWrite")


def needed_permissions(settings: Settings) -> dict[str, str]:
    """Permission -> why the product needs it (every kind is always on)."""
    needed = {
        "User.Read.All": "find the mailboxes",
        "Calendars.ReadWrite": "appointments",
        "MailboxSettings.ReadWrite": "time zones and the sync categories",
        "Mail.ReadWrite": "e-mail import",
        "Tasks.ReadWrite.All": "To Do tasks",
        "Contacts.ReadWrite": "contact lists",
    }
    if settings.mailbox_group:
        needed["GroupMember.Read.All"] = "the members of SYNC_MAILBOX_GROUP"
    return needed


class NotAJwt(ValueError):
    """The token is not a JSON Web Token (a static token for the stand-ins)."""


def token_roles(token: str) -> frozenset[str]:
    parts = token.split(".")
    if len(parts) != 3:
        raise NotAJwt("not three dot-separated parts")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise NotAJwt("the payload is not base64url JSON") from exc
    roles = payload.get("roles", []) if isinstance(payload, dict) else []
    if not isinstance(roles, list):
        raise NotAJwt("the roles claim is not a list")
    return frozenset(str(r) for r in roles)
