// acs-event-archive in one resource group: the archive storage account, the Functions host's storage,
// a Linux Function App with the custom runtime and a system-assigned identity, Application Insights,
// and the Event Grid system topic on an existing Communication Services resource with one subscription
// per function.
//
// Deploy twice: first with deploySubscriptions=false, then publish the app (scripts/package.sh), then
// again with deploySubscriptions=true. Event Grid validates a function endpoint when a subscription is
// created, and fails the deployment while the functions do not exist yet. README.md "Deploy to Azure"
// has the commands.

@description('Where the resources go (the system topic of Communication Services is always global)')
param location string = resourceGroup().location

@description('Resource id of the existing Communication Services resource whose events are archived')
param communicationServicesId string

@description('The Function App, which is also its host name: <appName>.azurewebsites.net')
@minLength(2)
@maxLength(40)
param appName string = 'acs-archive-${uniqueString(resourceGroup().id)}'

@description('FC1: Flex Consumption (the default). EP1: Elastic Premium, for always-warm instances')
@allowed([
  'FC1'
  'EP1'
])
param planSku string = 'FC1'

@description('The storage account the events are archived in (3-24 lower-case letters and digits)')
@minLength(3)
@maxLength(24)
param archiveAccountName string = 'acsarchive${uniqueString(resourceGroup().id)}'

@description('The Functions host\'s own storage account (AzureWebJobsStorage, deployment packages)')
@minLength(3)
@maxLength(24)
param hostAccountName string = 'acshost${uniqueString(resourceGroup().id)}'

@description('Redundancy of the archive account')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param archiveSku string = 'Standard_ZRS'

@description('The Event Grid system topic; a Communication Services resource can have only one, so name an existing one here')
@minLength(3)
@maxLength(128)
param systemTopicName string = 'acs-events'

@description('Create the Event Grid subscriptions: false on the first deployment, true once the functions are published')
param deploySubscriptions bool = false

@description('The container Event Grid dead-letters undeliverable events into (ARCHIVE_CONTAINER_DEADLETTER)')
@minLength(3)
@maxLength(63)
param deadLetterContainer string = 'acs-deadletter'

@description('Flex Consumption: the most instances the app scales out to')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

// `fail` stops the deployment (and what-if) with this message instead of a confusing error from the
// system topic. Resource ids are case-insensitive, hence toLower.
var isCommunicationServicesId = contains(toLower(communicationServicesId), toLower('/providers/Microsoft.Communication/communicationServices/'))
var communicationServicesIdChecked = isCommunicationServicesId ? communicationServicesId : fail('communicationServicesId must be the resource id of a Communication Services resource: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Communication/communicationServices/<name>')

var isFlex = planSku == 'FC1'

// The handler's containers (ARCHIVE_CONTAINER_* defaults), Event Grid's dead-letter container, and
// acs-analytics for the compaction job. Containers are created here so the identity needs no
// account-level rights to create them.
var archiveContainers = [
  'acs-sms'
  'acs-chat'
  'acs-advanced-messaging'
  'acs-other'
  'acs-quarantine'
  deadLetterContainer
  'acs-analytics'
]
var deploymentContainer = 'app-package'

// Built-in role ids.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'

resource archive 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: archiveAccountName
  location: location
  kind: 'StorageV2'
  sku: { name: archiveSku }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // Only identities write: the handler by its managed identity, Event Grid by the topic's.
    allowSharedKeyAccess: false
    // Blob index tags are refused on accounts with a hierarchical namespace.
    isHnsEnabled: false
  }
}

resource archiveBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: archive
  name: 'default'
}

resource archiveContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for name in archiveContainers: {
    parent: archiveBlobs
    name: name
    properties: { publicAccess: 'None' }
  }
]

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: hostAccountName
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // Elastic Premium keeps the app's content on an Azure Files share, which needs the account key.
    allowSharedKeyAccess: !isFlex
  }
}

resource hostBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostStorage
  name: 'default'
}

// Flex Consumption deploys from this container (functionAppConfig.deployment.storage).
resource hostDeploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = if (isFlex) {
  parent: hostBlobs
  name: deploymentContainer
  properties: { publicAccess: 'None' }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${appName}-logs'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${appName}-insights'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${appName}-plan'
  location: location
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? { name: 'FC1', tier: 'FlexConsumption' } : { name: 'EP1', tier: 'ElasticPremium' }
  properties: {
    // Linux.
    reserved: true
  }
}

// Every plan: the host's storage by identity, telemetry, and the archive by identity
// (ARCHIVE_STORAGE__blobServiceUri; README "Configuration" has the other settings and their defaults).
var commonSettings = [
  { name: 'AzureWebJobsStorage__accountName', value: hostStorage.name }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
  { name: 'ARCHIVE_STORAGE__blobServiceUri', value: archive.properties.primaryEndpoints.blob }
  { name: 'ARCHIVE_CONTAINER_DEADLETTER', value: deadLetterContainer }
]
// Flex takes the runtime from functionAppConfig and refuses FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION as settings; Elastic Premium needs them and its content share.
var premiumSettings = [
  { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'custom' }
  { name: 'FUNCTIONS_EXTENSION_VERSION', value: '~4' }
  {
    name: 'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING'
    value: 'DefaultEndpointsProtocol=https;AccountName=${hostStorage.name};AccountKey=${hostStorage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}'
  }
  { name: 'WEBSITE_CONTENTSHARE', value: toLower(appName) }
]

var appProperties = {
  serverFarmId: plan.id
  httpsOnly: true
  siteConfig: {
    minTlsVersion: '1.2'
    ftpsState: 'Disabled'
    appSettings: isFlex ? commonSettings : concat(commonSettings, premiumSettings)
  }
}
var flexProperties = {
  functionAppConfig: {
    deployment: {
      storage: {
        type: 'blobContainer'
        value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainer}'
        authentication: { type: 'SystemAssignedIdentity' }
      }
    }
    scaleAndConcurrency: {
      maximumInstanceCount: maximumInstanceCount
      instanceMemoryMB: 2048
    }
    runtime: { name: 'custom', version: '1.0' }
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: union(appProperties, isFlex ? flexProperties : {})
  dependsOn: [
    hostDeploymentContainer
  ]
}

// Blob index tags are written only with Storage Blob Data Owner: Contributor is not enough.
resource appOwnsArchive 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: archive
  name: guid(archive.id, app.id, storageBlobDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// AzureWebJobsStorage by identity: the host keeps its keys, leases and timer schedules in blobs and
// queues; Flex also reads the deployment package from the container.
resource appOwnsHostBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: hostStorage
  name: guid(hostStorage.id, app.id, storageBlobDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appUsesHostQueues 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: hostStorage
  name: guid(hostStorage.id, app.id, storageQueueDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  location: 'global'
  identity: { type: 'SystemAssigned' }
  properties: {
    source: communicationServicesIdChecked
    topicType: 'Microsoft.Communication.CommunicationServices'
  }
}

// Dead-lettering by the topic's identity writes into the archive account.
resource topicDeadLetters 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: archive
  name: guid(archive.id, systemTopic.id, storageBlobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: systemTopic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Generated by `handler subscriptions --format bicep`; the event types come from the handler's table.
module subscriptions 'subscriptions.bicep' = if (deploySubscriptions) {
  name: 'acs-event-archive-subscriptions'
  params: {
    systemTopicName: systemTopic.name
    functionAppName: app.name
    archiveAccountName: archive.name
    deadLetterContainer: deadLetterContainer
  }
  dependsOn: [
    topicDeadLetters
    archiveContainer
  ]
}

output functionAppName string = app.name
output archiveAccountName string = archive.name
output hostAccountName string = hostStorage.name
output systemTopicName string = systemTopic.name
output functionAppPrincipalId string = app.identity.principalId
