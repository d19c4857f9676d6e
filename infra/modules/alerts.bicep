// The backstops flowgate cannot raise itself (docs/monitoring.md): an action group, a log alert
// when flowgate's heartbeat stops (a process cannot report its own death), and a metric alert
// when a Service Bus dead-letter queue holds a message. Both resolve themselves (autoMitigate).

@description('Required. Prefix of the alert resource names.')
param namePrefix string

@description('Required. The region of the log alert (the action group and the metric alert are global).')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. The Log Analytics workspace that receives FlowgateHeartbeat_CL.')
param workspaceResourceId string

@description('Required. The Service Bus namespace whose dead-letter queues are watched.')
param serviceBusNamespaceId string

@description('Optional. The on-call mailbox (empty: no e-mail receiver).')
param oncallEmail string = ''

@description('Optional. The AlertIngest URL of the function app, for an app Azure Monitor can reach (empty: none; a private app cannot receive action group webhooks, docs/monitoring.md).')
param alertIngestUrl string = ''

@description('Optional. The object ID of the Entra app registration that protects AlertIngest (with alertIngestUrl).')
param ingestAppObjectId string = ''

@description('Optional. The application ID URI of that registration (with alertIngestUrl).')
param ingestAppIdUri string = ''

var ingest = !empty(alertIngestUrl) && !empty(ingestAppObjectId) && !empty(ingestAppIdUri)

resource group 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-ag'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'flowgate'
    enabled: true
    emailReceivers: empty(oncallEmail) ? [] : [
      { name: 'oncall', emailAddress: oncallEmail, useCommonAlertSchema: true }
    ]
    webhookReceivers: ingest ? [
      {
        name: 'alert-ingest'
        serviceUri: alertIngestUrl
        useCommonAlertSchema: true
        useAadAuth: true
        objectId: ingestAppObjectId
        identifierUri: ingestAppIdUri
        tenantId: tenant().tenantId
      }
    ] : []
  }
}

resource heartbeat 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-heartbeat-missing'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'flowgate heartbeat missing'
    description: 'No FlowgateHeartbeat_CL row for 15 minutes: the schedule tick is not running (docs/monitoring.md).'
    severity: 1
    enabled: true
    scopes: [ workspaceResourceId ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    // The _CL table is empty at the first deployment.
    skipQueryValidation: true
    criteria: {
      allOf: [
        {
          query: 'FlowgateHeartbeat_CL | summarize n = count()'
          timeAggregation: 'Total'
          metricMeasureColumn: 'n'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [ group.id ] }
  }
}

resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'A Service Bus dead-letter queue holds a message: flowgate moves failures to quarantine, so this should never happen (docs/monitoring.md#runbook-dead-letters).'
    severity: 2
    enabled: true
    scopes: [ serviceBusNamespaceId ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'dead-lettered'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [ { name: 'EntityName', operator: 'Include', values: [ '*' ] } ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: [ { actionGroupId: group.id } ]
  }
}

@description('The action group resource ID.')
output actionGroupId string = group.id
