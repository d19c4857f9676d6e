// The user-assigned managed identity flowgate runs as: every data-plane call uses its tokens.

@description('Required. The identity name.')
param name string

@description('Required. The region.')
param location string

@description('Optional. Tags.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('The identity resource ID.')
output resourceId string = identity.id

@description('The identity name.')
output name string = identity.name

@description('The client ID (app settings `__clientId`, `AZURE_CLIENT_ID`).')
output clientId string = identity.properties.clientId

@description('The principal ID (role assignments).')
output principalId string = identity.properties.principalId
