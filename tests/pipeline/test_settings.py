"""Settings are validated at start-up with a message naming the bad or missing setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync_core.settings import AuthMode, SettingsError, load_settings
from tests.instance_run import run as run_functions

BASE = {
    "D365_URL": "https://contoso.operations.dynamics.com/",
    "SYNC_MAILBOXES": "A@Contoso.com, b@contoso.com",
    "SYNC_COMPANY": "usmf",
}


def test_defaults_and_normalisation() -> None:
    settings = load_settings(BASE, local_settings=None)
    assert settings.d365_url == "https://contoso.operations.dynamics.com"
    assert settings.odata_root == "https://contoso.operations.dynamics.com/data"
    assert settings.graph_url == "https://graph.microsoft.com/v1.0"
    assert settings.auth is AuthMode.DEFAULT
    assert settings.mailboxes == ("a@contoso.com", "b@contoso.com")
    assert settings.category == "D365 Sync"
    assert settings.contact_categories == ("D365 Sync",)
    assert settings.uses_azure_storage is False
    assert settings.state_dir == Path(".sync-state")
    assert (settings.window_days_back, settings.window_days_ahead) == (30, 365)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"D365_URL": ""}, "D365_URL is required"),
        (
            {"D365_URL": "contoso.operations.dynamics.com"},
            "D365_URL: must be an absolute http(s) URL",
        ),
        ({"SYNC_AUTH": "password"}, "SYNC_AUTH"),
        ({"SYNC_AUTH": "static"}, "SYNC_STATIC_TOKEN is required when SYNC_AUTH=static"),
        ({"SYNC_MAILBOXES": ""}, "no mailbox in scope"),
        ({"SYNC_COMPANY": ""}, "SYNC_COMPANY is required"),
        ({"SYNC_CONFLICT_POLICY": "random"}, "SYNC_CONFLICT_POLICY"),
        ({"SYNC_WINDOW_DAYS_AHEAD": "0"}, "SYNC_WINDOW_DAYS_AHEAD"),
        ({"SYNC_WINDOW_DAYS_BACK": "soon"}, "SYNC_WINDOW_DAYS_BACK"),
        ({"SYNC_SCAN_QUEUE": "Sync_Scan"}, "SYNC_SCAN_QUEUE"),
        ({"SYNC_ITEM_QUEUE": "x" * 60}, "SYNC_ITEM_QUEUE"),
        ({"SYNC_PARENT_LINKS_COLLECTION": "Activity Parent Links"}, "SYNC_PARENT_LINKS_COLLECTION"),
        ({"SYNC_SHARED_LISTS": "[{"}, "SYNC_SHARED_LISTS: not valid JSON"),
        ({"SYNC_SHARED_LISTS": '{"name": "x"}'}, "SYNC_SHARED_LISTS: must be a JSON array"),
        ({"SYNC_SHARED_LISTS": '[{"name": "North", "folder": "North"}]'}, "SYNC_SHARED_LISTS"),
    ],
)
def test_bad_settings_name_the_setting(override: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, **override}, local_settings=None)
    assert message in str(caught.value)


def test_every_malformed_setting_is_named_at_once() -> None:
    bad = {"D365_URL": "https://contoso.operations.dynamics.com/data", "SYNC_MAILBOXES": "alice contoso.com"}
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, **bad}, local_settings=None)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("D365_URL: ") and lines[1].startswith("SYNC_MAILBOXES: ")


def test_group_alone_is_a_scope_and_shared_lists_parse() -> None:
    lists = [
        {
            "name": "North",
            "mailbox": "north@contoso.com",
            "folder": "North",
            "customerFilter": "SalesDistrict eq 'NORTH'",
        }
    ]
    settings = load_settings(
        {**BASE, "SYNC_MAILBOXES": "", "SYNC_MAILBOX_GROUP": "0b1c", "SYNC_SHARED_LISTS": json.dumps(lists)},
        local_settings=None,
    )
    assert settings.mailboxes == ()
    assert settings.shared_lists[0].customerFilter == "SalesDistrict eq 'NORTH'"


def test_local_settings_values_are_read_and_environment_wins(tmp_path: Path) -> None:
    local = tmp_path / "local.settings.json"
    local.write_text(
        json.dumps(
            {"IsEncrypted": False, "Values": {**BASE, "SYNC_CATEGORY": "From file", "SYNC_COMPANY": "file"}}
        )
    )
    settings = load_settings({"SYNC_COMPANY": "env"}, local_settings=local)
    assert settings.category == "From file"
    assert settings.company == "env"


def test_unreadable_local_settings_is_a_clear_error(tmp_path: Path) -> None:
    local = tmp_path / "local.settings.json"
    local.write_text("{not json")
    with pytest.raises(SettingsError, match=r"local\.settings\.json: not readable JSON"):
        load_settings({}, local_settings=local)


def test_azure_storage_switches_the_back_end() -> None:
    assert load_settings(
        {**BASE, "AzureWebJobsStorage__accountName": "stsync"}, local_settings=None
    ).uses_azure_storage


def test_docs_document_every_setting() -> None:
    from sync_core.settings import ENV_NAMES

    root = Path(__file__).resolve().parents[2]
    # The README links the documents; the settings live in docs/admin-guide.md and the topic pages.
    readme = "\n".join(
        p.read_text(encoding="utf-8") for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    )
    missing = [name for name in ENV_NAMES.values() if f"`{name}`" not in readme]
    assert missing == []


def test_migration_settings() -> None:
    settings = load_settings(BASE, local_settings=None)
    assert settings.adopt_predecessor_ids is True
    assert settings.migrate_categories == "keep" and settings.category_map == {}
    mapped = load_settings(
        {
            **BASE,
            "SYNC_MIGRATE_CATEGORIES": "map",
            "SYNC_MIGRATE_CATEGORY_MAP": json.dumps({"Dynamics AX": "D365 Sync", "AX; old=1": ""}),
        },
        local_settings=None,
    )
    assert mapped.category_map == {"Dynamics AX": "D365 Sync", "AX; old=1": ""}
    with pytest.raises(SettingsError, match="SYNC_MIGRATE_CATEGORY_MAP"):
        load_settings({**BASE, "SYNC_MIGRATE_CATEGORIES": "map"}, local_settings=None)
    with pytest.raises(SettingsError, match="SYNC_MIGRATE_CATEGORY_MAP: not valid JSON"):
        load_settings({**BASE, "SYNC_MIGRATE_CATEGORY_MAP": "Dynamics AX=D365 Sync"}, local_settings=None)
    with pytest.raises(SettingsError, match="SYNC_MIGRATE_CATEGORIES"):
        load_settings({**BASE, "SYNC_MIGRATE_CATEGORIES": "rename"}, local_settings=None)


def test_fno_data_events_are_off_unless_switched_on() -> None:
    assert load_settings(BASE, local_settings=None).fno_events is False
    assert load_settings({**BASE, "SYNC_FNO_EVENTS": "true"}, local_settings=None).fno_events is True
    with pytest.raises(SettingsError, match="SYNC_FNO_EVENTS"):
        load_settings({**BASE, "SYNC_FNO_EVENTS": "sometimes"}, local_settings=None)


def test_a_data_event_while_they_are_off_is_acknowledged_and_dropped() -> None:
    from sync_core import functions

    settings = load_settings(BASE, local_settings=None)
    outcome = run_functions(functions.on_fno_event(b"{}", 1, settings))  # no store, no F&O touched
    assert outcome.ignored == ["data events are off"] and outcome.pairs == outcome.scans == 0
