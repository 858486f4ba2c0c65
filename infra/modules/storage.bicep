// Storage of the app: the Functions host (identity-based AzureWebJobsStorage), the deployment package
// container of the Flex Consumption plan, the state tables and the work queues. Queues and tables are created
// here because the Functions queue trigger does not create queues and the poison queues must exist to be
// watched. Names follow sync_core/settings.py (SYNC_TABLE_PREFIX, SYNC_SCAN_QUEUE, SYNC_ITEM_QUEUE).
param name string
param location string
param tags object = {}

@description('Prefix of the state tables (SYNC_TABLE_PREFIX).')
param tablePrefix string = 'sync'

@description('Work queues (SYNC_SCAN_QUEUE, SYNC_ITEM_QUEUE); each also gets its -poison queue.')
param queueNames array = [
  'sync-scan'
  'sync-items'
]

@description('Blob container the Flex Consumption plan deploys the app package from.')
param deploymentContainerName string

var tableNames = [
  '${tablePrefix}Links'
  '${tablePrefix}Cursors'
  '${tablePrefix}Mailboxes'
  '${tablePrefix}Audit'
  '${tablePrefix}Failures'
  '${tablePrefix}ContactLists'
  '${tablePrefix}Limits'
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queueName in concat(queueNames, map(queueNames, q => '${q}-poison')): {
    parent: queueService
    name: queueName
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
