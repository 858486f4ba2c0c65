"""Names of everything the product emits to Application Insights: one table that the code, the workbook
(infra/workbook.json) and the alert rules (infra/modules/alerts.bicep) agree on (a test checks)."""

from __future__ import annotations

# Instrumentation scope (tracer and meter name).
SCOPE = "exchange-sync-fno"

# Spans. CONSUMER spans: Application Insights stores them in `requests` (one per unit of work).
SPAN_PLAN = "sync plan"
SPAN_CYCLE = "sync cycle"  # a whole local cycle (`run --once`); in Azure a cycle has no single end
SPAN_MESSAGE_PREFIX = "sync "  # + the message type: "sync scan-mailbox", "sync sync-pair", ...
# Span event on "sync plan", once per cycle per configuration warning (e.g. no F&O parent-link entity).
EVENT_CONFIG_WARNING = "sync configuration warning"

# Metrics (customMetrics in Application Insights; dimensions in customDimensions).
ITEMS = "sync.items"  # counter: kind, direction, action (created/updated/deleted/unlinked/unchanged)
CONFLICTS = "sync.conflicts"  # counter: kind, mailbox (fields decided by the conflict policy)
FAILURES = "sync.failures"  # counter: kind, mailbox, reason (class of error, no free text)
MESSAGES = "sync.messages"  # counter: type, kind, mailbox, outcome (ok / failed / retry)
SKIPPED_MAILBOXES = "sync.mailboxes.skipped"  # counter, once per cycle per skipped mailbox: mailbox, reason
# gauge, seconds since last_synced_at (never synced: since first_seen_at): mailbox, user_id, status, never_synced
MAILBOX_SYNC_AGE = "sync.mailbox.sync_age"
CYCLE_DURATION = "sync.cycle.duration"  # histogram, seconds: stage (plan / cycle)
QUEUE_DEPTH = "sync.queue.depth"  # gauge, approximate messages: queue (scan, items and their -poison)
LATENCY = "sync.latency"  # histogram, seconds from the change on one side to the write on the other
# gauge, items the safety valve holds, set by every deletion check while held and 0 on release: kind, mailbox
DELETIONS_HELD = "sync.deletions.held"

METRICS = (
    ITEMS,
    CONFLICTS,
    FAILURES,
    MESSAGES,
    SKIPPED_MAILBOXES,
    MAILBOX_SYNC_AGE,
    CYCLE_DURATION,
    QUEUE_DEPTH,
    LATENCY,
    DELETIONS_HELD,
)

# Attribute keys (span attributes and metric dimensions).
CYCLE_ID = "sync.cycle_id"
KIND = "sync.kind"
MAILBOX = "sync.mailbox"  # a keyed hash of the address, never the address (see ids.mailbox_ref)
USER_ID = "sync.user_id"  # Entra object id from the mailbox registry
MESSAGE_TYPE = "sync.message_type"
ATTEMPT = "sync.attempt"
OUTCOME = "sync.outcome"
ACTION = "sync.action"
DIRECTION = "sync.direction"
REASON = "sync.reason"
WARNING = "sync.warning"  # the code of a configuration warning (runtime/report.ConfigWarning)
STATUS = "sync.status"
STAGE = "sync.stage"
QUEUE = "sync.queue"
FNO_KEY = "sync.fno_key"
GRAPH_ID = "sync.graph_id"
DRY_RUN = "sync.dry_run"
NEVER_SYNCED = "sync.never_synced"
# Set on a "sync scan-mailbox" span when the periodic reconciliation ran (pipeline/reconcile.py): counts only.
RECONCILED = "sync.reconcile"
RECONCILE_UNLINKED = "sync.reconcile.unlinked"
RECONCILE_CHANGED = "sync.reconcile.changed"
RECONCILE_MISSING = "sync.reconcile.missing"

OUTCOME_OK = "ok"
OUTCOME_FAILED = "failed"  # recorded as a failure: permanent, or the last attempt
OUTCOME_RETRY = "retry"  # transient: the queue delivers it again
