"""Writing without reading first is a capability per service: on for Outlook and F&O, off for To Do unless
the administrator turns it on (todotask-update.md documents no If-Match; docs/microsoft.md)."""

from __future__ import annotations

import pytest

from sync_core.settings import SettingsError, load_settings

BASE = {
    "D365_URL": "https://contoso.operations.dynamics.com",
    "SYNC_MAILBOXES": "a@contoso.com",
    "SYNC_COMPANY": "usmf",
}


def test_todo_tasks_are_read_before_writing_by_default() -> None:
    settings = load_settings(BASE, local_settings=None)
    assert (settings.write_without_read, settings.todo_write_without_read) == (True, False)


def test_the_administrator_may_turn_it_on_for_todo() -> None:
    settings = load_settings({**BASE, "SYNC_TODO_WRITE_WITHOUT_READ": "true"}, local_settings=None)
    assert settings.todo_write_without_read is True


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SYNC_TODO_WRITE_WITHOUT_READ": "maybe"}, "SYNC_TODO_WRITE_WITHOUT_READ"),
        (
            {"SYNC_TODO_WRITE_WITHOUT_READ": "true", "SYNC_WRITE_WITHOUT_READ": "false"},
            "SYNC_TODO_WRITE_WITHOUT_READ=true needs SYNC_WRITE_WITHOUT_READ=true",
        ),
    ],
)
def test_bad_combinations_name_the_setting(override: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, **override}, local_settings=None)
    assert message in str(caught.value)
