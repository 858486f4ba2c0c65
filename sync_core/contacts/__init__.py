"""Contact lists (docs/spec.md §3.4): who is on which list, the Graph contact folder calls, company lookups,
shared-list mailboxes and the command-line list management. The kinds live in `sync_core.kinds.contact`."""
