"""The ``Prefer`` header: one comma-separated value holding every preference, callers' ones win."""

from __future__ import annotations

IMMUTABLE_IDS = 'IdType="ImmutableId"'
UTC_TIMES = 'outlook.timezone="UTC"'
TEXT_BODIES = 'outlook.body-content-type="text"'
OUTLOOK_DEFAULTS = (IMMUTABLE_IDS, UTC_TIMES, TEXT_BODIES)


def _name(preference: str) -> str:
    return preference.split("=", 1)[0].strip().casefold()


def split_prefer(value: str) -> list[str]:
    # Graph's preferences carry no commas inside their quoted values, so a plain split is exact.
    return [part.strip() for part in value.split(",") if part.strip()]


def combine(*groups: tuple[str, ...] | list[str]) -> str:
    """Merge preference lists; a later preference replaces an earlier one of the same name."""
    merged: dict[str, str] = {}
    for group in groups:
        for preference in group:
            merged[_name(preference)] = preference
    return ", ".join(merged.values())


def max_page_size(size: int) -> str:
    return f"odata.maxpagesize={int(size)}"
