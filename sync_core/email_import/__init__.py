"""E-mail import (docs/spec.md §3.3, §3.5): Outlook messages marked with the import category become F&O activities.

One way, one job per message (`ImportMessage`), exactly once per internetMessageId and company:
`scan` finds the marked messages, `job` imports one, `claims` keeps the state-store record that lets only one
worker create, `graph` holds the message calls, `parties` writes the parent links.
"""
