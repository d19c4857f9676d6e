// BlobCreated on the landing container, delivered to the DataArrived function. The function must
// exist first (deploy the package, then set deployEventSubscription).

@description('Required. The system topic name.')
param name string

@description('Required. The region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. The storage account whose blob events are sent.')
param storageAccountResourceId string

@description('Required. The function app resource ID.')
param functionAppResourceId string

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    source: storageAccountResourceId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource landing 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'landing-blob-created'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppResourceId}/functions/DataArrived'
        maxEventsPerBatch: 1
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
