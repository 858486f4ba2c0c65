"""Application permissions and Exchange's mailbox scope, as Graph applies them to app-only requests.

- A JWT-shaped bearer token carries the app's application permissions in its `roles` claim
  (learn.microsoft.com/entra/identity-platform/access-token-claims-reference); a request the roles do not
  cover answers 403. Directory reads answer `Authorization_RequestDenied` "Insufficient privileges to
  complete the operation." (the directory's code), Outlook resources `ErrorAccessDenied` "Access is denied.
  Check credentials and try again.", To Do the generic `accessDenied` (concepts/errors.md). A token that is
  not a JWT (the stand-ins' static tokens) carries every permission, as before.
- `GraphState.mailbox_scope` (None: no scope) stands for an Exchange application access policy or RBAC for
  Applications management scope: mail, calendar, contacts and mailbox settings of a mailbox outside it
  answer 403 `ErrorAccessDenied` "Access to OData is disabled." whatever the token holds, as
  concepts/auth-limit-mailbox-access.md ("Handling API errors") documents. To Do is not scoped by Exchange.
"""

from __future__ import annotations

import base64
import binascii
import json

from simulators.graph.errors import GraphError
from simulators.graph.http import GraphRequest
from simulators.graph.state import GraphState

_READS = frozenset({"GET"})
# First segment below /users/{id} -> the permission family that covers it (None: To Do).
_FAMILIES = {
    "mailboxSettings": "MailboxSettings",
    "outlook": "MailboxSettings",
    "events": "Calendars",
    "calendar": "Calendars",
    "calendarView": "Calendars",
    "messages": "Mail",
    "mailFolders": "Mail",
    "contactFolders": "Contacts",
    "contacts": "Contacts",
    "todo": "Tasks",
}
_DIRECTORY_USERS = frozenset(
    {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)
_DIRECTORY_GROUPS = frozenset(
    {
        "GroupMember.Read.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)


def token_roles(token: str) -> frozenset[str] | None:
    """The roles of a JWT-shaped token; None for any other token (every permission)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    roles = payload.get("roles") if isinstance(payload, dict) else None
    return frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset()


def _granted(roles: frozenset[str], family: str, method: str) -> bool:
    if family == "Tasks":
        names = {"Tasks.ReadWrite.All"} | ({"Tasks.Read.All"} if method in _READS else set())
    else:
        names = {f"{family}.ReadWrite"} | ({f"{family}.Read"} if method in _READS else set())
    return bool(roles & names)


def check(state: GraphState, req: GraphRequest) -> None:
    """Raise the 403 Graph would answer for this request, if any."""
    seg = req.segments
    head = seg[0].lower() if seg else ""
    token = req.headers.get("authorization", "").partition(" ")[2].strip()
    roles = token_roles(token)
    if head == "groups":
        if roles is not None and not roles & _DIRECTORY_GROUPS:
            raise _directory_denied()
        return
    if head != "users" or len(seg) < 2:
        return
    if len(seg) == 2:
        if roles is not None and not roles & _DIRECTORY_USERS:
            raise _directory_denied()
        return
    if seg[2] == "translateExchangeIds":
        # user-translateexchangeids.md, Permissions: Application User.Read.All or User.ReadWrite.All.
        if roles is not None and not roles & {"User.Read.All", "User.ReadWrite.All"}:
            raise _directory_denied()
        return
    family = _FAMILIES.get(seg[2])
    if family is None:
        return
    if family != "Tasks" and _outside_scope(state, seg[1]):
        raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")
    if roles is not None and not _granted(roles, family, req.method):
        if family == "Tasks":
            raise GraphError(403, "accessDenied", "The caller doesn't have permission to perform the action.")
        raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def _outside_scope(state: GraphState, user: str) -> bool:
    scope = state.mailbox_scope
    if scope is None:
        return False
    mailbox = state.find_mailbox(user)
    return mailbox is not None and mailbox.user.mail.lower() not in scope


def _directory_denied() -> GraphError:
    return GraphError(
        403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
    )
