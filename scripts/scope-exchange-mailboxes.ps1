#Requires -Version 7.0
<#
.SYNOPSIS
Restricts the sync's mail, calendar, contacts and mailbox-settings access to the members of one
mail-enabled security group, with Exchange Online RBAC for Applications.

.DESCRIPTION
1. Registers the managed identity in Exchange Online (New-ServicePrincipal).
2. Creates (or updates) a management scope of the group's members (New-ManagementScope, MemberOfGroup).
3. Assigns the application roles Application Mail.ReadWrite, Application Calendars.ReadWrite,
   Application Contacts.ReadWrite and Application MailboxSettings.ReadWrite with that scope
   (New-ManagementRoleAssignment -CustomResourceScope).
4. Removes the tenant-wide Microsoft Graph grants of these four permissions (grant-graph-permissions.ps1
   -ExchangeScoped): Graph and Exchange permissions add up, so a tenant-wide grant would still open every
   mailbox. Tasks.ReadWrite.All (Microsoft To Do) has no Exchange role and stays tenant-wide.
5. Checks the result with Test-ServicePrincipalAuthorization on one member.

Needs PowerShell 7, the ExchangeOnlineManagement and Microsoft.Graph.Applications modules, an Exchange
administrator (Organization Management) and, for step 4, a Privileged Role Administrator. Idempotent.
Exchange caches permissions: the scope can take from 30 minutes up to 2 hours to apply.

Afterwards run `azd env set SYNC_EXCHANGE_SCOPED true` (the script does when azd is present), so a later
`azd up` does not grant the tenant-wide permissions again, and set SYNC_MAILBOX_GROUP to the group's Entra
object id (printed at the end) so the sync's scope and Exchange's scope are the same group.

.EXAMPLE
./scripts/scope-exchange-mailboxes.ps1 -Group d365-sync@contoso.com
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    # The mail-enabled security group: name, alias or e-mail address.
    [Parameter(Mandatory)] [string] $Group,
    # Client (app) id and object (principal) id of the managed identity; azd provides both.
    [string] $AppId = $env:SYNC_IDENTITY_CLIENT_ID,
    [string] $PrincipalId = $env:SYNC_IDENTITY_PRINCIPAL_ID,
    [string] $DisplayName = 'Exchange Sync for Dynamics 365 F&O',
    [string] $ScopeName = 'Exchange Sync mailboxes',
    # Keep the tenant-wide Graph grants (not recommended: the scope then restricts nothing).
    [switch] $KeepTenantWideGrants
)

$ErrorActionPreference = 'Stop'
$roles = @(
    'Application Mail.ReadWrite'
    'Application Calendars.ReadWrite'
    'Application Contacts.ReadWrite'
    'Application MailboxSettings.ReadWrite'
)
if (-not $AppId -or -not $PrincipalId) {
    throw 'Pass -AppId and -PrincipalId of the managed identity (azd outputs SYNC_IDENTITY_CLIENT_ID and SYNC_IDENTITY_PRINCIPAL_ID).'
}

Import-Module ExchangeOnlineManagement
Connect-ExchangeOnline -ShowBanner:$false

# RBAC for Applications scopes by recipient filter: the group must be a mail-enabled security group.
$groupObject = Get-DistributionGroup -Identity $Group
if ($groupObject.RecipientTypeDetails -ne 'MailUniversalSecurityGroup') {
    throw "$Group is a $($groupObject.RecipientTypeDetails); a mail-enabled security group is needed."
}

$servicePrincipal = Get-ServicePrincipal | Where-Object { $_.AppId -eq $AppId }
if (-not $servicePrincipal -and $PSCmdlet.ShouldProcess($DisplayName, 'register the managed identity in Exchange Online')) {
    $servicePrincipal = New-ServicePrincipal -AppId $AppId -ObjectId $PrincipalId -DisplayName $DisplayName
}

$filter = "MemberOfGroup -eq '$($groupObject.DistinguishedName)'"
$scope = Get-ManagementScope | Where-Object { $_.Name -eq $ScopeName }
if (-not $scope) {
    if ($PSCmdlet.ShouldProcess($ScopeName, "create the management scope ($filter)")) {
        New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter $filter | Out-Null
    }
}
elseif ($scope.RecipientFilter -ne $filter -and $PSCmdlet.ShouldProcess($ScopeName, "point the scope at $Group")) {
    Set-ManagementScope -Identity $ScopeName -RecipientRestrictionFilter $filter
}

foreach ($role in $roles) {
    $assignment = if ($servicePrincipal) {
        Get-ManagementRoleAssignment -RoleAssignee $servicePrincipal.Identity -Role $role -ErrorAction SilentlyContinue
    }
    if (-not $assignment) {
        if ($PSCmdlet.ShouldProcess($role, "assign with scope $ScopeName")) {
            New-ManagementRoleAssignment -App $AppId -Role $role -CustomResourceScope $ScopeName | Out-Null
            Write-Host "assigned $role (scope: $ScopeName)"
        }
    }
    elseif ($assignment.CustomResourceScope -ne $ScopeName -and $PSCmdlet.ShouldProcess($role, "rescope to $ScopeName")) {
        Set-ManagementRoleAssignment -Identity $assignment.Name -CustomResourceScope $ScopeName
        Write-Host "rescoped $role (scope: $ScopeName)"
    }
    else {
        Write-Host "kept     $role (scope: $ScopeName)"
    }
}

if (-not $KeepTenantWideGrants) {
    & (Join-Path $PSScriptRoot 'grant-graph-permissions.ps1') -PrincipalId $PrincipalId -ExchangeScoped -WhatIf:$WhatIfPreference
    if (Get-Command azd -ErrorAction SilentlyContinue) {
        azd env set SYNC_EXCHANGE_SCOPED true
    }
    else {
        Write-Host 'Remember: SYNC_EXCHANGE_SCOPED=true for later runs of grant-graph-permissions (azd env set SYNC_EXCHANGE_SCOPED true).'
    }
}

# One member in scope, as Exchange sees it now (the cache can lag, see above).
$member = Get-DistributionGroupMember -Identity $groupObject.Identity -ResultSize 1 | Select-Object -First 1
if ($member) {
    Test-ServicePrincipalAuthorization -Identity $AppId -Resource $member.PrimarySmtpAddress |
        Format-Table RoleName, GrantedPermissions, AllowedResourceScope, InScope
}
Write-Host "Set SYNC_MAILBOX_GROUP to the group's Entra object id: $($groupObject.ExternalDirectoryObjectId)"
Write-Host "  azd env set SYNC_MAILBOX_GROUP $($groupObject.ExternalDirectoryObjectId); azd provision"
