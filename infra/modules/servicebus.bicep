// Service Bus Premium (private endpoints need Premium): local (SAS) auth off, TLS 1.2, no public
// network, except for trusted Microsoft services authenticating with their own identity (the Event
// Grid system topic delivering BlobCreated to `arrivals`); queues `dispatch`, `poll`, `quarantine`,
// `checks` (release gate requests) and `arrivals` (data arrivals) with duplicate detection
// (flowgate's MessageIds are deterministic, as are Event Grid's event ids) and a bounded delivery count.

@description('Required. The namespace name.')
param name string

@description('Required. The region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. Principal ID of the managed identity that sends and receives.')
param principalId string

@description('Required. The Log Analytics workspace receiving the namespace logs.')
param workspaceResourceId string

var queueNames = [
  'dispatch'
  'poll'
  'quarantine'
  'checks'
  'arrivals'
]

// Azure Service Bus Data Sender and Data Receiver.
var roles = [
  '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
]

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Premium'
    tier: 'Premium'
    capacity: 1
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Disabled'
    zoneRedundant: true
  }
}

// No public access; Event Grid, a trusted service, still delivers with its managed identity and the
// Data Sender role it holds on `arrivals` (and nothing else).
resource network 'Microsoft.ServiceBus/namespaces/networkRuleSets@2022-10-01-preview' = {
  parent: namespace
  name: 'default'
  properties: {
    publicNetworkAccess: 'Disabled'
    defaultAction: 'Deny'
    trustedServiceAccessEnabled: true
    ipRules: []
    virtualNetworkRules: []
  }
}

resource queueSet 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [for q in queueNames: {
  parent: namespace
  name: q
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    maxDeliveryCount: 10
    lockDuration: 'PT5M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}]

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-workspace'
  scope: namespace
  properties: {
    workspaceId: workspaceResourceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

resource access 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in roles: {
  name: guid(namespace.id, principalId, role)
  scope: namespace
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

@description('The namespace resource ID.')
output resourceId string = namespace.id

@description('The namespace name.')
output name string = namespace.name

@description('The fully qualified namespace (`__fullyQualifiedNamespace`).')
output fqdn string = replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')
