"""Traces (OpenTelemetry), on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: the official SDK and its OTLP/HTTP
exporter, spans sent in batches to `<endpoint>/v1/traces`. Unset, nothing of OpenTelemetry is imported and `span`
is a no-op (`tests/core/test_tracing_off.py` checks it).

One span per step of an ask: the HTTP request (`POST /api/v1/approvals`, a child of the caller's W3C `traceparent`
when it sends one: the Python and TypeScript clients send their caller's), the decision chain's walk, the card;
then the wait (`GET /api/v1/approvals/{id}?wait=`, the client's `traceparent` again) and the decision it brings,
and the webhook's delivery. Attributes name the approval, channel, tool, outcome and policy, never the arguments
(`ATTRIBUTES`: no other name can be set). A span's trace id is a log field (`trace_id`, bot/core/logs.py).

The tracer is the process's, as OpenTelemetry's own API keeps it: `start_tracing` (the composition root, once,
from the settings) sets it; `span` finds it or none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from bot.core.logs import add_log_fields

SERVICE = "slack-agent-approvals"
# the only attributes a span gets (`span`'s and `annotate`'s keywords): never an argument's value
ATTRIBUTES = {"approval_id": "approval.id", "channel": "approval.channel", "tool": "approval.tool",
              "outcome": "approval.outcome", "policy": "approval.policy", "status": "approval.status",
              "decided_by": "approval.decided_by", "key": "approval.key", "method": "http.request.method",
              "route": "http.route", "http_status": "http.response.status_code", "run_id": "run.id",
              "webhook_status": "webhook.status", "client": "agent_approvals.client",
              "user_agent": "user_agent.original"}
_TRACING: dict[str, Any] = {}  # "tracer", "provider", "propagator" once started


def start_tracing(endpoint: str) -> bool:
    """Set up the SDK's tracer provider exporting to `endpoint` (OTLP/HTTP); nothing when `endpoint` is empty.
    Returns whether traces are on."""
    if not endpoint or _TRACING:
        return bool(_TRACING)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError as exc:  # a worker refuses to start rather than run without the traces it was asked for
        raise RuntimeError("OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not installed"
                           f" ({exc.name}): pip install 'slack-agent-approvals[otel]'") from None

    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"), schedule_delay_millis=500))
    _TRACING.update(tracer=provider.get_tracer("bot"), provider=provider,
                    propagator=TraceContextTextMapPropagator())
    return True


def stop_tracing() -> None:
    """Send the spans not yet sent (a worker stopping), then stop."""
    provider = _TRACING.pop("provider", None)
    _TRACING.clear()
    if provider is not None:
        provider.shutdown()


def tracing() -> bool:
    """Whether traces are on in this process."""
    return bool(_TRACING)


@contextlib.contextmanager
def span(name: str, *, headers: Mapping[str, str] | None = None, server: bool = False,
         **attributes: str | int) -> Iterator[Any]:
    """A span named `name` around the block (a child of the current one, or of the W3C `traceparent` in
    `headers`: a request's), with `attributes` (names in `ATTRIBUTES`, empty ones left out); yields it (None when
    traces are off: `annotate` takes either). Its trace id becomes the `trace_id` log field."""
    unknown = set(attributes) - set(ATTRIBUTES)
    if unknown:
        raise TypeError(f"not a span attribute: {sorted(unknown)}")
    tracer = _TRACING.get("tracer")
    if tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    parent = _TRACING["propagator"].extract(headers) if headers is not None else None  # (a request's: any case)
    kind = SpanKind.SERVER if server else SpanKind.INTERNAL
    with tracer.start_as_current_span(name, context=parent, kind=kind) as current:
        annotate(current, **attributes)
        add_log_fields(trace_id=f"{current.get_span_context().trace_id:032x}")
        yield current


def current_span() -> Any:
    """The current span (None when traces are off), for `annotate`."""
    if not _TRACING:
        return None
    from opentelemetry.trace import get_current_span

    return get_current_span()


def annotate(current: Any, **attributes: str | int) -> None:
    """Set `attributes` (keywords of `ATTRIBUTES`; empty ones left out) on a span from `span`; nothing for None
    (traces off)."""
    if current is None:
        return
    for name, value in attributes.items():
        if value not in ("", None):
            current.set_attribute(ATTRIBUTES[name], value)
