"""Local stand-ins of a SIEM's receivers (issue 91) and the check every delivered event passes: an HTTP Event
Collector that checks its token and records the events it accepts (and can be stopped, refused or slowed), a syslog
receiver over TLS with a self-signed certificate that reads octet-counted RFC 5424 messages, and `ocsf_checked`,
each event validated against OCSF 1.5 by the `ocsf-emitter` package's schema models."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from pydantic import TypeAdapter

HEC_TOKEN = "11111111-2222-3333-4444-555555555555"


@functools.cache
def _events() -> TypeAdapter[Any]:
    """OCSF 1.5's event models, imported and built at the first check (200 pydantic models, 2 s of CPU): not by
    each test process that only collects the tests using them (docs/contributors/tests.md)."""
    from ocsf_emitter.validate import SupportedEvent
    from pydantic import TypeAdapter

    return TypeAdapter(SupportedEvent)


def ocsf_checked(event: dict[str, Any]) -> dict[str, Any]:
    """`event` once it passed OCSF 1.5's schema (its class's model) and invariants (class, category, type_uid,
    metadata.version): an AssertionError naming the fields otherwise."""
    from ocsf_emitter.validate import validate

    validate(_events().validate_python(event))
    assert event["metadata"]["version"] == "1.5.0" and event["class_uid"] in (6003, 3003), event
    return event


def in_order(events: list[dict[str, Any]]) -> list[int]:
    """The seqs delivered, repeats dropped by the event's unique id as a receiver drops them; an AssertionError when
    a repeat differs from the first copy."""
    first: dict[str, dict[str, Any]] = {}
    for event in events:
        uid = event["metadata"]["uid"]
        assert first.setdefault(uid, event) == event, f"{uid} delivered twice, differently"
    return [event["metadata"]["sequence"] for event in first.values()]


@dataclass
class HecReceiver:
    """Splunk's HTTP Event Collector as a test needs it, on loopback (`url`): `/services/collector/event` with
    `Authorization: Splunk <token>`; `events`: each accepted event, in arrival order; `refused`: requests refused."""

    token: str = HEC_TOKEN
    delay: float = 0.0  # seconds each request waits before it is answered (a slow indexer)
    events: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/services/collector/event", self._collect)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _collect(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Splunk {self.token}":
            self.refused += 1
            return web.json_response({"text": "Invalid token", "code": 4}, status=403)
        body = await request.text()
        if self.delay:
            await asyncio.sleep(self.delay)
        decoder, at, found = json.JSONDecoder(), 0, []
        while at < len(body.rstrip()):
            wrapped, at = decoder.raw_decode(body, at)
            at += len(body[at:]) - len(body[at:].lstrip())
            assert set(wrapped) >= {"time", "event", "sourcetype"}, wrapped
            found.append(wrapped["event"])
        self.events += found
        return web.json_response({"text": "Success", "code": 0})


SYSLOG_LINE = re.compile(rb"<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[[^\]]*\]) \xef\xbb\xbf(.*)", re.S)


@dataclass
class SyslogReceiver:
    """A syslog receiver over TLS (RFC 5425) on loopback with a self-signed certificate: reads octet-counted
    messages (`MSG-LEN SP SYSLOG-MSG`) and keeps each as (PRI, MSGID, structured data, the JSON message)."""

    cert: Path
    key: Path
    messages: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        self._server = await asyncio.start_server(self._read, "127.0.0.1", self.port, ssl=context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while length := (await reader.readuntil(b" ")).strip():
                found = SYSLOG_LINE.fullmatch(await reader.readexactly(int(length)))
                assert found is not None, "not an RFC 5424 message"
                self.messages.append((int(found.group(1)), found.group(6).decode(), found.group(7).decode(),
                                      json.loads(found.group(8))))
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
