"""An OTLP/HTTP trace receiver of the tests' own: it decodes the real payloads (`ExportTraceServiceRequest`,
opentelemetry-proto) a worker's exporter sends."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class Receiver:
    """An OTLP/HTTP trace receiver: `POST /v1/traces`, each body an `ExportTraceServiceRequest`, its spans kept."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.raw.append(body)
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        for resource in export.resource_spans:
            for scoped in resource.scope_spans:
                for span in scoped.spans:
                    self.spans.append({
                        "name": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent": span.parent_span_id.hex(),
                        "attributes": {a.key: a.value.string_value or a.value.int_value for a in span.attributes},
                    })
        return web.Response(status=200, content_type="application/x-protobuf")


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    """A receiver serving on a loopback port (`Receiver.url`) until the block ends."""
    found = Receiver()
    app = web.Application()
    app.router.add_post("/v1/traces", found.handle)
    app.router.add_post("/hook", lambda _: web.Response(status=200))  # a webhook receiver that takes deliveries
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield found
    await runner.cleanup()
