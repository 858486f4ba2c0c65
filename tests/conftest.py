"""Shared fixtures: the Azurite storage emulator and unique names for test resources."""

from __future__ import annotations

import os
import secrets
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests import azurite, wire_inventory

# Tests are deterministic: Hypothesis explores the same examples on every run (CI and locally).
# HYPOTHESIS_PROFILE=long explores new random examples, many more of them (a documented long run).
settings.register_profile("default", derandomize=True, database=None, deadline=None)
settings.register_profile(
    "long",
    max_examples=2000,
    derandomize=False,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Connection string of an Azurite emulator (blob, queue, table) shared by the whole session.

    Uses AZURITE_CONNECTION_STRING when set; otherwise starts Azurite from .tools/ and stops it at the end.
    Fails (never skips) when Azurite is not installed, so a missing emulator cannot hide tests.
    """
    external = os.environ.get("AZURITE_CONNECTION_STRING")
    if external:
        yield external
        return
    workdir: Path = tmp_path_factory.mktemp("azurite")
    try:
        emulator = azurite.start(workdir)
    except azurite.AzuriteError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield emulator.connection_string
    finally:
        emulator.stop()


@pytest.fixture
def unique_prefix() -> str:
    """Short random lower-case alphanumeric name part (starts with a letter), for tables, queues, ..."""
    alphabet = string.ascii_lowercase + string.digits
    return "t" + "".join(secrets.choice(alphabet) for _ in range(8))


@pytest.fixture(autouse=True)
def _fresh_fno_service_check() -> None:
    """The F&O service check is kept per process (d365/preflight.py); every test's stand-in is new."""
    from sync_core.d365 import preflight

    preflight.forget()


@pytest.fixture(autouse=True)
def _wire_inventory(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Where the product talks to the stand-ins, every request it sent must be in docs/wire.md."""
    if not wire_inventory.applies_to(Path(str(request.node.path))):
        yield
        return
    states = wire_inventory.watch_stand_ins(monkeypatch)
    yield
    for graph_log, fno_log in states.logs():
        wire_inventory.check_logs(graph_log, fno_log)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run of the whole suite also fails on inventory rows no request matched (docs/wire.md)."""
    if exitstatus != 0 or not wire_inventory.whole_suite(session.config):
        return
    stale = wire_inventory.unmatched_rows()
    if stale:
        listed = "\n  ".join(stale)
        session.config.get_terminal_writer().line(
            f"docs/wire.md lists requests no test sent (remove them, or add a test that sends them):\n  {listed}",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
