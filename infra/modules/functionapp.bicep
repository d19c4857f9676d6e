// The function app: Flex Consumption (FC1, Linux) running flowgate as a custom handler, with the
// user-assigned identity, VNet integration, no public network access (a private endpoint is its
// only way in) and identity-based connections only: no key, SAS or connection string anywhere.

@description('Required. The function app name.')
param name string

@description('Required. The region.')
param location string

@description('Optional. Tags (the site also gets azd-service-name).')
param tags object = {}

@description('Required. The user-assigned identity resource ID.')
param identityResourceId string

@description('Required. The user-assigned identity client ID.')
param identityClientId string

@description('Required. The integration subnet (delegated to Microsoft.App/environments).')
param integrationSubnetId string

@description('Required. The storage account name (host storage, state, data).')
param storageAccountName string

@description('Required. The storage blob endpoint (ends with a slash).')
param blobEndpoint string

@description('Required. The storage table endpoint.')
param tableEndpoint string

@description('Required. The fully qualified Service Bus namespace.')
param serviceBusFqdn string

@description('Required. The Application Insights connection string (local auth is off; AAD only).')
param insightsConnectionString string

@description('Required. The Logs Ingestion endpoint of the data collection endpoint.')
param logsIngestionEndpoint string

@description('Required. The immutable id of the audit data collection rule.')
param auditRuleImmutableId string

@description('Required. The Key Vault URI (ends with a slash).')
param vaultUri string

@description('Required. Whether nothing runs until a release is active (FLOWGATE_RELEASES=required).')
param releasesRequired bool

@description('Required. The Entra app registration that signs people in (empty: App Service authentication is not configured).')
param authClientId string

@description('Optional. The most instances Flex may scale to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${name}-plan'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    // checkov:skip=CKV_AZURE_225: zone redundancy of a Flex plan is a cost and availability decision left to the operator
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'flowgate'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    // checkov:skip=CKV_AZURE_17: queue- and timer-triggered functions behind a private endpoint; HTTP functions use function keys and Entra ID
    // checkov:skip=CKV_AZURE_212: Flex Consumption scales instances itself; a fixed worker count does not apply
    // checkov:skip=CKV_AZURE_213: health checks are an App Service plan feature, not available on Flex Consumption
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Disabled'
    virtualNetworkSubnetId: integrationSubnetId
    keyVaultReferenceIdentity: identityResourceId
    clientCertEnabled: false
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}deployment'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: serviceBusFqdn }
        { name: 'ServiceBusConnection__credential', value: 'managedidentity' }
        { name: 'ServiceBusConnection__clientId', value: identityClientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        { name: 'AZURE_CLIENT_ID', value: identityClientId }
        { name: 'FLOWGATE_CATALOG', value: 'catalog/catalog.yaml' }
        { name: 'FLOWGATE_LOG_FORMAT', value: 'json' }
        { name: 'FLOWGATE_STORAGE_ACCOUNT', value: storageAccountName }
        { name: 'FLOWGATE_BLOB_ENDPOINT', value: blobEndpoint }
        { name: 'FLOWGATE_TABLE_ENDPOINT', value: tableEndpoint }
        { name: 'FLOWGATE_SERVICEBUS_NAMESPACE', value: serviceBusFqdn }
        { name: 'FLOWGATE_LOGS_ENDPOINT', value: logsIngestionEndpoint }
        { name: 'FLOWGATE_LOGS_DCR', value: auditRuleImmutableId }
        { name: 'FLOWGATE_LOGS_STREAM', value: 'Custom-FlowgateAudit_CL' }
        { name: 'FLOWGATE_PII_KEY_SECRET_URL', value: '${vaultUri}secrets/pii-key' }
        { name: 'FLOWGATE_RELEASES', value: releasesRequired ? 'required' : 'optional' }
      ]
    }
  }
}

// App Service authentication (Easy Auth): every request signed in with Entra ID (401 otherwise),
// the issuer pinned to this tenant, the principal passed to flowgate in X-MS-CLIENT-PRINCIPAL.
// GitHub's webhook signs its deliveries instead of signing in: its route is excluded.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(authClientId)) {
  // checkov reads this authsettingsV2 child as if it were a whole web app; the app's own settings are on `site` above:
  // checkov:skip=CKV_AZURE_13: this resource is the App Service authentication itself (Entra ID, 401 for anyone not signed in)
  // checkov:skip=CKV_AZURE_63: HTTP logging is a property of the site, not of its authentication settings
  // checkov:skip=CKV_AZURE_65: detailed error logging is a property of the site, not of its authentication settings
  // checkov:skip=CKV_AZURE_66: failed request tracing is a property of the site, not of its authentication settings
  // checkov:skip=CKV_AZURE_80: .NET version does not apply: flowgate is a custom handler, and this is its authentication config
  // checkov:skip=CKV_AZURE_88: Azure Files storage mounts do not apply to authentication settings
  // checkov:skip=CKV_AZURE_222: public network access is disabled on the site itself; this child holds only authentication
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: [ '/api/github-gate' ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [ 'api://${authClientId}' ]
        }
      }
    }
    login: {
      tokenStore: { enabled: false }
    }
  }
}

@description('The function app resource ID.')
output resourceId string = site.id

@description('The function app name.')
output name string = site.name
