"""SYNC_SHARED_LISTS: the JSON Schema in schemas/ and the settings validation accept and refuse alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from simulators.sample_contacts import SHARED_LISTS
from sync_core.settings import SettingsError, load_settings

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "shared-lists.schema.json").read_text()
)
BASE = {"D365_URL": "https://fno.example", "SYNC_MAILBOXES": "a@contoso.com", "SYNC_COMPANY": "usmf"}
GOOD = {"name": "North", "mailbox": "sales-north@contoso.com", "folder": "Sales North"}

CASES: list[tuple[Any, bool]] = [
    ([], True),
    (SHARED_LISTS, True),
    ([GOOD], True),
    (
        [
            {
                **GOOD,
                "contactFilter": "IsInactive eq Microsoft.Dynamics.DataEntities.NoYes'No'",
                "customerFilter": "",
            }
        ],
        True,
    ),
    ([{**GOOD, "folder": "x" * 255}], True),
    ({"name": "North"}, False),  # not an array
    ([{**GOOD, "colour": "red"}], False),
    ([{k: v for k, v in GOOD.items() if k != "folder"}], False),
    ([{**GOOD, "name": ""}], False),
    ([{**GOOD, "mailbox": "no-at-sign"}], False),
    ([{**GOOD, "mailbox": "two@@contoso.com"}], False),
    ([{**GOOD, "folder": "x" * 256}], False),
    ([{**GOOD, "contactFilter": "x" * 2001}], False),
    ([{**GOOD, "name": 7}], False),
    ([{**GOOD, "customerFilter": None}], False),
    (["North"], False),
]


def _schema_accepts(value: Any) -> bool:
    try:
        jsonschema.validate(value, SCHEMA, cls=jsonschema.Draft202012Validator)
    except jsonschema.ValidationError:
        return False
    return True


def _settings_accept(value: Any) -> bool:
    try:
        settings = load_settings({**BASE, "SYNC_SHARED_LISTS": json.dumps(value)}, local_settings=None)
    except SettingsError:
        return False
    return len(settings.shared_lists) == (len(value) if isinstance(value, list) else -1)


@pytest.mark.parametrize(("value", "valid"), CASES)
def test_schema_and_settings_agree(value: Any, valid: bool) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert _schema_accepts(value) is valid
    assert _settings_accept(value) is valid


def test_settings_also_refuse_duplicate_names_and_mailboxes() -> None:
    for twin in ({**GOOD, "mailbox": "other@contoso.com"}, {**GOOD, "name": "South"}):
        with pytest.raises(SettingsError, match="same"):
            load_settings({**BASE, "SYNC_SHARED_LISTS": json.dumps([GOOD, twin])}, local_settings=None)


def test_contact_folder_default_and_override() -> None:
    assert load_settings(BASE, local_settings=None).contact_folder == "Dynamics 365"
    assert load_settings({**BASE, "SYNC_CONTACT_FOLDER": "CRM"}, local_settings=None).contact_folder == "CRM"
