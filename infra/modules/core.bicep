// Everything flowgate needs in its resource group, wired together: identity, network and DNS,
// storage, Service Bus, monitoring, Key Vault, the function app, a private endpoint for every
// data-plane service, and (optionally) the landing container's Event Grid subscription to `arrivals`.

@description('Required. The environment name, used in every resource name.')
param environmentName string

@description('Required. The region.')
param location string

@description('Required. Tags for every resource.')
param tags object

@description('Required. The Foundry (AI Services) account resource ID, or empty.')
param foundryAccountResourceId string

@description('Required. The resource ID of the managed online endpoint flowgate switches, or empty.')
param onlineEndpointResourceId string

@description('Required. Days an audit blob stays immutable after its last append.')
param auditRetentionDays int

@description('Required. Days before landing, quarantine and report blobs are deleted.')
param dataRetentionDays int

@description('Required. Whether to create the Event Grid subscription sending BlobCreated to the `arrivals` queue.')
param deployEventSubscription bool

@description('Required. The virtual network address space.')
param vnetAddressPrefix string

@description('Required. The integration subnet prefix.')
param integrationSubnetPrefix string

@description('Required. The private endpoint subnet prefix.')
param privateEndpointSubnetPrefix string

@description('Required. Whether nothing runs until a release is active.')
param releasesRequired bool

@description('Required. The Entra app registration that signs people in (empty: none).')
param authClientId string

@description('Required. The on-call mailbox the backstop alerts go to (empty: none).')
param oncallEmail string

var suffix = uniqueString(subscription().id, resourceGroup().id, environmentName)
var prefix = 'fg-${environmentName}'
var storageSuffix = environment().suffixes.storage
var zoneNames = [
  'privatelink.blob.${storageSuffix}'
  'privatelink.table.${storageSuffix}'
  'privatelink.queue.${storageSuffix}'
  'privatelink.servicebus.windows.net'
  'privatelink.vaultcore.azure.net'
  'privatelink.azurewebsites.net'
  'privatelink.cognitiveservices.azure.com'
  'privatelink.openai.azure.com'
  'privatelink.services.ai.azure.com'
  'privatelink.monitor.azure.com'
  'privatelink.oms.opinsights.azure.com'
  'privatelink.ods.opinsights.azure.com'
  'privatelink.agentsvc.azure-automation.net'
]
var hasFoundry = !empty(foundryAccountResourceId)

module identity 'identity.bicep' = {
  name: 'identity'
  params: {
    name: '${prefix}-id'
    location: location
    tags: tags
  }
}

module network 'network.bicep' = {
  name: 'network'
  params: {
    name: '${prefix}-vnet'
    location: location
    tags: tags
    addressPrefix: vnetAddressPrefix
    integrationSubnetPrefix: integrationSubnetPrefix
    privateEndpointSubnetPrefix: privateEndpointSubnetPrefix
    privateDnsZoneNames: zoneNames
  }
}

module monitoring 'monitoring.bicep' = {
  name: 'monitoring'
  params: {
    namePrefix: prefix
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module storage 'storage.bicep' = {
  name: 'storage'
  params: {
    name: take('stfg${suffix}', 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    auditRetentionDays: auditRetentionDays
    dataRetentionDays: dataRetentionDays
    workspaceResourceId: monitoring.outputs.workspaceResourceId
  }
}

module serviceBus 'servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: '${prefix}-sb-${take(suffix, 6)}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    workspaceResourceId: monitoring.outputs.workspaceResourceId
  }
}

module vault 'keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: take('kv-fg-${suffix}', 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    workspaceResourceId: monitoring.outputs.workspaceResourceId
  }
}

module app 'functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: '${prefix}-func-${take(suffix, 6)}'
    location: location
    tags: tags
    identityResourceId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    integrationSubnetId: network.outputs.integrationSubnetId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    serviceBusFqdn: serviceBus.outputs.fqdn
    insightsConnectionString: monitoring.outputs.insightsConnectionString
    logsIngestionEndpoint: monitoring.outputs.logsIngestionEndpoint
    auditRuleImmutableId: monitoring.outputs.auditRuleImmutableId
    vaultUri: vault.outputs.uri
    releasesRequired: releasesRequired
    authClientId: authClientId
  }
}

// The backstops flowgate cannot raise itself: heartbeat missing, dead letters.
module alerts 'alerts.bicep' = {
  name: 'alerts'
  params: {
    namePrefix: prefix
    location: location
    tags: tags
    workspaceResourceId: monitoring.outputs.workspaceResourceId
    serviceBusNamespaceId: serviceBus.outputs.resourceId
    oncallEmail: oncallEmail
  }
}

// Private endpoints: every data-plane service, each with its DNS zone group.
module peBlob 'private-endpoint.bicep' = {
  name: 'pe-blob'
  params: {
    name: '${prefix}-pe-blob'
    location: location
    tags: tags
    subnetResourceId: network.outputs.privateEndpointSubnetId
    targetResourceId: storage.outputs.resourceId
    groupId: 'blob'
    privateDnsZoneResourceIds: [
      network.outputs.zoneIds[0]
    ]
  }
}

module peTable 'private-endpoint.bicep' = {
  name: 'pe-table'
  params: {
    name: '${prefix}-pe-table'
    location: location
    tags: tags
    subnetResourceId: network.outputs.privateEndpointSubnetId
    targetResourceId: storage.outputs.resourceId
    groupId: 'table'
    privateDnsZoneResourceIds: [
      network.outputs.zoneIds[1]
    ]
  }
}

module peQueue 'private-endpoint.bicep' = {
  name: 'pe-queue'
  params: {
    name: '${prefix}-pe-queue'
    location: location
    tags: tags
    subnetResourceId: network.outputs.privateEndpointSubnetId
    targetResourceId: storage.outputs.resourceId
    groupId: 'queue'
    privateDnsZoneResourceIds: [
      network.outputs.zoneIds[2]
    ]
  }
}

module peServiceBus 'private-endpoint.bicep' = {
  name: 'pe-servicebus'
  params: {
    name: '${prefix}-pe-sb'
    location: location
    tags: tags
    subnetResourceId: network.outputs.privateEndpointSubnetId
    targetResourceId: serviceBus.outputs.resourceId
    groupId: 'namespace'
    privateDnsZoneResourceIds: [
      network.outputs.zoneIds[3]
    ]
  }
}

module peVault 'private-endpoint.bicep' = {
  name: 'pe-vault'
  params: {
    name: '${prefix}-pe-kv'
    location: location
    tags: tags
    subnetResourceId: network.outputs.privateEndpointSubnetId
    targetResourceId: vault.outputs.resourceId
    groupId: 'vault'
    privateDnsZoneResourceIds: [
      network.outputs.zoneIds[4]
    ]
  }
}

module peSite 'private-endpoint.bicep' = {
  name: 'pe-site'
  params: {
    name: '${prefix}-pe-func'
    location: location
    tags: tags
    subnetResourceId: network.outputs.privateEndpointSubnetId
    targetResourceId: app.outputs.resourceId
    groupId: 'sites'
    privateDnsZoneResourceIds: [
      network.outputs.zoneIds[5]
    ]
  }
}

module peFoundry 'private-endpoint.bicep' = if (hasFoundry) {
  name: 'pe-foundry'
  params: {
    name: '${prefix}-pe-ai'
    location: location
    tags: tags
    subnetResourceId: network.outputs.privateEndpointSubnetId
    targetResourceId: foundryAccountResourceId
    groupId: 'account'
    privateDnsZoneResourceIds: [
      network.outputs.zoneIds[6]
      network.outputs.zoneIds[7]
      network.outputs.zoneIds[8]
    ]
  }
}

module peMonitor 'private-endpoint.bicep' = {
  name: 'pe-monitor'
  params: {
    name: '${prefix}-pe-ampls'
    location: location
    tags: tags
    subnetResourceId: network.outputs.privateEndpointSubnetId
    targetResourceId: monitoring.outputs.privateLinkScopeResourceId
    groupId: 'azuremonitor'
    privateDnsZoneResourceIds: [
      network.outputs.zoneIds[9]
      network.outputs.zoneIds[10]
      network.outputs.zoneIds[11]
      network.outputs.zoneIds[12]
      network.outputs.zoneIds[0]
    ]
  }
}

module foundryAccess 'foundry-access.bicep' = if (hasFoundry) {
  name: 'foundry-access'
  scope: resourceGroup(split(foundryAccountResourceId, '/')[2], split(foundryAccountResourceId, '/')[4])
  params: {
    accountName: last(split(foundryAccountResourceId, '/'))
    principalId: identity.outputs.principalId
  }
}

module endpointAccess 'endpoint-access.bicep' = if (!empty(onlineEndpointResourceId)) {
  name: 'endpoint-access'
  scope: resourceGroup(split(onlineEndpointResourceId, '/')[2], split(onlineEndpointResourceId, '/')[4])
  params: {
    workspaceName: split(onlineEndpointResourceId, '/')[8]
    endpointName: last(split(onlineEndpointResourceId, '/'))
    principalId: identity.outputs.principalId
  }
}

module events 'eventgrid.bicep' = if (deployEventSubscription) {
  name: 'eventgrid'
  params: {
    name: '${prefix}-egst'
    location: location
    tags: tags
    storageAccountResourceId: storage.outputs.resourceId
    serviceBusNamespaceName: serviceBus.outputs.name
  }
}

@description('The function app name.')
output functionAppName string = app.outputs.name

@description('The managed identity client ID.')
output identityClientId string = identity.outputs.clientId

@description('The storage account name.')
output storageAccountName string = storage.outputs.name

@description('The fully qualified Service Bus namespace.')
output serviceBusFqdn string = serviceBus.outputs.fqdn
