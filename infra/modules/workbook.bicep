// The health workbook (infra/workbook.json), linked to Application Insights: it shows under
// Application Insights > Workbooks and under Monitor > Workbooks.
param location string
param tags object = {}
param appInsightsId string
param displayName string = 'Exchange Sync health'

// The JSON names the Application Insights resource as a placeholder; the deployment fills it in.
var content = replace(loadTextContent('../workbook.json'), '__APP_INSIGHTS_ID__', appInsightsId)

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'exchange-sync-health-workbook')
  location: location
  tags: union(tags, {
    'hidden-title': displayName
  })
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: appInsightsId
    version: 'Notebook/1.0'
    serializedData: content
  }
}

output id string = workbook.id
