#Requires -Version 7.0
<#
.SYNOPSIS
Grants the sync's managed identity its Microsoft Graph application permissions (app role assignments).

.DESCRIPTION
Runs as the azd post-provision hook on Windows (azure.yaml) and by hand on any system with PowerShell 7.
Needs the Microsoft.Graph.Applications module and someone who may grant application permissions
(Privileged Role Administrator or Global Administrator). Idempotent: existing grants are kept.

With -ExchangeScoped (or SYNC_EXCHANGE_SCOPED=true in the azd environment), mail, calendar, contacts and
mailbox settings come from Exchange RBAC for Applications (scope-exchange-mailboxes.ps1) and their
tenant-wide Graph grants are REMOVED: Graph permissions add up, so a tenant-wide grant would make the
Exchange restriction meaningless. Tasks.ReadWrite.All (Microsoft To Do) cannot be scoped and stays.

.EXAMPLE
./scripts/grant-graph-permissions.ps1 -PrincipalId 00000000-0000-0000-0000-000000000000 -WhatIf
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    # Object (principal) id of the user-assigned managed identity; azd provides SYNC_IDENTITY_PRINCIPAL_ID.
    [string] $PrincipalId = $env:SYNC_IDENTITY_PRINCIPAL_ID,
    [switch] $ExchangeScoped
)

$ErrorActionPreference = 'Stop'
$graphAppId = '00000003-0000-0000-c000-000000000000'
# Always tenant-wide: finding users and group members, and To Do (no Exchange RBAC role exists for it).
$unscoped = @('User.Read.All', 'GroupMember.Read.All', 'Tasks.ReadWrite.All')
# Restrictable to a group of mailboxes with Exchange RBAC for Applications.
$exchange = @('Calendars.ReadWrite', 'Mail.ReadWrite', 'Contacts.ReadWrite', 'MailboxSettings.ReadWrite')
$scoped = $ExchangeScoped.IsPresent -or ($env:SYNC_EXCHANGE_SCOPED -eq 'true')

if (-not $PrincipalId) {
    throw 'No managed identity: pass -PrincipalId or run from azd (SYNC_IDENTITY_PRINCIPAL_ID).'
}

Import-Module Microsoft.Graph.Applications
Connect-MgGraph -Scopes 'AppRoleAssignment.ReadWrite.All', 'Application.Read.All' -NoWelcome

$graph = Get-MgServicePrincipal -Filter "appId eq '$graphAppId'"
$existing = @(Get-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $PrincipalId -All |
        Where-Object { $_.ResourceId -eq $graph.Id })

function Get-AppRoleId([string] $Permission) {
    $role = $graph.AppRoles | Where-Object { $_.Value -eq $Permission -and $_.AllowedMemberTypes -contains 'Application' }
    if (-not $role) { throw "Microsoft Graph has no application permission $Permission" }
    return $role.Id
}

foreach ($permission in $unscoped + $(if ($scoped) { @() } else { $exchange })) {
    $roleId = Get-AppRoleId $permission
    if ($existing | Where-Object { $_.AppRoleId -eq $roleId }) {
        Write-Host "kept     $permission"
    }
    elseif ($PSCmdlet.ShouldProcess($permission, 'grant tenant-wide')) {
        New-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $PrincipalId -PrincipalId $PrincipalId `
            -ResourceId $graph.Id -AppRoleId $roleId | Out-Null
        Write-Host "granted  $permission"
    }
}

if ($scoped) {
    foreach ($permission in $exchange) {
        $roleId = Get-AppRoleId $permission
        $assignment = $existing | Where-Object { $_.AppRoleId -eq $roleId }
        if (-not $assignment) {
            Write-Host "absent   $permission (tenant-wide)"
        }
        elseif ($PSCmdlet.ShouldProcess($permission, 'remove the tenant-wide grant')) {
            Remove-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $PrincipalId -AppRoleAssignmentId $assignment.Id
            Write-Host "removed  $permission (tenant-wide; Exchange RBAC scopes it)"
        }
    }
}
else {
    Write-Host 'Mail, calendar and contacts are granted for every mailbox. To restrict them to a group, run'
    Write-Host 'scripts/scope-exchange-mailboxes.ps1 (docs/admin-guide.md, Scope the mailboxes).'
}
