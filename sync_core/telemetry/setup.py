"""Point OpenTelemetry at Application Insights, once per process, when a connection string is set.

In Azure the connection string and `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (Entra ID ingestion with the
user-assigned identity; the Application Insights resource accepts no instrumentation-key-only traffic) are
app settings made by infra/. Telemetry never stops the sync: a set-up error is logged and ignored.

Only the product's own spans are exported. Libraries trace too (kiota records every Graph request with its
full URL, which names the mailbox; HTTP instrumentations do the same), which would put addresses into
Application Insights and multiply the ingestion: their tracers are no-ops here, and no library
instrumentation is switched on. Metrics go through the distro (`configure_azure_monitor`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.util.types import Attributes

from sync_core.telemetry import core, names

log = logging.getLogger(__name__)
_configured = False
# Instrumentations the distro would switch on by default (its supported libraries): all off, see above.
_LIBRARY_INSTRUMENTATIONS = (
    "azure_sdk",
    "django",
    "fastapi",
    "flask",
    "httpx",
    "httpx2",
    "psycopg2",
    "requests",
    "urllib",
    "urllib3",
)


class OwnSpansTracerProvider(TracerProvider):
    """Hands out real tracers only for the product's scope; every other library gets a no-op tracer."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        if instrumenting_module_name != names.SCOPE:
            return trace.NoOpTracer()
        return super().get_tracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )


def own_spans_provider(exporter: SpanExporter, resource: Resource | None = None) -> OwnSpansTracerProvider:
    provider = OwnSpansTracerProvider(resource=resource or Resource.create())
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def entra_client_id(environ: Mapping[str, str]) -> str | None:
    """The identity to ingest with, from `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`
    (`Authorization=AAD;ClientId=...`, the form the Functions host reads); None: no Entra ingestion."""
    parts: dict[str, str] = {}
    for item in environ.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "").split(";"):
        key, _, value = item.partition("=")
        if key.strip():
            parts[key.strip().lower()] = value.strip()
    if parts.get("authorization", "").upper() != "AAD":
        return None
    return parts.get("clientid") or environ.get("SYNC_MANAGED_IDENTITY_CLIENT_ID", "")


def azure_monitor_options(
    environ: Mapping[str, str], libraries: Sequence[str] = _LIBRARY_INSTRUMENTATIONS
) -> dict[str, Any] | None:
    """Keyword arguments for `configure_azure_monitor` (metrics) and the trace exporter, or None when
    telemetry is not configured."""
    connection_string = environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
    if not connection_string:
        return None
    options: dict[str, Any] = {
        "connection_string": connection_string,
        "disable_tracing": True,  # set up below, with the product's spans only
        # The Functions host already ships the worker's log records: exporting them too would double them.
        "disable_logging": True,
        "instrumentation_options": {name: {"enabled": False} for name in libraries},
        "enable_live_metrics": False,
    }
    client_id = entra_client_id(environ)
    if client_id is not None:
        from azure.identity import ManagedIdentityCredential

        options["credential"] = ManagedIdentityCredential(client_id=client_id or None)
    return options


def configure_from_environment(environ: Mapping[str, str] | None = None) -> bool:
    """True when telemetry now goes to Application Insights (also when an earlier call did it)."""
    global _configured
    if _configured:
        return True
    options = azure_monitor_options(os.environ if environ is None else environ)
    if options is None:
        return False
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
        from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

        configure_azure_monitor(**options)
        exporter = AzureMonitorTraceExporter(
            connection_string=options["connection_string"], credential=options.get("credential")
        )
        trace.set_tracer_provider(own_spans_provider(exporter))
    except Exception as exc:  # telemetry must never stop the sync
        log.warning("Application Insights telemetry not configured: %s", type(exc).__name__)
        return False
    _configured = True
    core.mark_exporting()
    return True
