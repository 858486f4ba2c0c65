"""Entity property packing: short plain text stays readable, everything else is packed within limits."""

from __future__ import annotations

import random

import pytest

from sync_core.state import codec
from sync_core.state.base import StateError

FIELDS = frozenset({"plain", "ctl", "doc", "big", "n", "flag", "missing"})


def test_round_trip_and_layout() -> None:
    rng = random.Random(7)
    big = "".join(rng.choice("0123456789abcdef") for _ in range(300_000))
    data = {
        "plain": "usmf|ACT-1",
        "ctl": "a\x00b",
        "doc": {"k": [1, None]},
        "big": big,
        "n": 3,
        "flag": False,
    }
    props = codec.to_properties({**data, "missing": None})
    assert props["plain"] == "usmf|ACT-1" and props["n"] == 3 and props["flag"] is False
    assert "ctl" not in props and "doc" not in props and "big" not in props and "missing" not in props
    assert props["big__zn"] > 1
    assert all(len(v) <= 32_000 for k, v in props.items() if "__z" in k and isinstance(v, str))
    assert codec.from_properties(props, FIELDS) == data


def test_too_large_for_one_entity_is_refused() -> None:
    rng = random.Random(8)
    noise = "".join(chr(rng.randrange(0x20, 0x7E)) for _ in range(600_000))
    with pytest.raises(StateError):
        codec.to_properties({"big": noise})
