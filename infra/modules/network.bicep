// The virtual network: an integration subnet delegated to Flex Consumption (Microsoft.App/
// environments) and a separate subnet for private endpoints; the private DNS zones of every
// private endpoint, each linked to the network.

@description('Required. The virtual network name.')
param name string

@description('Required. The region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. The address space, e.g. 10.40.0.0/16.')
param addressPrefix string

@description('Required. The integration subnet, inside the address space (a /24 or larger for Flex).')
param integrationSubnetPrefix string

@description('Required. The private endpoint subnet, inside the address space.')
param privateEndpointSubnetPrefix string

@description('Required. The private DNS zones to create and link (names without the trailing dot).')
param privateDnsZoneNames array

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'integration'
        properties: {
          addressPrefix: integrationSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for zone in privateDnsZoneNames: {
  name: zone
  location: 'global'
  tags: tags
}]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (zone, i) in privateDnsZoneNames: {
  parent: zones[i]
  name: '${name}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

@description('The virtual network resource ID.')
output resourceId string = vnet.id

@description('The virtual network name.')
output name string = vnet.name

@description('The integration subnet (delegated to Microsoft.App/environments).')
output integrationSubnetId string = vnet.properties.subnets[0].id

@description('The private endpoint subnet.')
output privateEndpointSubnetId string = vnet.properties.subnets[1].id

@description('The private DNS zone resource IDs, in the order given.')
output zoneIds array = [for (zone, i) in privateDnsZoneNames: zones[i].id]
