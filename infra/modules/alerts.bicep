// Alert rules on the telemetry the app sends (names in sync_core/telemetry/names.py):
// - a message reached a poison queue (gauge sync.queue.depth of the -poison queues, read every timer tick);
// - too many queue messages failed for good (counter sync.messages, outcome "failed");
// - a mailbox has not synced for a while (gauge sync.mailbox.sync_age, from the registry's last_synced_at, or
//   for a mailbox never synced from when it came into scope, plus the time since it was last reported, so a
//   stopped timer also raises it);
// - the safety valve holds deletions (gauge sync.deletions.held, set by every deletion check while held).
// Log search alerts on Application Insights, evaluated every 15 minutes (the cheapest frequency that still
// catches trouble within a few cycles). An action group e-mails alertEmail when it is set.
param location string
param tags object = {}
param namePrefix string
param appInsightsId string
param alertEmail string = ''
param mailboxStaleMinutes int = 120
param failureRatePercent int = 10
param failureRateMinMessages int = 20

var poisonQuery = '''
customMetrics
| where name == "sync.queue.depth"
| extend queue = tostring(customDimensions["sync.queue"])
| where queue endswith "-poison"
| summarize poisoned = max(value) by queue
| where poisoned > 0
'''

var failureRateQuery = '''
customMetrics
| where name == "sync.messages"
| extend outcome = tostring(customDimensions["sync.outcome"])
| summarize total = sum(valueSum), failed = sumif(valueSum, outcome == "failed")
| extend failedPercent = iff(total > 0, 100.0 * failed / total, 0.0)
| where total >= __MIN_MESSAGES__ and failedPercent > __PERCENT__
'''

var staleQuery = '''
customMetrics
| where name == "sync.mailbox.sync_age"
| extend mailbox = tostring(customDimensions["sync.mailbox"])
| summarize arg_max(timestamp, value) by mailbox
| extend minutesSinceSync = value / 60.0 + datetime_diff("second", now(), timestamp) / 60.0
| where minutesSinceSync > __MINUTES__
'''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-alerts'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'syncalerts'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var heldQuery = '''
customMetrics
| where name == "sync.deletions.held"
| extend mailbox = tostring(customDimensions["sync.mailbox"]), kind = tostring(customDimensions["sync.kind"])
| summarize arg_max(timestamp, value) by mailbox, kind
| where value > 0
'''

var actionGroups = empty(alertEmail) ? [] : [
  actionGroup.id
]

resource poisonAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-poison-messages'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Exchange Sync: messages in a poison queue'
    description: 'A queue message failed on every attempt and was moved to a -poison queue. See the workbook (Failures) and `python -m sync_core failures`.'
    severity: 2
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    criteria: {
      allOf: [
        {
          query: poisonQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'queue'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroups
    }
  }
}

resource failureRateAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-failure-rate'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Exchange Sync: failure rate above ${failureRatePercent}%'
    description: 'More than ${failureRatePercent}% of the queue messages of the last 30 minutes failed for good (at least ${failureRateMinMessages} messages). See the workbook (Failures by reason).'
    severity: 2
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    criteria: {
      allOf: [
        {
          query: replace(replace(failureRateQuery, '__MIN_MESSAGES__', string(failureRateMinMessages)), '__PERCENT__', string(failureRatePercent))
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroups
    }
  }
}

resource staleMailboxAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-mailbox-not-synced'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Exchange Sync: a mailbox has not synced for ${mailboxStaleMinutes} minutes'
    description: 'A mailbox in scope has had no successful scan for ${mailboxStaleMinutes} minutes (one never synced counts from when it came into scope), or the timer stopped reporting. `python -m sync_core status` says why. The dimension is the mailbox ref (`python -m sync_core.telemetry mailbox-ref ADDRESS`).'
    severity: 2
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT15M'
    // Long look-back: a mailbox whose last report is hours old still counts (its age keeps growing).
    windowSize: 'P2D'
    criteria: {
      allOf: [
        {
          query: replace(staleQuery, '__MINUTES__', string(mailboxStaleMinutes))
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'mailbox'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroups
    }
  }
}

resource deletionsHeldAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-deletions-held'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Exchange Sync: the safety valve holds deletions'
    description: 'Deletions of a mailbox and kind wait for an operator: nothing of them is deleted until approved. Look with `python -m sync_core status`, then `python -m sync_core approve-deletes --mailbox ADDRESS --kind KIND --dry-run` (docs/sync-rules.md, Safety valve).'
    severity: 2
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT15M'
    // Held deletions are reported every cycle while held; their last report in an hour decides.
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: heldQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'mailbox'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'kind'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroups
    }
  }
}

output alertRuleIds array = [
  poisonAlert.id
  failureRateAlert.id
  staleMailboxAlert.id
  deletionsHeldAlert.id
]
