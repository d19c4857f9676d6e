// Access to the existing Azure AI Foundry (AI Services) account, in its own resource group: the
// managed identity may call its projects, endpoints and evaluations (Azure AI User).

@description('Required. The AI Services account name.')
param accountName string

@description('Required. Principal ID of the managed identity.')
param principalId string

// Azure AI User.
var aiUser = '53ca6127-db72-4b80-b1b0-d745d6d5456d'

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: accountName
}

resource access 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, aiUser)
  scope: account
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', aiUser)
  }
}

@description('The account resource ID.')
output resourceId string = account.id

@description('The account name.')
output name string = account.name
