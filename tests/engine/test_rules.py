from datetime import UTC, datetime

import pytest

from sync_core.engine.rules import appointment_deletion_rule
from sync_core.engine.types import DeletionContext

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "side", "organizer", "verdict"),
    [
        ("2024-05-01T12:01:00Z", "fno", True, "delete_partner"),
        ("2024-05-01T12:01:00Z", "graph", True, "delete_partner"),
        ("2024-05-01T12:01:00Z", "fno", False, "unlink"),  # attendee: never cancel someone's meeting
        ("2024-05-01T12:01:00Z", "graph", False, "unlink"),  # attendee declined: keep the activity
        ("2024-05-01T12:00:00Z", "fno", True, "unlink"),  # starting now is not the future
        ("2024-04-01T09:00:00Z", "graph", True, "unlink"),  # past: history stays
        (None, "fno", True, "unlink"),
        ("garbage", "graph", True, "unlink"),
    ],
)
def test_appointment_deletion_rule(start: str | None, side: str, organizer: bool, verdict: str) -> None:
    ctx = DeletionContext(
        side_deleted=side,  # type: ignore[arg-type]
        snapshot={"start": start},
        now=NOW,
        mailbox_is_organizer=organizer,
    )
    assert appointment_deletion_rule(ctx) == verdict


def test_naive_now_is_utc() -> None:
    ctx = DeletionContext(
        side_deleted="fno",
        snapshot={"start": "2024-05-01T13:00:00Z"},
        now=NOW.replace(tzinfo=None),
        mailbox_is_organizer=True,
    )
    assert appointment_deletion_rule(ctx) == "delete_partner"
