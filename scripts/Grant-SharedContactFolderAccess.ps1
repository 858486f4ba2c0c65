<#
.SYNOPSIS
    Gives a group read (Reviewer) or edit (Editor) access to a shared contact list's folder.

.DESCRIPTION
    Shared contact lists of Exchange Sync for Dynamics 365 F&O live in a contact folder of a shared mailbox
    (SYNC_SHARED_LISTS). Who may see or change them is set with Exchange folder permissions, as it was for
    public folders. This script grants a mail-enabled security group (or a user) the chosen role on that folder,
    and replaces an existing permission of the same group instead of failing on it.
    Run it in Exchange Online PowerShell (Connect-ExchangeOnline) after the first sync has created the folder.
    The mailbox itself also needs to be visible to the members: grant them Read access to the folder's parent
    if Outlook should list it (-IncludeRoot).

.EXAMPLE
    ./scripts/Grant-SharedContactFolderAccess.ps1 -Mailbox sales-north@contoso.com -Folder "Sales North" `
        -Group sales-north-team@contoso.com -AccessRights Editor
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [Parameter(Mandatory = $true)][string] $Mailbox,
    [Parameter(Mandatory = $true)][string] $Folder,
    [Parameter(Mandatory = $true)][string] $Group,
    [ValidateSet('Reviewer', 'Editor')][string] $AccessRights = 'Reviewer',
    [switch] $IncludeRoot
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

if (-not (Get-Command Add-MailboxFolderPermission -ErrorAction SilentlyContinue)) {
    throw 'Exchange Online PowerShell is not connected: run Connect-ExchangeOnline first.'
}

# The contact folder under the mailbox's Contacts folder, as Exchange names it (Mailbox:\Contacts\Folder).
$contacts = Get-MailboxFolderStatistics -Identity $Mailbox -FolderScope ContactsFolder |
    Where-Object { $_.FolderType -eq 'Contacts' } | Select-Object -First 1
if (-not $contacts) { throw "No Contacts folder found in $Mailbox." }
$candidates = @(Get-MailboxFolderStatistics -Identity $Mailbox -FolderScope ContactsFolder |
    Where-Object { $_.Name -eq $Folder })
if ($candidates.Count -eq 0) { throw "No contact folder '$Folder' in $Mailbox yet: run a sync cycle first." }
$path = ($candidates[0].FolderPath -replace '/', '\')
$identity = "${Mailbox}:$path"

function Set-Permission([string] $Target, [string] $Rights) {
    $existing = Get-MailboxFolderPermission -Identity $Target -User $Group -ErrorAction SilentlyContinue
    if ($existing) {
        if ($PSCmdlet.ShouldProcess($Target, "Set-MailboxFolderPermission $Group $Rights")) {
            Set-MailboxFolderPermission -Identity $Target -User $Group -AccessRights $Rights | Out-Null
        }
    } elseif ($PSCmdlet.ShouldProcess($Target, "Add-MailboxFolderPermission $Group $Rights")) {
        Add-MailboxFolderPermission -Identity $Target -User $Group -AccessRights $Rights | Out-Null
    }
    Write-Host "$Group has $Rights on $Target"
}

if ($IncludeRoot) {
    # Folder visible only: lets Outlook show the shared mailbox's folder tree.
    Set-Permission -Target "${Mailbox}:\" -Rights 'FolderVisible'
}
Set-Permission -Target $identity -Rights $AccessRights
