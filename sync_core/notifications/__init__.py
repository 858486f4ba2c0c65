"""Near-real-time sync through Microsoft Graph change notifications (SPEC 5, 7).

Subscriptions (`subscriptions.py`) are kept per mailbox and kind by the planner; the HTTP functions
(`http.py`, thin wrappers in function_app.py) verify each notification (`client_state.py`), map its resource to
a mailbox and kind (`resources.py`) and queue one scan per mailbox and kind (`receiver.py`). The timer stays
the safety net: a lost notification only delays a change until the next cycle."""
