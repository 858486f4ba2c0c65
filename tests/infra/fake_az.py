"""A stand-in for `az rest` against Microsoft Graph app role assignments, for testing the grant script.

State (JSON file named by FAKE_AZ_STATE): {"assignments": [{"id", "appRoleId", "principalId",
"resourceId"}], "calls": [[method, url], ...]}. Only the requests the script makes are understood."""

from __future__ import annotations

import json
import os
import re
import sys
import uuid

GRAPH_SP = "9f9e0c5a-0000-4000-8000-00000000a001"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def role_id(permission: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"graph-app-role:{permission}"))


KNOWN = {
    "User.Read.All",
    "GroupMember.Read.All",
    "Tasks.ReadWrite.All",
    "Calendars.ReadWrite",
    "Mail.ReadWrite",
    "Contacts.ReadWrite",
    "MailboxSettings.ReadWrite",
}


def main(argv: list[str]) -> int:
    path = os.environ["FAKE_AZ_STATE"]
    with open(path, encoding="utf-8") as f:
        state = json.load(f)
    options: dict[str, str] = {}
    args = argv[1:]  # argv[0] is the program name
    rest = args[1:] if args[:1] == ["rest"] else []
    if not rest:
        print(f"fake az: unsupported {argv}", file=sys.stderr)
        return 2
    i = 0
    while i < len(rest):
        if rest[i].startswith("--") and i + 1 < len(rest) and not rest[i + 1].startswith("--"):
            options[rest[i]] = rest[i + 1]
            i += 2
        else:
            i += 1
    method, url, query = options["--method"], options["--url"], options.get("--query", "")
    state["calls"].append([method, url])
    output = ""
    if method == "GET" and f"servicePrincipals(appId='{GRAPH_APP_ID}')" in url:
        output = GRAPH_SP
    elif method == "GET" and url.split("?")[0].endswith("/appRoleAssignments"):
        principal = url.split("/servicePrincipals/")[1].split("/")[0]
        wanted = re.search(r"resourceId=='([^']+)'", query)
        output = "\n".join(
            f"{a['appRoleId']}\t{a['id']}"
            for a in state["assignments"]
            if a["principalId"] == principal and wanted and a["resourceId"] == wanted.group(1)
        )
    elif method == "GET" and f"servicePrincipals/{GRAPH_SP}" in url and "appRoles" in url:
        permission = re.search(r"value=='([^']+)'", query)
        if permission and permission.group(1) in KNOWN:
            output = role_id(permission.group(1))
    elif method == "POST" and url.endswith("/appRoleAssignments"):
        body = json.loads(options["--body"])
        state["assignments"].append({**body, "id": f"assignment-{len(state['calls'])}"})
    elif method == "DELETE":
        assignment = url.rsplit("/", 1)[1]
        state["assignments"] = [a for a in state["assignments"] if a["id"] != assignment]
    else:
        print(f"fake az: unexpected {method} {url}", file=sys.stderr)
        return 1
    with open(path, "w", encoding="utf-8") as f:
        json.dump(state, f)
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
