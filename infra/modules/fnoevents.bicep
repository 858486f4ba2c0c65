// F&O data events (docs/fno-events.md): the Service Bus queue F&O sends them to and the app's right to read it.
// F&O's Azure Service Bus Queue endpoint authenticates with a connection string it reads from Key Vault
// (how-to-servicebus-queue.md), so the namespace keeps SAS for senders: a rule that may only send. The app
// reads with its managed identity (Azure Service Bus Data Receiver on the queue), no key.
param name string
param location string
param tags object = {}

@description('Queue F&O sends the data events to (the Function fno_data_events reads it).')
param queueName string = 'fno-data-events'

@allowed([
  'Basic'
  'Standard'
])
@description('Basic has queues, dead-lettering and 256 KB messages, all the data events need.')
param sku string = 'Basic'

@description('Deliveries before Service Bus moves a message to the dead-letter queue (the timer feed covers what it held).')
param maxDeliveryCount int = 10

param identityPrincipalId string

// Built-in role: Azure Service Bus Data Receiver (the same in every tenant).
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    tier: sku
  }
  properties: {
    minimumTlsVersion: '1.2'
    // F&O (or Dataverse, which proxies its events) sends with a SAS connection string.
    disableLocalAuth: false
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: queueName
  properties: {
    maxDeliveryCount: maxDeliveryCount
    lockDuration: 'PT1M'
    // An event older than a day is long covered by the timer's F&O feed.
    defaultMessageTimeToLive: 'P1D'
    deadLetteringOnMessageExpiration: false
  }
}

// The connection string of this rule goes into the Key Vault secret F&O's endpoint names: send only.
resource sendRule 'Microsoft.ServiceBus/namespaces/authorizationRules@2022-10-01-preview' = {
  parent: namespace
  name: 'fno-send'
  properties: {
    rights: [
      'Send'
    ]
  }
}

resource receiverAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queue.id, identityPrincipalId, serviceBusDataReceiver)
  scope: queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output namespaceName string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output queueName string = queue.name
output sendRuleName string = sendRule.name
