// One private endpoint with its DNS zone group: the target is reached only over the virtual
// network, by its usual host name.

@description('Required. The private endpoint name.')
param name string

@description('Required. The region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. The subnet for private endpoints.')
param subnetResourceId string

@description('Required. The resource the endpoint connects to.')
param targetResourceId string

@description('Required. The target sub-resource (group id), e.g. blob, table, queue, namespace, vault, account, sites, azuremonitor.')
param groupId string

@description('Required. The private DNS zones that resolve the target (resource IDs).')
param privateDnsZoneResourceIds array

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetResourceId
    }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: targetResourceId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [for (zoneId, i) in privateDnsZoneResourceIds: {
      name: 'zone-${i}'
      properties: {
        privateDnsZoneId: zoneId
      }
    }]
  }
}

@description('The private endpoint resource ID.')
output resourceId string = endpoint.id

@description('The private endpoint name.')
output name string = endpoint.name
