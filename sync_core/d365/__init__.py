"""F&O OData client: safe query building (odata), transport with retries (client), typed reads/writes
(entities) and e-mail to party resolution (parties)."""

from sync_core.d365.client import FnoClient
from sync_core.d365.errors import FnoError, FnoNotFound, FnoThrottled
from sync_core.d365.parties import PartyRef, PartyResolver

__all__ = ["FnoClient", "FnoError", "FnoNotFound", "FnoThrottled", "PartyRef", "PartyResolver"]
