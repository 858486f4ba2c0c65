"""clientState: made per mailbox and kind with a secret key, verified in constant time, never forgeable."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sync_core.notifications.client_state import (
    MAX_CLIENT_STATE,
    SECRET_CURSOR,
    Origin,
    key_id,
    make_client_state,
    notification_key,
    verify_client_state,
)
from sync_core.settings import load_settings
from sync_core.state.sqlite import SqliteStateStore

USER = "622eaaff-0683-4862-9de4-f2ec83c2bd98"
KEY = b"k" * 40


def test_round_trip_names_kind_and_mailbox() -> None:
    value = make_client_state(KEY, "shared_contact", USER.upper())
    assert len(value) <= MAX_CLIENT_STATE
    assert verify_client_state(KEY, value) == Origin("shared_contact", USER)


def test_other_key_kind_or_user_is_refused() -> None:
    value = make_client_state(KEY, "appointment", USER)
    assert verify_client_state(b"x" * 40, value) is None
    forged_kind = value.replace(".appointment.", ".email.")
    assert verify_client_state(KEY, forged_kind) is None
    forged_user = value.replace(USER, "722effaf-0433-4272-9ac4-d5ec11c3cd77")
    assert verify_client_state(KEY, forged_user) is None


@pytest.mark.parametrize(
    "value", [None, 7, "", "secretClientValue", "v1.appointment", "v1.a.b.c", "v2.appointment.x.y", "x" * 500]
)
def test_garbage_is_refused(value: object) -> None:
    assert verify_client_state(KEY, value) is None


def test_make_refuses_what_it_could_not_verify() -> None:
    with pytest.raises(ValueError):
        make_client_state(KEY, "appointment", "alice@contoso.com")
    with pytest.raises(ValueError):
        make_client_state(KEY, "Appointment!", USER)


def _settings(tmp_path: Path, secret: str = "") -> object:
    return load_settings(
        {
            "D365_URL": "https://fno.example",
            "SYNC_MAILBOXES": "alice@contoso.com",
            "SYNC_COMPANY": "usmf",
            "SYNC_STATE_DIR": str(tmp_path),
            "SYNC_NOTIFICATION_URL": "https://func.example",
            "SYNC_NOTIFICATION_SECRET": secret,
        },
        local_settings=None,
    )


def test_key_from_setting_or_made_once_in_the_store(tmp_path: Path) -> None:
    async def run() -> None:
        store = SqliteStateStore(tmp_path / "state.db")
        try:
            configured = _settings(tmp_path, "s" * 32)
            assert await notification_key(configured, store) == b"s" * 32  # type: ignore[arg-type]
            assert await store.get_cursor(SECRET_CURSOR) is None
            generated = _settings(tmp_path)
            assert await notification_key(generated, store, create=False) is None  # type: ignore[arg-type]
            first = await notification_key(generated, store)  # type: ignore[arg-type]
            again = await notification_key(generated, store)  # type: ignore[arg-type]
            assert first and first == again and len(first) >= 48
            assert key_id(first) != key_id(b"s" * 32)
            with pytest.raises(ValueError, match="at least 32") as caught:
                await notification_key(_settings(tmp_path, "short-secret"), store)  # type: ignore[arg-type]
            assert "short-secret" not in str(caught.value)  # a secret never lands in an error message
        finally:
            await store.close()

    asyncio.run(run())
