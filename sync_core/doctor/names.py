"""Setting names that look like the product's but are not: a misspelt name is silently ignored otherwise.

Only names with the product's prefixes are looked at (`SYNC_`, `D365_`, `GRAPH_`), so the rest of the
environment (PATH, the Functions host's own settings) never produces a warning.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sync_core.settings import ENV_NAMES, read_local_settings

PREFIXES = ("SYNC_", "D365_", "GRAPH_")
# Ours but not read by settings.py: the timer binding's schedule and the azd environment's names
# (infra/main.parameters.json, scripts/grant-graph-permissions.sh).
OTHER_KNOWN = frozenset(
    {
        "SYNC_SCHEDULE",
        "SYNC_PYTHON_VERSION",
        "SYNC_ALERT_EMAIL",
        "SYNC_EXCHANGE_SCOPED",
        "SYNC_IDENTITY_CLIENT_ID",
        "SYNC_IDENTITY_PRINCIPAL_ID",
        "SYNC_CONSOLE_CLIENT_ID",  # infra parameter consoleClientId (azd environment)
        "SYNC_CONSOLE_GROUP_ID",  # who may use the console in Azure (sync_core/console/azure.py)
        "SYNC_CONSOLE_ROLE",
    }
)


@dataclass(frozen=True)
class UnknownName:
    name: str
    suggestion: str | None  # the known name it most resembles, if any

    @property
    def message(self) -> str:
        hint = (
            f"; did you mean {self.suggestion}?"
            if self.suggestion
            else "; see docs/admin-guide.md, Configuration"
        )
        return f"{self.name} is not a setting of this product and is ignored{hint}"


def known_names() -> frozenset[str]:
    return frozenset(ENV_NAMES.values()) | OTHER_KNOWN


def unknown_names(names: Iterable[str]) -> list[UnknownName]:
    known = known_names()
    found = []
    for name in sorted(set(names)):
        if not name.upper().startswith(PREFIXES) or name in known:
            continue
        close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.75)
        found.append(UnknownName(name, close[0] if close else None))
    return found


def configured_names(
    environ: Mapping[str, str] | None = None, local_settings: Path | None = Path("local.settings.json")
) -> set[str]:
    """Every name set in the environment or local.settings.json `Values` (where load_settings reads)."""
    names = set(read_local_settings(local_settings)) if local_settings else set()
    return names | set(os.environ if environ is None else environ)
