"""`forget --mailbox`: remove what the state store keeps about one mailbox (`state`) and, when asked, what the
product left in the mailbox itself (`mailbox`). The command is `sync_core/cli_forget.py`."""
