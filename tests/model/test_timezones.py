import logging

import pytest

from sync_core.model.timezones import resolve_time_zone, resolve_time_zone_checked


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Tonga Standard Time", "Pacific/Tongatapu"),
        ("Hawaiian Standard Time", "Pacific/Honolulu"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("w. europe standard time", "Europe/Berlin"),
        ("  Pacific Standard Time ", "America/Los_Angeles"),
        ("Europe/Berlin", "Europe/Berlin"),
        ("Pacific/Honolulu", "Pacific/Honolulu"),
        ("UTC", "UTC"),
        ("tzone://Microsoft/Utc", "UTC"),
    ],
)
def test_known_names(name: str, key: str) -> None:
    zone, known = resolve_time_zone_checked(name)
    assert (zone.key, known) == (key, True)
    assert resolve_time_zone(name).key == key


@pytest.mark.parametrize(
    "name",
    ["", None, "Mars Standard Time", "../../etc/passwd", "/etc/localtime", "Europe/Nowhere", "x" * 500],
)
def test_unknown_names_fall_back_to_utc(name: str | None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        zone, known = resolve_time_zone_checked(name)
    assert (zone.key, known) == ("UTC", False)
    # The hostile name itself never reaches the log.
    assert not name or name not in caplog.text
