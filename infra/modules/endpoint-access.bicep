// Access to an existing Azure ML managed online endpoint, in its own resource group: the managed
// identity may score it and switch its traffic (blue/green, docs/rollouts.md) as AzureML Data
// Scientist on that endpoint only.

@description('Required. The Azure ML workspace (or Foundry hub project) name.')
param workspaceName string

@description('Required. The managed online endpoint name.')
param endpointName string

@description('Required. Principal ID of the managed identity.')
param principalId string

// AzureML Data Scientist.
var dataScientist = 'f6c7c914-8db3-469d-8ca1-694a8f32e121'

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: workspaceName
}

resource endpoint 'Microsoft.MachineLearningServices/workspaces/onlineEndpoints@2024-10-01' existing = {
  parent: workspace
  name: endpointName
}

resource access 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(endpoint.id, principalId, dataScientist)
  scope: endpoint
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataScientist)
  }
}

@description('The endpoint resource ID (the `management` URL of its jobs is https://management.azure.com followed by it).')
output resourceId string = endpoint.id
