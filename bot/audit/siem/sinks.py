"""Where the audit stream goes (AUDIT_SIEM_URL): Splunk's HTTP Event Collector, syslog over TLS, or a file of JSON
lines. Each `send(events)` returns once the receiver accepted the whole batch, else raises `SinkError` with a short
reason (`refused`: the token or certificate was refused; `rejected`: the receiver refused the data; `unavailable`:
it is down, busy or unreachable); the streamer keeps its cursor then and sends the batch again later.

What "accepted" means: HEC answers each request (200, `"code": 0`); a file is written and flushed to disk (fsync);
syslog over TLS has no acknowledgement (RFC 5425): a batch is accepted once TLS took it. A token never appears in a
log or an error.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from bot.audit.siem.syslog import frame, message
from bot.core.siem_settings import SiemTarget

TIMEOUT = 8.0  # seconds a receiver has to take a batch: below the stream's lease (10 s), so one holder sends at a time
SOURCETYPE = "ocsf:api_activity"


class SinkError(Exception):
    """The receiver did not accept the batch: `reason` (refused, rejected, unavailable) and what it said."""

    def __init__(self, reason: str, said: str) -> None:
        super().__init__(said)
        self.reason = reason


class Sink(Protocol):
    async def send(self, events: list[dict[str, Any]]) -> None: ...

    async def close(self) -> None: ...


def tls_context(ca_file: str) -> ssl.SSLContext:
    """The TLS context a receiver's certificate is checked with (AUDIT_SIEM_CA_FILE, else the system's CAs)."""
    return ssl.create_default_context(cafile=ca_file or None)


def open_sink(target: SiemTarget, *, token: str, ca_file: str) -> Sink:
    """The sink AUDIT_SIEM_URL names."""
    if target.kind == "hec":
        return HecSink(target.url, token=token, ca_file=ca_file)
    if target.kind == "syslog":
        return SyslogSink(target.host, target.port, ca_file=ca_file)
    return FileSink(Path(target.path))


class HecSink:
    """Splunk's HTTP Event Collector: one POST of the batch (its events one after another), `Authorization: Splunk
    <token>`."""

    def __init__(self, url: str, *, token: str, ca_file: str) -> None:
        self._url = url
        self._token = token
        self._ssl = tls_context(ca_file) if url.startswith("https:") else None
        self._session: aiohttp.ClientSession | None = None
        self._host = socket.gethostname()

    async def send(self, events: list[dict[str, Any]]) -> None:
        body = "\n".join(json.dumps({"time": event["time"] / 1000, "host": self._host, "source": "hitl-approvals",
                                     "sourcetype": SOURCETYPE, "event": event}, separators=(",", ":"))
                         for event in events)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        try:
            async with self._session.post(self._url, data=body.encode(), ssl=self._ssl if self._ssl else True,
                                          headers={"Authorization": f"Splunk {self._token}",
                                                   "Content-Type": "application/json"}) as response:
                said = (await response.text())[:200]
                status = response.status
        except ssl.SSLError as exc:
            raise SinkError("refused", f"the HEC's certificate was refused ({exc.reason})") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SinkError("unavailable", f"the HEC is unreachable ({type(exc).__name__})") from None
        if status == 200 and _code(said) in (0, None):
            return
        reason = "refused" if status in (401, 403) else "rejected" if status == 400 else "unavailable"
        raise SinkError(reason, f"the HEC answered {status}: {said}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _code(said: str) -> int | None:
    try:
        found = json.loads(said)
    except ValueError:
        return None
    return found.get("code") if isinstance(found, dict) and isinstance(found.get("code"), int) else None


class SyslogSink:
    """Syslog over TLS (RFC 5425): one connection kept open, each event an octet-counted RFC 5424 message."""

    def __init__(self, host: str, port: int, *, ca_file: str) -> None:
        self._host, self._port = host, port
        self._ssl = tls_context(ca_file)
        self._writer: asyncio.StreamWriter | None = None
        self._me = socket.gethostname()

    async def send(self, events: list[dict[str, Any]]) -> None:
        data = b"".join(frame(message(event, host=self._me)) for event in events)
        try:
            writer = await self._connected()
            writer.write(data)
            await asyncio.wait_for(writer.drain(), TIMEOUT)
        except ssl.SSLError as exc:
            await self.close()
            raise SinkError("refused", f"the syslog receiver's certificate was refused ({exc.reason})") from None
        except (OSError, TimeoutError) as exc:
            await self.close()
            raise SinkError("unavailable", f"the syslog receiver is unreachable ({type(exc).__name__})") from None

    async def _connected(self) -> asyncio.StreamWriter:
        """The connection kept open, or a new one (TLS, the receiver's certificate checked)."""
        writer = self._writer
        if writer is None or writer.is_closing():
            connected = await asyncio.wait_for(asyncio.open_connection(self._host, self._port, ssl=self._ssl), TIMEOUT)
            writer = self._writer = connected[1]
        return writer

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 5)
            except (OSError, TimeoutError, ssl.SSLError):
                pass


class FileSink:
    """A file of JSON lines (one OCSF event a line) for a collector (Fluent Bit, Vector, the Splunk forwarder) to
    tail: appended, flushed and synced to disk before the batch counts as accepted."""

    def __init__(self, path: Path) -> None:
        self._path = path

    async def send(self, events: list[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n" for event in events)
        try:
            await asyncio.to_thread(self._append, lines.encode())
        except OSError as exc:
            raise SinkError("unavailable", f"{self._path} cannot be written ({exc.strerror})") from None

    def _append(self, data: bytes) -> None:
        with self._path.open("ab") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())

    async def close(self) -> None:
        return None
