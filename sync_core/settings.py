"""Settings (docs/spec.md §6): environment variables, also read from local.settings.json `Values`.

Validated once at start-up; a bad or missing setting raises `SettingsError` naming it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sync_core.company_map import parse_company_map


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it and says what is expected."""


class AuthMode(StrEnum):
    MANAGED_IDENTITY = "managed-identity"
    DEFAULT = "default"
    STATIC = "static"


class ConflictPolicyName(StrEnum):
    NEWEST = "newest"
    D365 = "d365"
    EXCHANGE = "exchange"


class MigrateCategories(StrEnum):
    KEEP = "keep"
    MAP = "map"


class SharedList(BaseModel):
    # Kept equal to schemas/shared-lists.schema.json (a test checks both accept and refuse the same input).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    name: str = Field(min_length=1)
    mailbox: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    folder: str = Field(min_length=1, max_length=255)
    contactFilter: str = Field(default="", max_length=2000)
    customerFilter: str = Field(default="", max_length=2000)


# Environment variable -> (field name, default). One table keeps names, docs/admin-guide.md and validation aligned.
_SETTINGS: dict[str, tuple[str, str | None]] = {
    "D365_URL": ("d365_url", None),
    "GRAPH_URL": ("graph_url", "https://graph.microsoft.com/v1.0"),
    "SYNC_GRAPH_RATE_LIMIT": ("graph_rate_limit", "9500"),
    "SYNC_GRAPH_RATE_WINDOW_SECONDS": ("graph_rate_window_seconds", "600"),
    "SYNC_SHARED_LIMITS": ("shared_limits", "true"),
    "SYNC_LIMIT_LEASE_SECONDS": ("limit_lease_seconds", "30"),
    "SYNC_FNO_MAX_CONCURRENT": ("fno_max_concurrent", "48"),
    "SYNC_FNO_RATE_LIMIT": ("fno_rate_limit", "5700"),
    "SYNC_FNO_RATE_WINDOW_SECONDS": ("fno_rate_window_seconds", "300"),
    "SYNC_AUTH": ("auth", "default"),
    "SYNC_STATIC_TOKEN": ("static_token", ""),
    "SYNC_MANAGED_IDENTITY_CLIENT_ID": ("managed_identity_client_id", ""),
    "SYNC_MAILBOXES": ("mailboxes", ""),
    "SYNC_MAILBOX_GROUP": ("mailbox_group", ""),
    "SYNC_COMPANY": ("company", ""),
    "SYNC_COMPANY_SOURCE": ("company_source", "setting"),
    "SYNC_MAILBOX_COMPANIES": ("mailbox_companies", ""),
    "SYNC_CATEGORY": ("category", "D365 Sync"),
    "SYNC_CONTACT_CATEGORIES": ("contact_categories", ""),
    "SYNC_SHARED_LISTS": ("shared_lists", ""),
    "AzureWebJobsStorage": ("storage_connection", ""),
    "AzureWebJobsStorage__accountName": ("storage_account", ""),
    "SYNC_STATE_DIR": ("state_dir", ".sync-state"),
    "SYNC_CONFLICT_POLICY": ("conflict_policy", "newest"),
    "SYNC_WINDOW_DAYS_BACK": ("window_days_back", "30"),
    "SYNC_WINDOW_DAYS_AHEAD": ("window_days_ahead", "365"),
    "SYNC_FNO_OVERLAP_SECONDS": ("fno_overlap_seconds", "600"),
    "SYNC_PARENT_LINKS_COLLECTION": ("parent_links_collection", "ActivityParentLinks"),
    "SYNC_TABLE_PREFIX": ("table_prefix", "sync"),
    "SYNC_SCAN_QUEUE": ("scan_queue", "sync-scan"),
    "SYNC_ITEM_QUEUE": ("item_queue", "sync-items"),
    "SYNC_MAX_ATTEMPTS": ("max_attempts", "5"),
    "SYNC_RETRY_MINUTES": ("retry_minutes", "5"),
    "SYNC_CREATE_OUTCOME_WAIT_SECONDS": ("create_outcome_wait_seconds", "600"),
    "SYNC_CONTACT_MARK_SCAN_MINUTES": ("contact_mark_scan_minutes", "60"),
    "SYNC_TODO_LISTS_REFRESH_MINUTES": ("todo_lists_refresh_minutes", "360"),
    "SYNC_WRITE_WITHOUT_READ": ("write_without_read", "true"),
    "SYNC_TODO_WRITE_WITHOUT_READ": ("todo_write_without_read", "false"),
    "SYNC_NOTIFICATION_URL": ("notification_url", ""),
    "SYNC_NOTIFICATION_SECRET": ("notification_secret", ""),
    "SYNC_SAFETY_POLL_MINUTES": ("safety_poll_minutes", "240"),
    "SYNC_TODO_POLL_MAX_MINUTES": ("todo_poll_max_minutes", "60"),
    "SYNC_FNO_EVENTS": ("fno_events", "false"),
    "SYNC_CONTACT_FOLDER": ("contact_folder", "Dynamics 365"),
    "SYNC_TODO_LIST": ("todo_list", ""),
    "SYNC_IMPORT_CATEGORY": ("import_category", "D365 Import"),
    "SYNC_IMPORTED_CATEGORY": ("imported_category", "D365 Imported"),
    "SYNC_IMPORT_FAILED_CATEGORY": ("import_failed_category", "D365 Import failed"),
    "SYNC_TENANT_DOMAINS": ("tenant_domains", ""),
    "SYNC_DELETE_MAX_SHARE": ("delete_max_share", "0.2"),
    "SYNC_DELETE_MIN_ITEMS": ("delete_min_items", "10"),
    "SYNC_FNO_DELETE_CHECK_MINUTES": ("fno_delete_check_minutes", "60"),
    "SYNC_RECONCILE_HOURS": ("reconcile_hours", "6"),
    "SYNC_AUDIT_RETENTION_DAYS": ("audit_retention_days", "90"),
    "SYNC_NETWORK_RETRY_SECONDS": ("network_retry_seconds", "1"),
    "SYNC_LOG_PERSONAL_DATA": ("log_personal_data", "false"),
    "SYNC_ADOPT_PREDECESSOR_IDS": ("adopt_predecessor_ids", "true"),
    "SYNC_MIGRATE_CATEGORIES": ("migrate_categories", "keep"),
    "SYNC_MIGRATE_CATEGORY_MAP": ("migrate_category_map", ""),
}
ENV_NAMES: dict[str, str] = {field: env for env, (field, _) in _SETTINGS.items()}


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    d365_url: str
    graph_url: str
    # Exchange allows 10,000 requests per 10 minutes per mailbox; the client keeps a margin below it.
    graph_rate_limit: int = Field(ge=5, le=100_000)
    graph_rate_window_seconds: float = Field(gt=0, le=3600)
    # Graph's and F&O's limits kept across all instances in Azure Table Storage (sync_core/limits,
    # docs/limits.md); without Azure Storage, or false, each process keeps them on its own.
    shared_limits: bool
    # How long units of concurrency and blocks of tokens stay valid without renewal: a crashed instance
    # blocks nothing for longer.
    limit_lease_seconds: float = Field(ge=1, le=300)
    # F&O's service protection per user (the app's): 52 requests in flight and 6,000 per 5 minutes.
    fno_max_concurrent: int = Field(ge=1, le=1000)
    fno_rate_limit: int = Field(ge=10, le=1_000_000)
    fno_rate_window_seconds: float = Field(gt=0, le=3600)
    auth: AuthMode
    static_token: str
    managed_identity_client_id: str
    mailboxes: tuple[str, ...]
    mailbox_group: str
    company: str
    # Where a mailbox's company comes from besides the map (sync_core/mailbox_company.py): "setting"
    # (SYNC_COMPANY) or "employment" (the worker's current employment, falling back to SYNC_COMPANY).
    company_source: Literal["setting", "employment"]
    # SYNC_MAILBOX_COMPANIES: (mailbox address or Entra group id, company), lower-cased, in the order given.
    mailbox_companies: tuple[tuple[str, str], ...]
    category: str = Field(min_length=1, max_length=255)
    contact_categories: tuple[str, ...]
    shared_lists: tuple[SharedList, ...]
    storage_connection: str
    storage_account: str
    state_dir: Path
    conflict_policy: ConflictPolicyName
    window_days_back: int = Field(ge=0, le=3650)
    window_days_ahead: int = Field(ge=1, le=3650)
    # How far behind its watermark each F&O feed reads again (runtime/keys.feed_watermark): it must cover the
    # longest transaction plus how far F&O's clock may be behind ours; rows read again are dropped by version.
    fno_overlap_seconds: int = Field(ge=0, le=86400)
    parent_links_collection: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    table_prefix: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,20}$")
    # Queue names: lower-case, digits, single dashes; at most 56 so that "-poison" still fits in 63.
    scan_queue: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length=3, max_length=56)
    item_queue: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length=3, max_length=56)
    max_attempts: int = Field(ge=1, le=100)
    # Work list (pipeline/retry.py): first wait before a failed item is tried again; it doubles per retry.
    retry_minutes: float = Field(ge=0, le=1440)
    # A create whose answer never came may still have been applied (pipeline/pair.py): before creating
    # again, the partner is looked for, and not created anew until this long after the first attempt.
    create_outcome_wait_seconds: float = Field(ge=0, le=86_400)
    # How often a private list's scan reads all contacts for ones marked outside its folder (0: every cycle).
    contact_mark_scan_minutes: int = Field(ge=0, le=1440)
    # How often a mailbox scan reads the list of To Do lists (0: every cycle); sooner when a linked task goes.
    todo_lists_refresh_minutes: int = Field(ge=0, le=1440)
    # Write to the side that did not change without reading it first, with If-Match (pipeline/reads.py).
    write_without_read: bool
    # The same for To Do tasks, off unless asked for: todotask-update.md documents no If-Match, so nothing
    # says To Do refuses a stale etag (docs/microsoft.md, "Conditional writes").
    todo_write_without_read: bool
    # Change notifications (sync_core/notifications): base URL of the Function App ("" = off; http only on
    # loopback, for the stand-ins). The secret is checked where it is used, so no error message echoes it.
    notification_url: str = Field(
        max_length=2000,
        pattern=r"^(|https://[^\s/?#@]+(/[^\s?#]*)?|http://(127\.0\.0\.1|localhost)(:\d+)?(/[^\s?#]*)?)$",
    )
    notification_secret: str
    # With notifications on (pipeline/poll_schedule.py, docs/notifications.md): how often a mailbox's feed
    # with a healthy subscription is still read without a notification (0: every cycle, as without them);
    # and the longest wait between two reads of an idle mailbox's To Do tasks (0: every cycle).
    safety_poll_minutes: int = Field(ge=0, le=1440)
    todo_poll_max_minutes: int = Field(ge=0, le=1440)
    # F&O data events (sync_core/fno_events, docs/fno-events.md): the Service Bus trigger's messages are synced
    # (false: they are acknowledged and dropped, the timer feed syncs everything).
    fno_events: bool
    # Contact folder of each employee's private list (docs/spec.md §3.4), created if missing.
    contact_folder: str = Field(min_length=1, max_length=255)
    # To Do list that tasks from F&O go to and are imported from (blank: the mailbox's default list).
    todo_list: str = Field(max_length=255)
    # E-mail import (docs/spec.md §3.3); tenant_domains is comma-separated, blank = the mailboxes' own domains.
    import_category: str = Field(min_length=1, max_length=255)
    imported_category: str = Field(min_length=1, max_length=255)
    import_failed_category: str = Field(min_length=1, max_length=255)
    tenant_domains: str = Field(max_length=4000, pattern=r"^[A-Za-z0-9.,@ -]*$")
    # Safety valve (docs/spec.md §4): more than this share of a mailbox's links, and at least min items, is held.
    delete_max_share: float = Field(gt=0, le=1)
    delete_min_items: int = Field(ge=1, le=1_000_000)
    # How often each mailbox's links are compared with the F&O keys that still exist (0: every cycle).
    fno_delete_check_minutes: int = Field(ge=0, le=10_080)
    # How often each mailbox and kind is reconciled (both sides listed, compared with the links; 0: never).
    reconcile_hours: int = Field(ge=0, le=168)
    # Audit entries older than this are removed by the planner, a bounded batch a cycle (0: kept forever).
    audit_retention_days: int = Field(ge=0, le=36_500)
    # First wait before a request that got no answer is sent again (it doubles; 5 retries, then the service
    # counts as unreachable for the cycle: service_errors.py). Tests set it low.
    network_retry_seconds: float = Field(ge=0, le=60)
    # Logs may carry mailbox addresses and request URLs (the HTTP libraries' loggers) only when true.
    log_personal_data: bool
    # Taking over from an earlier Outlook sync (docs/migration.md): translate the ids it left in
    # OutlookEntryId at each mailbox's first scan; and keep its categories on adopted events, or map them.
    adopt_predecessor_ids: bool
    migrate_categories: MigrateCategories
    migrate_category_map: tuple[tuple[str, str], ...]

    @property
    def category_map(self) -> dict[str, str]:
        return dict(self.migrate_category_map)

    @field_validator("d365_url", "graph_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must be a plain URL (no query, fragment or user name)")
        if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
            # The bearer token goes with every request: plain http only to a stand-in on this machine.
            raise ValueError("must use https:// (plain http:// only to 127.0.0.1 or localhost)")
        return value.rstrip("/")

    @field_validator("d365_url")
    @classmethod
    def _environment_root(cls, value: str) -> str:
        path = urlsplit(value).path.rstrip("/")
        if path.lower() == "/data":
            raise ValueError("must be the environment root without /data (the product adds /data itself)")
        if path:
            raise ValueError("must be the environment root, e.g. https://contoso.operations.dynamics.com")
        return value

    @field_validator("mailboxes")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for mailbox in value:
            if not _ADDRESS.fullmatch(mailbox):
                raise ValueError(f"{mailbox!r} is not a mailbox address (name@domain, comma-separated)")
        return value

    @property
    def uses_azure_storage(self) -> bool:
        return bool(self.storage_connection or self.storage_account)

    @property
    def odata_root(self) -> str:
        return f"{self.d365_url}/data"


_ADDRESS = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+")


def is_loopback(host: str) -> bool:
    """127.0.0.1, ::1 or localhost: where the stand-ins run (the only hosts plain http may go to)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def read_local_settings(path: Path) -> dict[str, str]:
    """The `Values` of a Functions local.settings.json, or nothing when the file is absent."""
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SettingsError(f"{path}: not readable JSON ({exc})") from exc
    values = document.get("Values", {}) if isinstance(document, dict) else {}
    if not isinstance(values, dict):
        raise SettingsError(f"{path}: 'Values' must be an object")
    return {str(k): str(v) for k, v in values.items()}


def load_settings(
    environ: Mapping[str, str] | None = None, local_settings: Path | None = Path("local.settings.json")
) -> Settings:
    """Environment wins over local.settings.json, as in the Functions host."""
    merged: dict[str, str] = read_local_settings(local_settings) if local_settings else {}
    merged.update(os.environ if environ is None else environ)
    raw: dict[str, Any] = {}
    for env_name, (field, default) in _SETTINGS.items():
        value = merged.get(env_name, "").strip()
        if not value:
            if default is None:
                raise SettingsError(
                    f"{env_name} is required but not set (see docs/admin-guide.md, Configuration)"
                )
            value = default
        raw[field] = value
    raw["mailboxes"] = tuple(m.lower() for m in _split(raw["mailboxes"]))
    raw["contact_categories"] = _split(raw["contact_categories"]) or (raw["category"],)
    raw["shared_lists"] = _parse_shared_lists(raw["shared_lists"])
    try:
        raw["mailbox_companies"] = parse_company_map(raw["mailbox_companies"])
    except ValueError as exc:
        raise SettingsError(f"SYNC_MAILBOX_COMPANIES: {exc}") from exc
    raw["state_dir"] = Path(raw["state_dir"])
    raw["migrate_category_map"] = _parse_category_map(raw["migrate_category_map"])
    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        # Every malformed setting at once, each named: an administrator fixes them in one go.
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            env_name = ENV_NAMES.get(field, field)
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{env_name}: {message} (got {merged.get(env_name, '')!r})")
        raise SettingsError("\n".join(dict.fromkeys(problems))) from exc
    if settings.auth is AuthMode.STATIC and not settings.static_token:
        raise SettingsError("SYNC_STATIC_TOKEN is required when SYNC_AUTH=static")
    if not settings.mailboxes and not settings.mailbox_group:
        raise SettingsError("no mailbox in scope: set SYNC_MAILBOXES and/or SYNC_MAILBOX_GROUP")
    if not settings.company:
        raise SettingsError("SYNC_COMPANY is required: the dataAreaId for items created from Exchange")
    if settings.todo_write_without_read and not settings.write_without_read:
        raise SettingsError(
            "SYNC_TODO_WRITE_WITHOUT_READ=true needs SYNC_WRITE_WITHOUT_READ=true (it only widens that setting)"
        )
    if settings.migrate_categories is MigrateCategories.MAP and not settings.migrate_category_map:
        raise SettingsError(
            'SYNC_MIGRATE_CATEGORIES=map needs SYNC_MIGRATE_CATEGORY_MAP, e.g. {"Dynamics AX": "D365 Sync"}'
        )
    return settings


def _parse_category_map(text: str) -> tuple[tuple[str, str], ...]:
    """SYNC_MIGRATE_CATEGORY_MAP: a JSON object, predecessor's category -> new name ("" drops it). JSON
    because category names may hold commas, semicolons and '='."""
    if not text.strip():
        return ()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"SYNC_MIGRATE_CATEGORY_MAP: not valid JSON ({exc.msg} at {exc.pos})") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k.strip() and isinstance(v, str) and len(v) <= 255 for k, v in value.items()
    ):
        raise SettingsError(
            'SYNC_MIGRATE_CATEGORY_MAP: must be a JSON object of category names, e.g. {"Dynamics AX": "D365 Sync"}'
        )
    return tuple((k, v.strip()) for k, v in value.items())


def _parse_shared_lists(text: str) -> tuple[SharedList, ...]:
    if not text.strip():
        return ()
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"SYNC_SHARED_LISTS: not valid JSON ({exc.msg} at {exc.pos})") from exc
    if not isinstance(items, list):
        raise SettingsError("SYNC_SHARED_LISTS: must be a JSON array of lists")
    try:
        lists = tuple(SharedList.model_validate(item) for item in items)
    except ValidationError as exc:
        raise SettingsError(
            f"SYNC_SHARED_LISTS: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}"
        ) from exc
    # One list per name and per shared mailbox (a mailbox's links are per kind and mailbox).
    for field in ("name", "mailbox"):
        values = [str(getattr(item, field)).casefold() for item in lists]
        if len(set(values)) != len(values):
            raise SettingsError(f"SYNC_SHARED_LISTS: two lists have the same {field}")
    return lists


# -- the state store alone ----------------------------------------------------------------------------------

# What the read-only commands (status, failures, audit, ...) need: the store, its queues and, to list the
# mailboxes in scope before their first cycle, SYNC_MAILBOXES. Nothing of F&O or Graph.
STATE_SETTINGS = (
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__accountName",
    "SYNC_STATE_DIR",
    "SYNC_TABLE_PREFIX",
    "SYNC_SCAN_QUEUE",
    "SYNC_ITEM_QUEUE",
    "SYNC_MAILBOXES",
)


class StateSettings(BaseModel):
    """The state store's settings (same names, defaults and rules as in `Settings`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage_connection: str
    storage_account: str = Field(pattern=r"^([a-z0-9]{3,24})?$")
    state_dir: Path
    table_prefix: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,20}$")
    scan_queue: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length=3, max_length=56)
    item_queue: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length=3, max_length=56)
    mailboxes: tuple[str, ...]

    @property
    def uses_azure_storage(self) -> bool:
        return bool(self.storage_connection or self.storage_account)


def storage_account_override(account: str | None) -> dict[str, str]:
    """`--storage-account NAME`: the deployed app's storage with the caller's own Entra sign-in; it wins over
    a connection string in the environment (which would point elsewhere, e.g. at Azurite)."""
    if not account:
        return {}
    return {"AzureWebJobsStorage__accountName": account, "AzureWebJobsStorage": ""}


def load_state_settings(
    environ: Mapping[str, str] | None = None,
    local_settings: Path | None = Path("local.settings.json"),
    *,
    storage_account: str | None = None,
) -> StateSettings:
    """The state store's settings only: read-only commands start without D365_URL, SYNC_COMPANY or mailboxes."""
    merged: dict[str, str] = read_local_settings(local_settings) if local_settings else {}
    merged.update(os.environ if environ is None else environ)
    merged.update(storage_account_override(storage_account))
    raw: dict[str, Any] = {}
    for env_name in STATE_SETTINGS:
        field, default = _SETTINGS[env_name]
        raw[field] = merged.get(env_name, "").strip() or default or ""
    raw["mailboxes"] = tuple(m.lower() for m in _split(raw["mailboxes"]))
    raw["state_dir"] = Path(raw["state_dir"])
    try:
        return StateSettings(**raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        env_name = ENV_NAMES.get(field, field)
        raise SettingsError(f"{env_name}: {first['msg']} (got {merged.get(env_name, '')!r})") from exc
