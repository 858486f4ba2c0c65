// Exchange Sync for Dynamics 365 F&O: everything `azd up` creates, in one resource group.
// Flex Consumption (FC1) Function App running Python, its storage (state tables, work queues with their
// poison queues, deployment container), Application Insights on Log Analytics, a user-assigned managed
// identity with the storage and monitoring roles it needs, the health workbook and the alert rules.
// No keys or secrets anywhere: storage and telemetry use Entra ID with the managed identity.
targetScope = 'subscription'

// ---- Environment (azd) ----

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds unique resource names.')
param environmentName string

@minLength(1)
@description('Azure region of all resources (one that offers the Flex Consumption plan).')
param location string

@description('Object id of the person deploying (azd sets AZURE_PRINCIPAL_ID): gets data access to the state tables and queues, so `python -m sync_core status/failures/audit` work against Azure. Empty: none.')
param operatorPrincipalId string = ''

@description('Object id of an Entra group of operators: its members get Storage Table and Queue Data Contributor on the state, so the command line (status, failures, audit, approve-deletes, pause, retry) works against Azure with their own sign-in. Empty: none.')
param operatorsGroupId string = ''

@description('Client id of the Entra app registration for the administrator\'s console sign-in (docs/console.md). Empty: no sign-in is configured and the console refuses every request.')
param consoleClientId string = ''

@description('App role value of that registration that admits an administrator besides the operators group. Empty: the group only.')
param consoleRole string = ''

@description('Resource group name; empty: rg-<environmentName>.')
param resourceGroupName string = ''

// ---- Hosting ----

@allowed([
  '3.11'
  '3.12'
])
@description('Python version of the Function App.')
param pythonVersion string = '3.11'

@allowed([
  512
  2048
  4096
])
@description('Memory of each Flex Consumption instance (MB).')
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
@description('Upper bound of Flex Consumption instances (limits parallel load on Graph and F&O).')
param maximumInstanceCount int = 40

@minValue(30)
@maxValue(730)
@description('Days Log Analytics keeps telemetry (30 is included in the ingestion price).')
param logRetentionDays int = 30

@description('Daily ingestion cap of the Log Analytics workspace in GB (-1: none).')
param logDailyCapGb int = 1

// ---- Product settings (docs/admin-guide.md, Configuration) ----

@description('D365_URL: F&O environment root, e.g. https://contoso.operations.dynamics.com')
param d365Url string

@description('SYNC_COMPANY: dataAreaId for items created from Exchange.')
param company string

@allowed(['setting', 'employment'])
@description('SYNC_COMPANY_SOURCE: setting (SYNC_COMPANY) or employment (the legal entity of the worker\'s current employment, else SYNC_COMPANY); docs/companies.md.')
param companySource string = 'setting'

@description('SYNC_MAILBOX_COMPANIES: comma-separated mailbox-or-group-id=COMPANY pairs that win over SYNC_COMPANY_SOURCE; docs/companies.md.')
param mailboxCompanies string = ''

@description('SYNC_MAILBOXES: comma-separated mailbox addresses in scope.')
param mailboxes string = ''

@description('SYNC_MAILBOX_GROUP: Entra group object id whose members are in scope.')
param mailboxGroupId string = ''

@description('SYNC_SCHEDULE: NCRONTAB schedule of the planning timer.')
param schedule string = '0 */5 * * * *'

@description('GRAPH_URL: Microsoft Graph root.')
param graphUrl string = 'https://graph.microsoft.com/v1.0'

@description('SYNC_CATEGORY: Outlook category that marks items for sync.')
param syncCategory string = 'D365 Sync'

@description('SYNC_CONTACT_CATEGORIES: contact person categories allowed on private lists (empty: the sync category).')
param contactCategories string = ''

@description('SYNC_SHARED_LISTS: shared contact lists, each {name, mailbox, folder, contactFilter, customerFilter}.')
param sharedLists array = []

@allowed([
  'newest'
  'd365'
  'exchange'
])
@description('SYNC_CONFLICT_POLICY: who wins a field changed on both sides.')
param conflictPolicy string = 'newest'

@minValue(0)
@maxValue(3650)
@description('SYNC_WINDOW_DAYS_BACK: calendar window, days before today.')
param windowDaysBack int = 30

@minValue(1)
@maxValue(3650)
@description('SYNC_WINDOW_DAYS_AHEAD: calendar window, days after today.')
param windowDaysAhead int = 365

@minValue(0)
@maxValue(86400)
@description('SYNC_FNO_OVERLAP_SECONDS: the F&O change feeds read this far behind their watermark (longest transaction plus clock skew).')
param fnoOverlapSeconds int = 600

@description('SYNC_PARENT_LINKS_COLLECTION: OData collection of the activity parent links.')
param parentLinksCollection string = 'ActivityParentLinks'

@minLength(1)
@maxLength(21)
@description('SYNC_TABLE_PREFIX: prefix of the state tables.')
param tablePrefix string = 'sync'

@minLength(3)
@maxLength(56)
@description('SYNC_SCAN_QUEUE: queue of scan messages (its -poison queue is created too).')
param scanQueue string = 'sync-scan'

@minLength(3)
@maxLength(56)
@description('SYNC_ITEM_QUEUE: queue of item messages (its -poison queue is created too).')
param itemQueue string = 'sync-items'

@minValue(1)
@maxValue(100)
@description('SYNC_MAX_ATTEMPTS: attempts per queue message; also set as the host maxDequeueCount.')
param maxAttempts int = 5

@description('SYNC_CONTACT_FOLDER: contact folder of each mailbox that holds the private contacts.')
param contactFolder string = 'Dynamics 365'

@minValue(0)
@maxValue(1440)
@description('SYNC_CONTACT_MARK_SCAN_MINUTES: minutes between reads of each mailbox\'s default Contacts folder for contacts marked outside the private list\'s folder (0: every cycle).')
param contactMarkScanMinutes int = 60

@minValue(0)
@maxValue(1440)
@description('SYNC_SAFETY_POLL_MINUTES: with change notifications on, minutes between reads of a mailbox feed whose subscription is healthy and sent no notification (0: every cycle). docs/notifications.md.')
param safetyPollMinutes int = 240

@minValue(0)
@maxValue(1440)
@description('SYNC_TODO_POLL_MAX_MINUTES: with change notifications on, the longest wait between reads of the To Do tasks of a mailbox whose tasks did not change lately (0: every cycle).')
param todoPollMaxMinutes int = 60

@minValue(5)
@maxValue(100000)
@description('SYNC_GRAPH_RATE_LIMIT: Graph requests per mailbox per SYNC_GRAPH_RATE_WINDOW_SECONDS the sync paces itself to (Exchange allows 10,000 per 10 minutes).')
param graphRateLimit int = 9500

@minValue(1)
@maxValue(3600)
@description('SYNC_GRAPH_RATE_WINDOW_SECONDS: the window of SYNC_GRAPH_RATE_LIMIT.')
param graphRateWindowSeconds int = 600

@description('SYNC_SHARED_LIMITS: keep Graph\'s per-mailbox and F&O\'s per-user limits across all instances in the <prefix>Limits table (docs/limits.md).')
param sharedLimits bool = true

@minValue(1)
@maxValue(300)
@description('SYNC_LIMIT_LEASE_SECONDS: how long an instance\'s share of a limit stays taken without renewal (after a crash, at most this long).')
param limitLeaseSeconds int = 30

@minValue(1)
@maxValue(1000)
@description('SYNC_FNO_MAX_CONCURRENT: F&O requests in flight at once across all instances (F&O allows 52 per user).')
param fnoMaxConcurrent int = 48

@minValue(10)
@maxValue(1000000)
@description('SYNC_FNO_RATE_LIMIT: F&O requests per SYNC_FNO_RATE_WINDOW_SECONDS across all instances (F&O allows 6,000 per 5 minutes per user).')
param fnoRateLimit int = 5700

@minValue(1)
@maxValue(3600)
@description('SYNC_FNO_RATE_WINDOW_SECONDS: the window of SYNC_FNO_RATE_LIMIT.')
param fnoRateWindowSeconds int = 300

@description('SYNC_TODO_LIST: To Do list for tasks (empty: the default list).')
param todoList string = ''

@minValue(0)
@maxValue(1440)
@description('SYNC_TODO_LISTS_REFRESH_MINUTES: minutes between reads of each mailbox\'s list of To Do lists (0: every cycle).')
param todoListsRefreshMinutes int = 360

@minValue(0)
@maxValue(1440)
@description('SYNC_RETRY_MINUTES: first wait before a later cycle retries a failed item; doubles per retry up to 6 hours.')
param retryMinutes int = 5

@minValue(0)
@maxValue(86400)
@description('SYNC_CREATE_OUTCOME_WAIT_SECONDS: a create whose answer never came is looked for, and not created again until this long after the first attempt.')
param createOutcomeWaitSeconds int = 600

@description('SYNC_WRITE_WITHOUT_READ: write a change to the side that did not change without reading it first, with If-Match on the version the link holds (false: always read first).')
param writeWithoutRead bool = true

@description('SYNC_TODO_WRITE_WITHOUT_READ: the same for To Do tasks (To Do documents no If-Match; needs writeWithoutRead).')
param todoWriteWithoutRead bool = false

@description('SYNC_IMPORT_CATEGORY: Outlook category that asks for an e-mail import.')
param importCategory string = 'D365 Import'

@description('SYNC_IMPORTED_CATEGORY: category set after an import.')
param importedCategory string = 'D365 Imported'

@description('SYNC_IMPORT_FAILED_CATEGORY: category set when an import failed for good.')
param importFailedCategory string = 'D365 Import failed'

@description('SYNC_TENANT_DOMAINS: comma-separated own e-mail domains (empty: the mailboxes\' domains).')
param tenantDomains string = ''

@description('SYNC_DELETE_MAX_SHARE: safety valve, share of a mailbox\'s links one cycle may delete (0-1).')
param deleteMaxShare string = '0.2'

@minValue(1)
@description('SYNC_DELETE_MIN_ITEMS: safety valve, deletions always allowed below this count.')
param deleteMinItems int = 10

@minValue(0)
@maxValue(10080)
@description('SYNC_FNO_DELETE_CHECK_MINUTES: how often links are checked against F&O for deletions.')
param fnoDeleteCheckMinutes int = 60

@minValue(0)
@maxValue(168)
@description('SYNC_RECONCILE_HOURS: how often each mailbox and kind is reconciled (both sides listed and compared with the links); 0: never.')
param reconcileHours int = 6

@minValue(0)
@maxValue(36500)
@description('SYNC_AUDIT_RETENTION_DAYS: audit entries older than this are removed, a bounded batch each cycle; 0: kept forever.')
param auditRetentionDays int = 90

@description('SYNC_NETWORK_RETRY_SECONDS: first wait before a request that got no answer (host unreachable, timeout) is sent again; it doubles for each of the 5 retries.')
param networkRetrySeconds string = '1'

@description('SYNC_LOG_PERSONAL_DATA: true lets logs carry mailbox addresses and request URLs (for a support case); keep false.')
param logPersonalData bool = false

@description('SYNC_ADOPT_PREDECESSOR_IDS: at each mailbox\'s first scan, translate the ids an earlier Outlook sync left in OutlookEntryId and adopt those links (docs/migration.md).')
param adoptPredecessorIds bool = true

@allowed([
  'keep'
  'map'
])
@description('SYNC_MIGRATE_CATEGORIES: keep the earlier sync\'s categories on adopted events, or map them with migrateCategoryMap.')
param migrateCategories string = 'keep'

@description('SYNC_MIGRATE_CATEGORY_MAP: JSON object, earlier category name to new name ("" drops it), e.g. {"Dynamics AX": "D365 Sync"}.')
param migrateCategoryMap string = ''

@description('Change notifications: Graph calls the app (route api/graph/notifications) so Outlook changes sync within seconds; the timer stays the safety net. false: SYNC_NOTIFICATION_URL stays empty.')
param notifications bool = true

@description('SYNC_NOTIFICATION_URL: base URL Graph calls (empty: the app\'s own https://<app>.azurewebsites.net).')
param notificationUrl string = ''

@secure()
@description('SYNC_NOTIFICATION_SECRET: key of the subscriptions\' clientState, 32+ characters (empty: made once and kept in the state tables).')
param notificationSecret string = ''

@description('F&O data events: F&O sends a message for every change of an activity or contact person to a Service Bus queue and the app syncs it within seconds (docs/fno-events.md); the timer stays the safety net. true: the namespace, the queue and the app\'s right to read it are made and SYNC_FNO_EVENTS is true.')
param fnoEvents bool = false

@allowed([
  'Basic'
  'Standard'
])
@description('Service Bus tier of the data events\' namespace.')
param fnoEventsSku string = 'Basic'

// ---- Alerts ----

@description('E-mail address that receives the alerts (empty: alerts show in the portal only).')
param alertEmail string = ''

@minValue(10)
@description('Alert when a mailbox has not synced for this many minutes.')
param mailboxStaleMinutes int = 120

@minValue(1)
@maxValue(100)
@description('Alert when more than this percentage of queue messages failed for good within 30 minutes.')
param failureRatePercent int = 10

@minValue(1)
@description('The failure-rate alert needs at least this many messages in its window.')
param failureRateMinMessages int = 20

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-sync-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 12)}'

// Every product setting (sync_core/settings.py), as the app reads it. Settings not here: SYNC_STATIC_TOKEN
// (local stand-ins only; a token must never be an app setting), SYNC_STATE_DIR (embedded store only) and
// the AzureWebJobsStorage connection string (identity-based settings are made by the app module).
var syncSettings = {
  D365_URL: d365Url
  GRAPH_URL: graphUrl
  SYNC_AUTH: 'managed-identity'
  SYNC_MANAGED_IDENTITY_CLIENT_ID: identity.outputs.clientId
  SYNC_MAILBOXES: mailboxes
  SYNC_MAILBOX_GROUP: mailboxGroupId
  SYNC_COMPANY: company
  SYNC_COMPANY_SOURCE: companySource
  SYNC_MAILBOX_COMPANIES: mailboxCompanies
  SYNC_CATEGORY: syncCategory
  SYNC_CONTACT_CATEGORIES: contactCategories
  SYNC_SHARED_LISTS: string(sharedLists)
  SYNC_CONFLICT_POLICY: conflictPolicy
  SYNC_WINDOW_DAYS_BACK: string(windowDaysBack)
  SYNC_WINDOW_DAYS_AHEAD: string(windowDaysAhead)
  SYNC_FNO_OVERLAP_SECONDS: string(fnoOverlapSeconds)
  SYNC_PARENT_LINKS_COLLECTION: parentLinksCollection
  SYNC_TABLE_PREFIX: tablePrefix
  SYNC_SCAN_QUEUE: scanQueue
  SYNC_ITEM_QUEUE: itemQueue
  SYNC_MAX_ATTEMPTS: string(maxAttempts)
  SYNC_RETRY_MINUTES: string(retryMinutes)
  SYNC_CREATE_OUTCOME_WAIT_SECONDS: string(createOutcomeWaitSeconds)
  SYNC_SCHEDULE: schedule
  SYNC_CONTACT_FOLDER: contactFolder
  SYNC_CONTACT_MARK_SCAN_MINUTES: string(contactMarkScanMinutes)
  SYNC_SAFETY_POLL_MINUTES: string(safetyPollMinutes)
  SYNC_TODO_POLL_MAX_MINUTES: string(todoPollMaxMinutes)
  SYNC_TODO_LIST: todoList
  SYNC_GRAPH_RATE_LIMIT: string(graphRateLimit)
  SYNC_GRAPH_RATE_WINDOW_SECONDS: string(graphRateWindowSeconds)
  SYNC_SHARED_LIMITS: string(sharedLimits)
  SYNC_LIMIT_LEASE_SECONDS: string(limitLeaseSeconds)
  SYNC_FNO_MAX_CONCURRENT: string(fnoMaxConcurrent)
  SYNC_FNO_RATE_LIMIT: string(fnoRateLimit)
  SYNC_FNO_RATE_WINDOW_SECONDS: string(fnoRateWindowSeconds)
  SYNC_TODO_LISTS_REFRESH_MINUTES: string(todoListsRefreshMinutes)
  SYNC_WRITE_WITHOUT_READ: string(writeWithoutRead)
  SYNC_TODO_WRITE_WITHOUT_READ: string(todoWriteWithoutRead)
  SYNC_IMPORT_CATEGORY: importCategory
  SYNC_IMPORTED_CATEGORY: importedCategory
  SYNC_IMPORT_FAILED_CATEGORY: importFailedCategory
  SYNC_TENANT_DOMAINS: tenantDomains
  SYNC_DELETE_MAX_SHARE: deleteMaxShare
  SYNC_DELETE_MIN_ITEMS: string(deleteMinItems)
  SYNC_FNO_DELETE_CHECK_MINUTES: string(fnoDeleteCheckMinutes)
  SYNC_RECONCILE_HOURS: string(reconcileHours)
  SYNC_AUDIT_RETENTION_DAYS: string(auditRetentionDays)
  SYNC_NETWORK_RETRY_SECONDS: networkRetrySeconds
  SYNC_LOG_PERSONAL_DATA: string(logPersonalData)
  SYNC_ADOPT_PREDECESSOR_IDS: string(adoptPredecessorIds)
  SYNC_MIGRATE_CATEGORIES: migrateCategories
  SYNC_MIGRATE_CATEGORY_MAP: migrateCategoryMap
  SYNC_NOTIFICATION_URL: notifications ? (empty(notificationUrl) ? 'https://${functionAppName}.azurewebsites.net' : notificationUrl) : ''
  SYNC_NOTIFICATION_SECRET: notificationSecret
  SYNC_FNO_EVENTS: string(fnoEvents)
}
var fnoEventsNamespace = 'sb-sync-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-sync-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stsync${resourceToken}'
    location: location
    tags: tags
    tablePrefix: tablePrefix
    queueNames: [
      scanQueue
      itemQueue
    ]
    deploymentContainerName: deploymentContainerName
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    workspaceName: 'log-sync-${resourceToken}'
    appInsightsName: 'appi-sync-${resourceToken}'
    location: location
    tags: tags
    retentionDays: logRetentionDays
    dailyCapGb: logDailyCapGb
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    identityPrincipalId: identity.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorsGroupId: operatorsGroupId
  }
}

module fnoEventsBus 'modules/fnoevents.bicep' = if (fnoEvents) {
  name: 'fnoevents'
  scope: rg
  params: {
    name: fnoEventsNamespace
    location: location
    tags: tags
    sku: fnoEventsSku
    identityPrincipalId: identity.outputs.principalId
  }
}

module app 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-sync-${resourceToken}'
    location: location
    tags: tags
    pythonVersion: pythonVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${deploymentContainerName}'
    appInsightsConnectionString: monitoring.outputs.connectionString
    maxDequeueCount: maxAttempts
    syncSettings: syncSettings
    consoleClientId: consoleClientId
    operatorsGroupId: operatorsGroupId
    consoleRole: consoleRole
    fnoEventsNamespace: fnoEvents ? '${fnoEventsNamespace}.servicebus.windows.net' : ''
  }
  // The app starts polling its queues at once: its identity must already hold the storage roles (and the
  // data events' queue role).
  dependsOn: [
    roles
    fnoEventsBus
  ]
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    appInsightsId: monitoring.outputs.appInsightsId
    displayName: 'Exchange Sync health (${environmentName})'
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    namePrefix: 'sync-${resourceToken}'
    appInsightsId: monitoring.outputs.appInsightsId
    alertEmail: alertEmail
    mailboxStaleMinutes: mailboxStaleMinutes
    failureRatePercent: failureRatePercent
    failureRateMinMessages: failureRateMinMessages
  }
}

// azd reads these into its environment; the post-provision hook grants the Graph permissions with them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.name
output SYNC_IDENTITY_NAME string = identity.outputs.name
output SYNC_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output SYNC_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output SYNC_STORAGE_ACCOUNT string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output SYNC_WORKBOOK_ID string = workbook.outputs.id
output SYNC_FNO_EVENTS_NAMESPACE string = fnoEvents ? fnoEventsNamespace : ''
output SYNC_CONSOLE_URL string = 'https://${app.outputs.defaultHostName}/api/console/'
