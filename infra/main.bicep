// flowgate on Azure: one resource group holding a Flex Consumption function app (custom handler)
// that reaches Storage, Service Bus, Key Vault, Log Analytics and the Foundry account only over
// private endpoints, with a user-assigned managed identity and no secrets anywhere.
targetScope = 'subscription'

@description('Required. The azd environment name; names and tags every resource.')
@minLength(2)
@maxLength(20)
param environmentName string

@description('Required. The Azure region for every resource.')
param location string

@description('Optional. The resource ID of the Azure AI Foundry (AI Services) account the jobs call; empty skips its private endpoint and role assignment.')
param foundryAccountResourceId string = ''

@description('Optional. The resource ID of an Azure ML managed online endpoint whose traffic flowgate switches (blue/green); empty skips its role assignment.')
param onlineEndpointResourceId string = ''

@description('Optional. Days an audit blob stays immutable after its last append (time-based retention).')
@minValue(1)
@maxValue(146000)
param auditRetentionDays int = 2555

@description('Optional. Days before landing, quarantine and report blobs are deleted by the lifecycle policy.')
@minValue(1)
param dataRetentionDays int = 400

@description('Optional. Create the Event Grid system topic and its subscription sending BlobCreated on the landing container to the `arrivals` queue, which triggers DataArrived.')
param deployEventSubscription bool = true

@description('Optional. Run nothing until a release is active (FLOWGATE_RELEASES=required); prod sets it.')
param releasesRequired bool = false

@description('Optional. The application (client) id of the Entra app registration that signs people in (Easy Auth, with app roles Release.Approver, Release.Emergency and Quarantine.Operator). Empty: authentication is not configured and the HTTP functions refuse every change with 401.')
param authClientId string = ''

@description('Optional. The on-call mailbox for the Azure Monitor backstops (heartbeat missing, dead letters); empty: none.')
param oncallEmail string = ''

@description('Optional. Address space of the virtual network.')
param vnetAddressPrefix string = '10.40.0.0/16'

@description('Optional. The integration subnet (delegated to Flex Consumption), inside the address space.')
param integrationSubnetPrefix string = '10.40.0.0/24'

@description('Optional. The private endpoint subnet, inside the address space.')
param privateEndpointSubnetPrefix string = '10.40.1.0/24'

var tags = {
  'azd-env-name': environmentName
  application: 'flowgate'
}

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module core 'modules/core.bicep' = {
  name: 'flowgate-core'
  scope: group
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    foundryAccountResourceId: foundryAccountResourceId
    onlineEndpointResourceId: onlineEndpointResourceId
    auditRetentionDays: auditRetentionDays
    dataRetentionDays: dataRetentionDays
    deployEventSubscription: deployEventSubscription
    vnetAddressPrefix: vnetAddressPrefix
    integrationSubnetPrefix: integrationSubnetPrefix
    privateEndpointSubnetPrefix: privateEndpointSubnetPrefix
    releasesRequired: releasesRequired
    authClientId: authClientId
    oncallEmail: oncallEmail
  }
}

@description('The resource group that holds flowgate.')
output AZURE_RESOURCE_GROUP string = group.name

@description('The function app name (azd deploys the package here).')
output AZURE_FUNCTION_APP_NAME string = core.outputs.functionAppName

@description('The client ID of the user-assigned managed identity flowgate runs as.')
output AZURE_CLIENT_ID string = core.outputs.identityClientId

@description('The storage account holding state tables, data containers and the audit trail.')
output FLOWGATE_STORAGE_ACCOUNT string = core.outputs.storageAccountName

@description('The Service Bus namespace (fully qualified).')
output SERVICEBUS_NAMESPACE string = core.outputs.serviceBusFqdn
