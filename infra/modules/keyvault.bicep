// Key Vault for the PII tokenization key: RBAC only, purge protection, no public network.

@description('Required. The vault name.')
param name string

@description('Required. The region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. Principal ID of the managed identity that reads the key.')
param principalId string

@description('Required. The Log Analytics workspace receiving the vault audit logs.')
param workspaceResourceId string

// Key Vault Secrets User.
var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'premium'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Disabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'None'
    }
  }
}

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-workspace'
  scope: vault
  properties: {
    workspaceId: workspaceResourceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

resource access 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, secretsUser)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
  }
}

@description('The vault resource ID.')
output resourceId string = vault.id

@description('The vault name.')
output name string = vault.name

@description('The vault URI.')
output uri string = vault.properties.vaultUri
