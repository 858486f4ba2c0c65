// Role assignments of the app's identity: data access to its own storage account (no keys) and the right to
// publish telemetry to Application Insights (Entra ID ingestion). Optionally the same data roles for the
// operator who deployed and for a group of operators, so the command line works against Azure with each
// person's own sign-in (docs/admin-guide.md, "Deployed app: operate it from your own machine").
param storageAccountName string
param appInsightsName string
param identityPrincipalId string

@description('Object id of a person to give data access to the state (empty: none).')
param operatorPrincipalId string = ''

@description('Object id of an Entra group of operators to give the same data access (empty: none).')
param operatorsGroupId string = ''

// Built-in role definition ids (the same in every tenant).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

// Blob Data Owner: the Functions host keeps leases and the deployment package in blobs.
var appStorageRoles = [
  storageBlobDataOwner
  storageQueueDataContributor
  storageTableDataContributor
]
var operatorStorageRoles = [
  storageQueueDataContributor
  storageTableDataContributor
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource appStorageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in appStorageRoles: {
    name: guid(storage.id, identityPrincipalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource appTelemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorStorageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in (empty(operatorPrincipalId) ? [] : operatorStorageRoles): {
    name: guid(storage.id, operatorPrincipalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      // No principalType: azd may run as a person or, in a pipeline, as a service principal.
      principalId: operatorPrincipalId
    }
  }
]

resource operatorsGroupStorageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in (empty(operatorsGroupId) ? [] : operatorStorageRoles): {
    name: guid(storage.id, operatorsGroupId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: operatorsGroupId
      principalType: 'Group'
    }
  }
]
