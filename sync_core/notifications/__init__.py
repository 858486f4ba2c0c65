"""Near-real-time sync through Microsoft Graph change notifications (docs/spec.md §5, §7).

Subscriptions (`subscriptions.py`) are kept per mailbox and kind by the planner; the HTTP functions
(`http.py`, thin wrappers in function_app.py) route each notification to a mailbox and kind by its verified
clientState (`client_state.py`) or its subscription id (`routing.py`), check its resource (`resources.py`) and
queue one scan per mailbox and kind (`receiver.py`). The timer stays
the safety net: a lost notification only delays a change until the next cycle."""
