// Storage the sync needs: the state tables and the two work queues with their poison queues.
// The full deployment (Flex Consumption plan, Application Insights, managed identity, role assignments,
// azd) is added by the deployment issue; this file already creates what the app expects to exist,
// because the Functions queue trigger does not create queues.

@description('Location of all resources.')
param location string = resourceGroup().location

@description('Storage account name (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Prefix of the state tables (SYNC_TABLE_PREFIX).')
param tablePrefix string = 'sync'

@description('Queue names (SYNC_SCAN_QUEUE, SYNC_ITEM_QUEUE).')
param queueNames array = [
  'sync-scan'
  'sync-items'
]

var tableNames = [
  '${tablePrefix}Links'
  '${tablePrefix}Cursors'
  '${tablePrefix}Mailboxes'
  '${tablePrefix}Audit'
  '${tablePrefix}Failures'
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for name in concat(queueNames, map(queueNames, q => '${q}-poison')): {
    parent: queueService
    name: name
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for name in tableNames: {
    parent: tableService
    name: name
  }
]

output storageAccountName string = storage.name
