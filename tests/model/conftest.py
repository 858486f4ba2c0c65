import json
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "simulators" / "reference" / "graph-examples"


@pytest.fixture
def graph_example() -> dict[str, Any]:
    """Microsoft's published event GET example (HTML body, attendees)."""
    data: dict[str, Any] = json.loads((EXAMPLES / "event-get.json").read_text(encoding="utf-8"))
    return data
