"""OpenTelemetry tracing, on only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Spans come from the maintained instrumentations: the ASGI one (through Litestar's OpenTelemetry
plugin: one server span a request, named by route template) and the asyncpg one (a span a
statement, under the request's span). They are exported over OTLP/HTTP in batches by a
background thread; `OTEL_SERVICE_NAME` and the other standard `OTEL_*` variables apply. Unset,
nothing is imported and nothing runs: tracing costs nothing. The packages are the `otel` extra
(`pip install 'commerce[otel]'`).
"""

from __future__ import annotations

import logging
import os

from litestar.plugins import PluginProtocol

log = logging.getLogger("commerce.tracing")


class Tracing:
    """The tracer provider and the asyncpg instrumentation of one app; `shutdown` flushes and undoes them."""

    def __init__(self, endpoint: str) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise RuntimeError(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry packages are not installed: "
                "pip install 'commerce[otel]'"
            ) from exc
        service = os.environ.get("OTEL_SERVICE_NAME", "commerce")
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        # The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT itself and appends /v1/traces to it.
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.asyncpg = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
        self.asyncpg.instrument(tracer_provider=self.provider)
        log.info("tracing to %s as service %r", endpoint, service)

    def plugin(self) -> PluginProtocol:
        from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

        return OpenTelemetryPlugin(
            OpenTelemetryConfig(tracer_provider=self.provider, exclude=["^/metrics$", "^/health"])
        )

    def shutdown(self) -> None:
        self.asyncpg.uninstrument()
        self.provider.shutdown()


def start_tracing(endpoint: str | None) -> Tracing | None:
    return Tracing(endpoint) if endpoint else None


__all__ = ["Tracing", "start_tracing"]
