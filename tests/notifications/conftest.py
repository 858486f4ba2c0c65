from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_core import functions
from tests.e2e.harness import Tenant, sample_tenant
from tests.notifications.webhook import webhook
from tests.telemetry.conftest import otel  # noqa: F401 (the in-memory telemetry fixture, shared)

SECRET = "a-notification-secret-of-forty-characters"


@pytest.fixture
def notified_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    """The sample tenant with the HTTP functions served for Graph's validation calls; notifications on."""
    calls: list[str] = []
    with sample_tenant(tmp_path) as tenant, webhook(calls) as url:
        tenant.extra_env = {"SYNC_NOTIFICATION_URL": url, "SYNC_NOTIFICATION_SECRET": SECRET}
        tenant.handles["webhook_calls"] = calls
        tenant.handles["webhook_url"] = url
        for name, value in {**tenant.environ, **tenant.extra_env}.items():
            monkeypatch.setenv(name, value)  # the HTTP functions read the process settings, as in Azure
        monkeypatch.chdir(tmp_path)
        functions.settings.cache_clear()
        yield tenant
        functions.settings.cache_clear()


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as value:
        yield value
