"""The effective settings (defaults filled in), secrets masked: what the product will actually use."""

from __future__ import annotations

from typing import Any

from sync_core.settings import ENV_NAMES, Settings

SECRETS = frozenset({"static_token", "notification_secret", "storage_connection"})


def effective_settings(settings: Settings) -> dict[str, str]:
    shown: dict[str, str] = {}
    for field, env_name in ENV_NAMES.items():
        value: Any = getattr(settings, field)
        if field in SECRETS:
            shown[env_name] = "<set, masked>" if value else ""
        elif field == "shared_lists":
            shown[env_name] = ", ".join(f"{s.name} ({s.mailbox})" for s in value)
        elif isinstance(value, tuple):
            shown[env_name] = ",".join(str(v) for v in value)
        else:
            shown[env_name] = str(value.value if hasattr(value, "value") else value)
    return shown
