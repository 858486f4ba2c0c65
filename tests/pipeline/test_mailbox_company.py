"""The company rules (sync_core/mailbox_company.py) and their settings, checked by check-config."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_core.cli import main
from sync_core.company_map import parse_company_map
from sync_core.mailbox_company import rules
from sync_core.settings import SettingsError, load_settings

BASE = {
    "D365_URL": "https://contoso.operations.dynamics.com/",
    "SYNC_MAILBOXES": "alice@contoso.com",
    "SYNC_COMPANY": "USMF",
}
GROUP = "8d0f4a1e-2b7c-4c55-9a0e-5f1d2c3b4a60"


def test_the_map_reads_mailboxes_and_groups_in_order() -> None:
    assert parse_company_map(f" Bob@Contoso.com=DEMF, {GROUP.upper()}=frrt ,") == (
        ("bob@contoso.com", "demf"),
        (GROUP, "frrt"),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bob@contoso.com", "is not key=COMPANY"),
        ("bob=DEMF", "neither a mailbox address nor an Entra group object id"),
        ("bob@contoso.com=DE|MF", "is not a company id"),
        ("bob@contoso.com=DEMF,BOB@contoso.com=USMF", "named twice"),
    ],
)
def test_a_malformed_map_is_named_by_check_config(
    text: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({**BASE, "SYNC_MAILBOX_COMPANIES": text}, local_settings=None)
    for name, value in {**BASE, "SYNC_MAILBOX_COMPANIES": text}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no local.settings.json
    assert main(["check-config"]) == 2
    assert "SYNC_MAILBOX_COMPANIES: " in capsys.readouterr().err


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(SettingsError, match="SYNC_COMPANY_SOURCE"):
        load_settings({**BASE, "SYNC_COMPANY_SOURCE": "worker"}, local_settings=None)


def test_rule_order_mailbox_then_group_then_employment_then_setting() -> None:
    settings = load_settings(
        {
            **BASE,
            "SYNC_COMPANY_SOURCE": "employment",
            "SYNC_MAILBOX_COMPANIES": f"bob@contoso.com=demf,{GROUP}=frrt",
        },
        local_settings=None,
    )
    given = rules(settings, {GROUP: ["Bob@contoso.com", "carol@contoso.com"]})
    employment = {"000101": "gbsi", "000103": "jpmf"}
    assert given.resolve("bob@contoso.com", employment, "000102") == "demf"  # the mailbox before its group
    assert given.resolve("carol@contoso.com", employment, "000103") == "frrt"  # the group before employment
    assert given.resolve("alice@contoso.com", employment, "000101") == "gbsi"
    assert given.resolve("dave@contoso.com", employment, "000104") == "usmf"  # nothing: SYNC_COMPANY
    off = rules(load_settings(BASE, local_settings=None), {})
    assert off.resolve("alice@contoso.com", employment, "000101") == "usmf"
