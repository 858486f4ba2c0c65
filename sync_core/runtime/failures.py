"""Which errors are permanent: the item cannot succeed as it is, so it is not retried on a timer (a bad
message, a value F&O or Graph refuses); everything else is worth another attempt."""

from __future__ import annotations

from sync_core.d365.errors import FnoError
from sync_core.exchange.errors import GraphError
from sync_core.runtime.messages import MessageError


def is_permanent(exc: Exception) -> bool:
    if isinstance(exc, MessageError | ValueError | KeyError | TypeError):
        return True
    if isinstance(exc, GraphError | FnoError):
        return 400 <= exc.status < 500 and exc.status not in (401, 403, 408, 409, 412, 423, 429)
    return False
