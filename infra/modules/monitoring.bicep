// Monitoring: a Log Analytics workspace and workspace-based Application Insights, both with local
// (key) auth off and public ingestion and query off (reached through an Azure Monitor Private
// Link Scope); a data collection endpoint and rule carrying flowgate's audit copy into the
// `FlowgateAudit_CL` table, and its heartbeat, signals and runs into `FlowgateHeartbeat_CL`,
// `FlowgateSignals_CL` and `FlowgateRuns_CL`, through the Logs Ingestion API.

@description('Required. Prefix of the monitoring resource names.')
param namePrefix string

@description('Required. The region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. Principal ID of the managed identity that sends telemetry and audit rows.')
param principalId string

@description('Optional. Days the workspace keeps data.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 365

// Monitoring Metrics Publisher: App Insights (AAD ingestion) and the DCR (Logs Ingestion).
var publisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-law'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
    publicNetworkAccessForIngestion: 'Disabled'
    publicNetworkAccessForQuery: 'Disabled'
  }
}

resource auditTable 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: 'FlowgateAudit_CL'
  properties: {
    retentionInDays: retentionInDays
    schema: {
      name: 'FlowgateAudit_CL'
      columns: [
        { name: 'TimeGenerated', type: 'datetime' }
        { name: 'Seq', type: 'long' }
        { name: 'Kind', type: 'string' }
        { name: 'Actor', type: 'string' }
        { name: 'Subject', type: 'string' }
        { name: 'Decision', type: 'string' }
        { name: 'Evidence', type: 'string' }
        { name: 'InvocationId', type: 'string' }
        { name: 'PrevHash', type: 'string' }
        { name: 'Hash', type: 'string' }
      ]
    }
  }
}


// flowgate's facts (docs/monitoring.md): a heartbeat per tick, signals and finished runs.
var heartbeatColumns = [
  { name: 'TimeGenerated', type: 'datetime' }
  { name: 'Instance', type: 'string' }
  { name: 'Version', type: 'string' }
  { name: 'Release', type: 'string' }
  { name: 'Firing', type: 'long' }
]
var signalColumns = [
  { name: 'TimeGenerated', type: 'datetime' }
  { name: 'Kind', type: 'string' }
  { name: 'Name', type: 'string' }
  { name: 'Active', type: 'long' }
  { name: 'Scheduled', type: 'long' }
  { name: 'DeadLetter', type: 'long' }
  { name: 'Status', type: 'string' }
  { name: 'Severity', type: 'string' }
  { name: 'Fingerprint', type: 'string' }
  { name: 'Labels', type: 'string' }
]
var runColumns = [
  { name: 'TimeGenerated', type: 'datetime' }
  { name: 'Job', type: 'string' }
  { name: 'LogicalTime', type: 'string' }
  { name: 'Status', type: 'string' }
  { name: 'Attempts', type: 'long' }
  { name: 'FirstAttemptSucceeded', type: 'boolean' }
  { name: 'DurationMs', type: 'long' }
  { name: 'StartDelayMs', type: 'long' }
  { name: 'SlaDeadline', type: 'string' }
  { name: 'Release', type: 'string' }
]

resource heartbeatTable 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: 'FlowgateHeartbeat_CL'
  properties: {
    retentionInDays: retentionInDays
    schema: {
      name: 'FlowgateHeartbeat_CL'
      columns: heartbeatColumns
    }
  }
}

resource signalTable 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: 'FlowgateSignals_CL'
  properties: {
    retentionInDays: retentionInDays
    schema: {
      name: 'FlowgateSignals_CL'
      columns: signalColumns
    }
  }
}

resource runTable 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: 'FlowgateRuns_CL'
  properties: {
    retentionInDays: retentionInDays
    schema: {
      name: 'FlowgateRuns_CL'
      columns: runColumns
    }
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-appi'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: 'Disabled'
    publicNetworkAccessForQuery: 'Disabled'
  }
}

resource endpoint 'Microsoft.Insights/dataCollectionEndpoints@2023-03-11' = {
  name: '${namePrefix}-dce'
  location: location
  tags: tags
  properties: {
    networkAcls: {
      publicNetworkAccess: 'Disabled'
    }
  }
}

resource rule 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: '${namePrefix}-dcr-audit'
  location: location
  tags: tags
  properties: {
    dataCollectionEndpointId: endpoint.id
    streamDeclarations: {
      'Custom-FlowgateAudit_CL': {
        columns: [
          { name: 'TimeGenerated', type: 'datetime' }
          { name: 'Seq', type: 'long' }
          { name: 'Kind', type: 'string' }
          { name: 'Actor', type: 'string' }
          { name: 'Subject', type: 'string' }
          { name: 'Decision', type: 'string' }
          { name: 'Evidence', type: 'string' }
          { name: 'InvocationId', type: 'string' }
          { name: 'PrevHash', type: 'string' }
          { name: 'Hash', type: 'string' }
        ]
      }
      'Custom-FlowgateHeartbeat_CL': { columns: heartbeatColumns }
      'Custom-FlowgateSignals_CL': { columns: signalColumns }
      'Custom-FlowgateRuns_CL': { columns: runColumns }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'workspace'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          'Custom-FlowgateAudit_CL'
        ]
        destinations: [
          'workspace'
        ]
        transformKql: 'source'
        outputStream: 'Custom-FlowgateAudit_CL'
      }
      { streams: [ 'Custom-FlowgateHeartbeat_CL' ], destinations: [ 'workspace' ], transformKql: 'source', outputStream: 'Custom-FlowgateHeartbeat_CL' }
      { streams: [ 'Custom-FlowgateSignals_CL' ], destinations: [ 'workspace' ], transformKql: 'source', outputStream: 'Custom-FlowgateSignals_CL' }
      { streams: [ 'Custom-FlowgateRuns_CL' ], destinations: [ 'workspace' ], transformKql: 'source', outputStream: 'Custom-FlowgateRuns_CL' }
    ]
  }
  dependsOn: [
    auditTable
    heartbeatTable
    signalTable
    runTable
  ]
}

resource scope 'Microsoft.Insights/privateLinkScopes@2021-07-01-preview' = {
  name: '${namePrefix}-ampls'
  location: 'global'
  tags: tags
  properties: {
    accessModeSettings: {
      ingestionAccessMode: 'PrivateOnly'
      queryAccessMode: 'PrivateOnly'
    }
  }
}

resource scopedWorkspace 'Microsoft.Insights/privateLinkScopes/scopedResources@2021-07-01-preview' = {
  parent: scope
  name: 'workspace'
  properties: {
    linkedResourceId: workspace.id
  }
}

resource scopedInsights 'Microsoft.Insights/privateLinkScopes/scopedResources@2021-07-01-preview' = {
  parent: scope
  name: 'insights'
  properties: {
    linkedResourceId: insights.id
  }
}

resource scopedEndpoint 'Microsoft.Insights/privateLinkScopes/scopedResources@2021-07-01-preview' = {
  parent: scope
  name: 'dce'
  properties: {
    linkedResourceId: endpoint.id
  }
}

resource insightsAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, principalId, publisher)
  scope: insights
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', publisher)
  }
}

resource ruleAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(rule.id, principalId, publisher)
  scope: rule
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', publisher)
  }
}

@description('The workspace resource ID.')
output workspaceResourceId string = workspace.id

@description('The Azure Monitor Private Link Scope resource ID.')
output privateLinkScopeResourceId string = scope.id

@description('The Application Insights connection string (an ingestion address, not a secret; local auth is off).')
output insightsConnectionString string = insights.properties.ConnectionString

@description('The data collection endpoint for the Logs Ingestion API.')
output logsIngestionEndpoint string = endpoint.properties.logsIngestion.endpoint

@description('The immutable id of the audit data collection rule.')
output auditRuleImmutableId string = rule.properties.immutableId

@description('The workspace name.')
output name string = workspace.name
