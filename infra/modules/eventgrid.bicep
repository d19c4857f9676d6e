// BlobCreated on the landing container, delivered by the storage account's Event Grid system topic
// to the Service Bus queue `arrivals` with the topic's own managed identity (no key, no public
// endpoint: the function app stays private and reads the queue over its private endpoint). The
// DataArrived function is triggered from that queue. Because the destination is the queue, not
// the function, the subscription can be created before the package is deployed.

@description('Required. The system topic name.')
param name string

@description('Required. The region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. The storage account whose blob events are sent.')
param storageAccountResourceId string

@description('Required. The Service Bus namespace name (holding the `arrivals` queue).')
param serviceBusNamespaceName string

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' existing = {
  name: serviceBusNamespaceName
}

resource arrivals 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' existing = {
  parent: namespace
  name: 'arrivals'
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storageAccountResourceId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// Azure Service Bus Data Sender on the `arrivals` queue only, for the system topic's identity.
var dataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'

resource send 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(arrivals.id, topic.id, dataSender)
  scope: arrivals
  properties: {
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
  }
}

resource landing 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'landing-blob-created'
  dependsOn: [
    send
  ]
  properties: {
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'ServiceBusQueue'
        properties: {
          resourceId: arrivals.id
        }
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/landing/'
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

@description('The system topic resource ID.')
output resourceId string = topic.id

@description('The system topic name.')
output name string = topic.name

@description('The system topic identity principal ID (Data Sender on `arrivals`).')
output principalId string = topic.identity.principalId
