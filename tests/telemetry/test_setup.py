"""Start-up configuration: Application Insights only with a connection string, Entra ID ingestion with the
app's identity, once per process, and never fatal."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sync_core.telemetry import core, names, setup
from sync_core.telemetry.ids import mailbox_ref
from tests.infra.bicep import ROOT

CONNECTION = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://example.invalid/"
)
CLIENT_ID = "11111111-2222-3333-4444-555555555555"


class _RecordedExporter(InMemorySpanExporter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.kwargs = kwargs


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A process that has not configured telemetry yet. configure_azure_monitor, the trace exporter and the
    global tracer provider are recorded, not set (a process can set its global provider only once)."""
    import azure.monitor.opentelemetry as distro
    import azure.monitor.opentelemetry.exporter as exporters

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(setup, "_configured", False)
    monkeypatch.setattr(core, "_current", None)
    monkeypatch.setattr(core, "_exporting", False)
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kwargs: calls.append({"distro": kwargs}))
    monkeypatch.setattr(exporters, "AzureMonitorTraceExporter", _RecordedExporter)
    monkeypatch.setattr(trace, "set_tracer_provider", lambda provider: calls.append({"provider": provider}))
    monkeypatch.setattr(
        trace,
        "get_tracer_provider",
        lambda: next((c["provider"] for c in calls if "provider" in c), trace.NoOpTracerProvider()),
    )
    yield calls


def test_nothing_without_a_connection_string(fresh: list[dict[str, Any]]) -> None:
    assert setup.configure_from_environment({"SYNC_AUTH": "managed-identity"}) is False
    assert fresh == [] and core.current().exporting is False


def test_entra_ingestion_with_the_user_assigned_identity(fresh: list[dict[str, Any]]) -> None:
    from azure.identity import ManagedIdentityCredential

    environ = {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": f"ClientId={CLIENT_ID};Authorization=AAD",
    }
    assert setup.configure_from_environment(environ) is True
    [distro, provider] = fresh
    options = distro["distro"]
    assert options["connection_string"] == CONNECTION
    assert isinstance(options["credential"], ManagedIdentityCredential)
    assert options["disable_logging"] is True  # the Functions host already ships log records
    assert options["disable_tracing"] is True  # traces: the product's own spans only, below
    assert all(v == {"enabled": False} for v in options["instrumentation_options"].values())
    assert {"httpx", "azure_sdk", "requests"} <= set(options["instrumentation_options"])
    assert isinstance(provider["provider"], setup.OwnSpansTracerProvider)
    [processor] = provider["provider"]._active_span_processor._span_processors
    exporter = processor.span_exporter  # type: ignore[attr-defined]
    assert exporter.kwargs == {"connection_string": CONNECTION, "credential": options["credential"]}
    assert core.current().exporting is True
    # Once per process.
    assert setup.configure_from_environment(environ) is True and len(fresh) == 2


def test_only_the_products_spans_are_exported() -> None:
    """kiota records each Graph request with its full URL (which names the mailbox): never exported."""
    from kiota_http.observability_options import ObservabilityOptions

    exporter = InMemorySpanExporter()
    provider = setup.own_spans_provider(exporter)
    kiota = provider.get_tracer(ObservabilityOptions.get_tracer_instrumentation_name())
    with kiota.start_as_current_span("GET - UNKNOWN") as span:
        span.set_attribute("url.full", "https://graph.microsoft.com/v1.0/users/alice@contoso.com/events")
    with provider.get_tracer("opentelemetry.instrumentation.httpx").start_as_current_span("GET"):
        pass
    with provider.get_tracer(names.SCOPE).start_as_current_span(names.SPAN_PLAN):
        pass
    provider.force_flush()
    assert [s.name for s in exporter.get_finished_spans()] == [names.SPAN_PLAN]
    provider.shutdown()


def test_client_id_falls_back_to_the_sync_identity_setting() -> None:
    environ = {
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD",
        "SYNC_MANAGED_IDENTITY_CLIENT_ID": CLIENT_ID,
    }
    assert setup.entra_client_id(environ) == CLIENT_ID
    assert (
        setup.entra_client_id({"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "authorization=aad; clientid=x"})
        == "x"
    )
    assert setup.entra_client_id({}) is None


def test_key_based_connection_string_without_a_credential(fresh: list[dict[str, Any]]) -> None:
    assert setup.configure_from_environment({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION}) is True
    assert "credential" not in fresh[0]["distro"]


def test_a_failing_setup_is_logged_and_ignored(
    fresh: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import azure.monitor.opentelemetry as distro

    def broken(**kwargs: Any) -> None:
        raise ValueError("bad connection string")

    monkeypatch.setattr(distro, "configure_azure_monitor", broken)
    assert setup.configure_from_environment({"APPLICATIONINSIGHTS_CONNECTION_STRING": "nonsense"}) is False
    assert "not configured: ValueError" in caplog.text
    assert core.current().exporting is False


def test_mailbox_ref_command_prints_the_ref(tmp_path: Any) -> None:
    environ = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "D365_URL": "https://contoso.operations.dynamics.com",
        "SYNC_COMPANY": "usmf",
        "SYNC_MAILBOXES": "alice@contoso.com",
    }
    done = subprocess.run(
        [sys.executable, "-m", "sync_core.telemetry", "mailbox-ref", "Alice@Contoso.com"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    expected = mailbox_ref("alice@contoso.com", "https://contoso.operations.dynamics.com")
    assert done.stdout.split() == [expected, "alice@contoso.com"]
