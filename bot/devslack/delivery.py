"""Delivery to the bot: commands and interactions (form-encoded) and Events API callbacks (JSON) POSTed to its
``events_url`` signed as Slack signs them, or, when the bot connected over Socket Mode (``apps.connections.open``),
sent as envelopes on that WebSocket and acked."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bot.devslack.model import APP_ID, DELIVERY_TIMEOUT, DeliveryResult, web_api
from bot.devslack.workspace import Workspace


class Delivery:
    """The connection to the bot: an HTTP client session and the bot's Socket Mode connections."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.sockets: list[web.WebSocketResponse] = []
        self._socket_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def sign(
        self, body: bytes, *, timestamp: int | None = None, content_type: str = "application/x-www-form-urlencoded"
    ) -> dict[str, str]:
        """Headers Slack would send with ``body``: timestamp, ``v0=`` HMAC-SHA256 signature and content type
        (form-encoded for commands and interactions, ``application/json`` for Events API callbacks)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        try:
            signature = SignatureVerifier(self.ws.signing_secret).generate_signature(timestamp=ts, body=body)
        except UnicodeDecodeError:
            # slack_sdk signs text (it decodes the body first); Slack signs the raw bytes, and tests send bodies
            # that are not UTF-8 on purpose: those get the same HMAC-SHA256 computed over the bytes themselves.
            secret = self.ws.signing_secret.encode()
            signature = "v0=" + hmac.new(secret, f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
        if signature is None:  # (only without a timestamp)
            raise RuntimeError("slack_sdk made no signature")
        return {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
            "Content-Type": content_type,
        }

    async def deliver(self, form: Mapping[str, str]) -> DeliveryResult:
        """Send a command (its form fields) or an interaction (``{"payload": json}``) to the bot."""
        if self.sockets:  # the app is connected over Socket Mode: payloads go there, unsigned
            if "payload" in form:
                return await self._deliver_over_socket("interactive", json.loads(form["payload"]), respond=True)
            return await self._deliver_over_socket("slash_commands", dict(form), respond=True)
        return await self._post(urlencode(form).encode(), "application/x-www-form-urlencoded")

    async def deliver_event(self, callback: Mapping[str, Any]) -> DeliveryResult:
        """Send an Events API callback (``{"type": "event_callback", "event": {...}, ...}``) to the bot: a JSON body
        over HTTP, or an ``events_api`` envelope over Socket Mode."""
        if self.sockets:
            return await self._deliver_over_socket("events_api", dict(callback), respond=False)
        return await self._post(json.dumps(callback).encode(), "application/json")

    async def _post(self, body: bytes, content_type: str) -> DeliveryResult:
        if not self.ws.events_url:
            raise RuntimeError("events_url is not set: nowhere to deliver to")
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            # (a session left from another event loop, e.g. a previous test's, can't be reused or closed here)
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT))
            self._session_loop = loop
        session = self._session
        started = time.monotonic()
        headers = self.sign(body, content_type=content_type)
        async with session.post(self.ws.events_url, data=body, headers=headers) as resp:
            text = await resp.text()
            status = resp.status
            retry_after = resp.headers.get("Retry-After", "")
        elapsed = time.monotonic() - started
        parsed: Any | None = None
        if text.strip():
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        self.ws.touch()
        return DeliveryResult(status=status, body=text, json=parsed, elapsed=elapsed, retry_after=retry_after)

    async def close(self) -> None:
        """Close the client session (when it belongs to this event loop) and the Socket Mode connections."""
        if self._session is not None and self._session_loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = self._session_loop = None
        for socket in list(self.sockets):
            await socket.close()

    # ------------------------------------------------------------------------------------------- Socket Mode

    @web_api("apps.connections.open")
    def apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.ws.base_url.replace("http://", "ws://", 1) + "/_socket"}

    async def handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        """A Socket Mode connection: `hello`, then envelopes out and acks (with `envelope_id`) back."""
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self.sockets) + 1,
                "connection_info": {"app_id": APP_ID},
                "debug_info": {"approximate_connection_time": 3600},
            }
        )
        self.sockets.append(socket)
        try:
            async for message in socket:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                ack = json.loads(message.data)
                future = self._socket_acks.pop(str(ack.get("envelope_id", "")), None)
                if future is not None and not future.done():
                    future.set_result(ack)
        finally:
            self.sockets.remove(socket)
        return socket

    async def _deliver_over_socket(self, kind: str, payload: dict[str, Any], *, respond: bool) -> DeliveryResult:
        """One envelope of kind (``slash_commands``, ``interactive``, ``events_api``) and its ack; ``respond``: the
        app may answer in the ack (Slack's ``accepts_response_payload``, false for events)."""
        envelope_id = secrets.token_hex(8)
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": respond,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._socket_acks[envelope_id] = future
        started = time.monotonic()
        await self.sockets[-1].send_json(envelope)
        ack = await asyncio.wait_for(future, timeout=DELIVERY_TIMEOUT)
        answer = ack.get("payload")
        text = json.dumps(answer) if answer else ""
        self.ws.touch()
        return DeliveryResult(status=200, body=text, json=answer or None, elapsed=time.monotonic() - started)
