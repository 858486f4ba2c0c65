#!/usr/bin/env bash
# Grant the sync's managed identity its Microsoft Graph application permissions (app role assignments).
#
# Runs as the azd post-provision hook (azure.yaml) and by hand. Needs the Azure CLI signed in (`az login`)
# as someone who may grant application permissions: Privileged Role Administrator or Global Administrator.
# Idempotent: existing grants are kept, missing ones added.
#
#   scripts/grant-graph-permissions.sh [--principal-id ID] [--exchange-scoped] [--dry-run]
#
# --exchange-scoped (or SYNC_EXCHANGE_SCOPED=true in the azd environment): mail, calendar, contacts and
#   mailbox settings are granted by Exchange RBAC for Applications instead (scripts/scope-exchange-mailboxes.ps1),
#   so their tenant-wide Graph grants are REMOVED here: Graph permissions add up, and a tenant-wide grant
#   would make the Exchange restriction meaningless. Tasks.ReadWrite.All (To Do) cannot be scoped.
set -euo pipefail

GRAPH_APP_ID=00000003-0000-0000-c000-000000000000
GRAPH=https://graph.microsoft.com/v1.0
# Always tenant-wide: finding users and group members, and To Do (no Exchange RBAC role exists for it).
UNSCOPED=(User.Read.All GroupMember.Read.All Tasks.ReadWrite.All)
# Restrictable to a group of mailboxes with Exchange RBAC for Applications.
EXCHANGE=(Calendars.ReadWrite Mail.ReadWrite Contacts.ReadWrite MailboxSettings.ReadWrite)

principal_id=${SYNC_IDENTITY_PRINCIPAL_ID:-}
scoped=${SYNC_EXCHANGE_SCOPED:-false}
dry_run=false
while [ $# -gt 0 ]; do
  case "$1" in
    --principal-id) principal_id=$2; shift 2 ;;
    --exchange-scoped) scoped=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [ -z "$principal_id" ]; then
  echo "No managed identity: pass --principal-id or run from azd (SYNC_IDENTITY_PRINCIPAL_ID)." >&2
  exit 2
fi
if ! command -v az >/dev/null 2>&1; then
  echo "The Azure CLI (az) is needed. Or grant the permissions in the Entra admin center (docs/admin-guide.md, Deploy to Azure)." >&2
  exit 2
fi

run() {
  if [ "$dry_run" = true ]; then echo "would run: $*"; else "$@"; fi
}

graph_sp=$(az rest --method GET --url "$GRAPH/servicePrincipals(appId='$GRAPH_APP_ID')?\$select=id" --query id -o tsv)
existing=$(az rest --method GET \
  --url "$GRAPH/servicePrincipals/$principal_id/appRoleAssignments?\$select=id,appRoleId,resourceId" \
  --query "value[?resourceId=='$graph_sp'].[appRoleId,id]" -o tsv)

role_id() {
  local id
  id=$(az rest --method GET --url "$GRAPH/servicePrincipals/$graph_sp?\$select=appRoles" \
    --query "appRoles[?value=='$1' && contains(allowedMemberTypes, 'Application')].id | [0]" -o tsv)
  if [ -z "$id" ]; then
    echo "Microsoft Graph has no application permission $1" >&2
    exit 1
  fi
  printf '%s\n' "$id"
}

assignment_of() {  # the assignment id of an app role, empty when not granted
  printf '%s\n' "$existing" | awk -v role="$1" '$1 == role { print $2 }'
}

grant() {
  local role; role=$(role_id "$1")
  if [ -n "$(assignment_of "$role")" ]; then
    echo "kept     $1"
    return
  fi
  run az rest --method POST --url "$GRAPH/servicePrincipals/$principal_id/appRoleAssignments" \
    --headers "Content-Type=application/json" \
    --body "{\"principalId\":\"$principal_id\",\"resourceId\":\"$graph_sp\",\"appRoleId\":\"$role\"}" \
    --output none
  echo "granted  $1"
}

revoke() {
  local role assignment; role=$(role_id "$1"); assignment=$(assignment_of "$role")
  if [ -z "$assignment" ]; then
    echo "absent   $1 (tenant-wide)"
    return
  fi
  run az rest --method DELETE --url "$GRAPH/servicePrincipals/$principal_id/appRoleAssignments/$assignment" \
    --output none
  echo "removed  $1 (tenant-wide; Exchange RBAC scopes it)"
}

for permission in "${UNSCOPED[@]}"; do grant "$permission"; done
if [ "$scoped" = true ]; then
  for permission in "${EXCHANGE[@]}"; do revoke "$permission"; done
else
  for permission in "${EXCHANGE[@]}"; do grant "$permission"; done
  echo "Mail, calendar and contacts are granted for every mailbox. To restrict them to a group, run"
  echo "scripts/scope-exchange-mailboxes.ps1 (docs/admin-guide.md, Scope the mailboxes)."
fi
