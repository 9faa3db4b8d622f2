"""The push surface's pages on the worker's HTTP server (issue 90), mounted by bot/server.py with VAPID_PRIVATE_KEY:

    GET  /app/manifest.webmanifest   the web app's manifest: the bot's pages installable (start at /app/push)
    GET  /app/sw.js                  the service worker (bot/templates/push/sw.js): shows a push, opens its page
    GET  /app/icon.svg               the app's icon
    GET  /app/push                   the signed-in person's devices: turn notifications on, see each, remove one
    POST /app/push/devices           a device's PushSubscription (JSON), checked (bot/push/devices.py): 201, or a
                                     400 saying what is wrong (nothing kept); audited `push_subscribed`
    POST /app/push/devices/remove    `{"device": id}`: one of the person's devices forgotten; `push_unsubscribed`
    GET/POST /push/{approval}/{token}  an action's confirm page (bot/links/page.py): a GET shows, a POST decides
                                     through `decisions.decide(person, "push", ...)`, step-up sent to the passkey's
                                     page, every refusal audited (`surface: push`)

Every page needs the pages' sign-in (`SignIn.require`); the devices' POSTs only from the bot's own pages
(`from_our_pages`) and as JSON, so another site cannot make a signed-in browser post them."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from bot.approvals import ApprovalService
from bot.core.templates import render
from bot.links.deciding import StepUp, link_decider, link_reverser
from bot.links.page import HEADERS, add_link_routes
from bot.push.devices import BadSubscription, endpoint_public, subscription_of
from bot.push.surface import PushSurface
from bot.signin import LOGOUT, SignIn

LIMIT: Final = 8192  # bytes of a device's JSON
MAX_DEVICES: Final = 10  # a person's devices at most
DEVICE: Final = re.compile(r"[0-9a-f]{16}")  # a device's id (bot/store/push.py `device_of`)
Names = Callable[[str], Awaitable[str | None]]
ICON: Final = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96"><rect width="96" height="96" rx="20"'
               ' fill="#007a5a"/><path d="M26 50l14 14 30-32" stroke="#fff" stroke-width="10" fill="none"/></svg>')
MANIFEST: Final = {"name": "Agent approvals", "short_name": "Approvals", "start_url": "/app/push", "scope": "/",
                   "display": "standalone", "background_color": "#ffffff", "theme_color": "#007a5a",
                   "icons": [{"src": "/app/icon.svg", "sizes": "any", "type": "image/svg+xml"}]}


def add_push_pages(app: web.Application, surface: PushSurface, *, signin: SignIn, approvals: ApprovalService,
                   step_up: StepUp, names: Names) -> None:
    """The web app, the devices page and the actions' confirm page on `app`, wired to the sign-in and the core."""
    store = approvals.store

    async def manifest(_: web.Request) -> web.Response:
        return web.json_response(MANIFEST, content_type="application/manifest+json")

    async def worker(_: web.Request) -> web.Response:
        return web.Response(text=render("push/sw.js"), content_type="text/javascript",
                            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/app/"})

    async def icon(_: web.Request) -> web.Response:
        return web.Response(text=ICON, content_type="image/svg+xml")

    async def devices(request: web.Request) -> web.Response:
        person = (await signin.require(request, person="", page="/app/push")).user
        nonce = secrets.token_urlsafe(16)
        listed = [{"device": d.device, "agent": d.agent, "added_at": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                    time.gmtime(d.added))}
                  for d in await store.push.subscriptions(person)]
        text = render("push/devices.html", nonce=nonce, name=await names(person) or person, devices=listed,
                      push_key=surface.vapid_public, local=surface.local_service, sign_out=LOGOUT)
        local = f" {surface.local_service}" if surface.local_service else ""
        policy = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'"
                  f"{local}; worker-src 'self'; img-src 'self'; manifest-src 'self'; base-uri 'none';"
                  " form-action 'self'; frame-ancestors 'none'")
        return web.Response(text=text, content_type="text/html", headers={**HEADERS, "Content-Security-Policy": policy})

    async def posted(request: web.Request) -> tuple[str, object]:
        """The signed-in person and the JSON they posted from one of the bot's pages (else the answer, raised)."""
        person = (await signin.require(request, person="", page="/app/push")).user
        if not signin.from_our_pages(request):
            raise _said(403, "This did not come from one of this bot's pages: nothing changed.")
        if request.content_type != "application/json" or (request.content_length or 0) > LIMIT:
            raise _said(400, f"Send the subscription as JSON (at most {LIMIT} bytes).")
        raw = await request.content.read(LIMIT + 1)
        if len(raw) > LIMIT:
            raise _said(400, f"Send the subscription as JSON (at most {LIMIT} bytes).")
        try:
            return person, json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _said(400, "The body is not JSON.") from None

    async def subscribe(request: web.Request) -> web.Response:
        person, body = await posted(request)
        try:
            device = subscription_of(body, now=time.time(), agent=request.headers.get("User-Agent", ""),
                                     local_service=surface.local_service)
            await endpoint_public(device.endpoint, local_service=surface.local_service)
        except BadSubscription as exc:
            raise _said(400, f"Not kept: {exc}.") from None
        done = await store.push.subscribe(person, device, limit=MAX_DEVICES)
        if done == "full":
            raise _said(400, f"Not kept: you have {MAX_DEVICES} devices already; remove one first.")
        await store.audit.append("push_subscribed", by=person, device=device.device, renewed=done == "renewed",
                                 surface="push")
        return web.json_response({"device": device.device, "status": done}, status=201, headers=HEADERS)

    async def remove(request: web.Request) -> web.Response:
        person, body = await posted(request)
        device = body.get("device") if isinstance(body, dict) else None
        if not isinstance(device, str) or not DEVICE.fullmatch(device):
            raise _said(400, "Say which device: {\"device\": id}.")
        if not await store.push.unsubscribe(person, device):
            raise _said(404, "No such device of yours: nothing changed.")
        await store.audit.append("push_unsubscribed", by=person, device=device, surface="push")
        return web.json_response({"device": device, "status": "removed"}, headers=HEADERS)

    async def who(request: web.Request) -> str:
        return (await signin.require(request, person="", page=request.path)).user

    async def refused(person: str, approval: str, why: str) -> None:
        await store.audit.append("refused", by=person, approval=approval, reason=why[:300], surface="push")

    app.router.add_get("/app/manifest.webmanifest", manifest)
    app.router.add_get("/app/sw.js", worker)
    app.router.add_get("/app/icon.svg", icon)
    app.router.add_get("/app/push", devices)
    app.router.add_post("/app/push/devices", subscribe)
    app.router.add_post("/app/push/devices/remove", remove)
    decide = link_decider(approvals, step_up, channel="push")
    add_link_routes(app, links=surface.links, who=who, load=store.approvals.get, decide=decide, refused=refused,
                    seen=approvals.opened,
                    reverse=link_reverser(approvals, channel="push"))


def _said(status: int, error: str) -> web.HTTPException:
    kind = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound}[status]
    return kind(text=json.dumps({"error": error}), content_type="application/json", headers=HEADERS)
