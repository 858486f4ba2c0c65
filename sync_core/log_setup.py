"""Logging of the command line: warnings (retries, failures) always, `-v` adds progress at info level.

The HTTP libraries log every request URL at info or debug level, and Graph and Table URLs carry mailbox
addresses; their loggers stay at warning unless SYNC_LOG_PERSONAL_DATA=true. The product's own log lines
carry ids, counts, hosts and statuses only."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from sync_core.settings import SettingsError, read_local_settings

PERSONAL_DATA_SETTING = "SYNC_LOG_PERSONAL_DATA"
# Loggers that write request URLs (httpx: "HTTP Request: GET <url>"; azure-core's http_logging_policy).
URL_LOGGERS = (
    "httpx",
    "httpcore",
    "hpack",
    "h2",
    "azure",
    "kiota_http",
    "msgraph_core",
    "msgraph",
    "urllib3",
)


def personal_data_allowed(local_settings: Path = Path("local.settings.json")) -> bool:
    """SYNC_LOG_PERSONAL_DATA from the environment or local.settings.json (read before the other settings,
    which some commands never load)."""
    value = os.environ.get(PERSONAL_DATA_SETTING)
    if value is None:
        try:
            value = read_local_settings(local_settings).get(PERSONAL_DATA_SETTING)
        except SettingsError:
            value = None  # the settings' own loading reports the unreadable file
    return (value or "").strip().lower() in ("1", "true", "yes")


def configure_logging(*, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not personal_data_allowed():
        for name in URL_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
