// The Function App on a Flex Consumption (FC1) plan, Python. Flex rules: the runtime and version live in
// functionAppConfig.runtime, the package comes from a blob container (read with the managed identity), and
// the app settings WEBSITE_RUN_FROM_PACKAGE, FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION and
// WEBSITE_CONTENT* must not be set (the platform rejects or ignores them).
param name string
param planName string
param location string
param tags object = {}

@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string = '3.11'

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 40

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (storage, telemetry, Graph and F&O tokens).')
param identityClientId string

param storageAccountName string

@description('URL of the blob container holding the deployment package.')
param deploymentContainerUrl string

param appInsightsConnectionString string

@description('Attempts per queue message (host maxDequeueCount; equal to SYNC_MAX_ATTEMPTS).')
param maxDequeueCount int = 5

@description('Product settings (sync_core/settings.py names).')
param syncSettings object

@description('Client id of the Entra app registration administrators sign in to the console with (docs/console.md). Empty: App Service authentication is not configured and the console refuses every request.')
param consoleClientId string = ''

@description('Object id of the operators group: the only principals App Service lets through to the app, and the group the console checks.')
param operatorsGroupId string = ''

@description('App role (value) of the console registration that also admits an administrator. Empty: the group only.')
param consoleRole string = ''

@description('Service Bus namespace (host name) of the F&O data events queue; empty: data events off and their function disabled.')
param fnoEventsNamespace string = ''

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd deploys the service "sync" of azure.yaml to the site carrying this tag.
  tags: union(tags, {
    'azd-service-name': 'sync'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Platform settings come last in the union, so a product setting can never override them.
var platformSettings = {
  // Identity-based host storage: no account key, no connection string.
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AZURE_CLIENT_ID: identityClientId
  // Telemetry with Entra ID (the Application Insights resource refuses key-only ingestion).
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  OTEL_SERVICE_NAME: name
  // Overrides host.json so the host poisons a message exactly when the app counts it as failed.
  AzureFunctionsJobHost__extensions__queues__maxDequeueCount: string(maxDequeueCount)
  // Who may use the console (sync_core/console/azure.py checks the signed-in principal against them).
  SYNC_CONSOLE_GROUP_ID: operatorsGroupId
  SYNC_CONSOLE_ROLE: consoleRole
  // The Service Bus trigger of the F&O data events (connection "FnoEvents"), identity-based; the function is
  // disabled while data events are off, so the host opens no listener without a namespace.
  FnoEvents__fullyQualifiedNamespace: fnoEventsNamespace
  FnoEvents__credential: 'managedidentity'
  FnoEvents__clientId: identityClientId
  'AzureWebJobs.fno_data_events.Disabled': empty(fnoEventsNamespace) ? 'true' : 'false'
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(syncSettings, platformSettings)
}

// The console behind Entra ID sign-in (App Service authentication, "easy auth"): every request but Graph's
// change notifications (anonymous, checked against their clientState) must be signed in, and only members
// of the operators group get through. Without a client secret the sign-in uses the OpenID Connect implicit
// flow for an ID token, so the registration must issue ID tokens (docs/console.md). The function checks
// the principal again (X-MS-CLIENT-PRINCIPAL) and refuses when authentication is off (WEBSITE_AUTH_ENABLED).
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(consoleClientId)) {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: [
        '/api/graph/notifications'
        '/api/graph/lifecycle'
      ]
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: consoleClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            consoleClientId
            'api://${consoleClientId}'
          ]
          defaultAuthorizationPolicy: {
            allowedPrincipals: {
              groups: empty(operatorsGroupId) ? [] : [
                operatorsGroupId
              ]
            }
          }
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false // the console needs only the signed-in principal, never a token for another API
      }
    }
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
