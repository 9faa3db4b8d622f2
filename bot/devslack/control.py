"""The dev page and its control API: ``/`` and ``/static/*`` serve the Slack-like page (``static/``), which
long-polls ``/_control/state?since=<version>`` and acts through ``/_control/*`` (commands, clicks on messages and in
views, modals, opening the App Home, typed messages, injected failures, reset) — the stand-in's Python API over JSON,
guarded against other sites."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import aiohttp
from aiohttp import web

from bot.devslack.model import (
    APP_ID,
    APP_NAME,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    DeliveryResult,
    copied,
)
from bot.devslack.pages import foreign, refused, static_file
from bot.devslack.workspace import Workspace

if TYPE_CHECKING:
    from bot.devslack.server import SlackStandIn

STATIC_DIR: Final = Path(__file__).with_name("static")
# The page loads nothing from elsewhere and runs no inline script: a last line of defence against markup injection.
_PAGE_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
MAX_POLL_WAIT: Final = 60.0
USERGROUP_ID: Final = re.compile(r"S[A-Z0-9]{1,20}")


def _bad_field(exc: Exception) -> web.Response:
    """400 naming the field a control request's body lacks (KeyError) or holds wrong."""
    return refused(400, f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc))


class Control:
    """HTTP handlers of the page and of ``/_control/*``, acting through the stand-in's public methods."""

    def __init__(self, ws: Workspace, stand_in: SlackStandIn) -> None:
        self.ws = ws
        self.stand_in = stand_in
        self.loopback_only = False  # set by SlackStandIn.start() on a loopback host

    @web.middleware
    async def same_origin(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        """Control POSTs from a browser must come from the page itself: another site open in the same browser
        must not be able to type commands or click cards (a simple cross-site POST carries an ``Origin``).
        Served on loopback, only loopback host names are answered, so DNS rebinding cannot reach it either."""
        posted = request.path.startswith("/_control/")  # (the bot's own calls, /api/*, come from no browser)
        refusal = foreign(request, loopback_only=self.loopback_only, standin="Slack", posts="control ",
                          checks_posts=posted)
        if refusal is not None:
            return refusal
        response = await handler(request)
        return cast(web.StreamResponse, response)

    async def _body(self, request: web.Request) -> dict[str, Any]:
        self.ws.remember_base(request)
        try:
            body = await request.json() if request.body_exists else {}
        except ValueError as exc:
            raise web.HTTPBadRequest(
                text=json.dumps({"ok": False, "error": "invalid_json"}), content_type="application/json"
            ) from exc
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(
                text=json.dumps({"ok": False, "error": "body must be an object"}), content_type="application/json"
            )
        return body

    # ------------------------------------------------------------------------------------------- people's actions

    async def _deliver(self, request: web.Request, kind: str) -> web.Response:
        body = await self._body(request)
        s = self.stand_in
        result: DeliveryResult
        try:
            if kind == "command":
                result = await s.send_command(
                    user=str(body["user"]),
                    channel=str(body["channel"]),
                    text=str(body.get("text", "")),
                    command=str(body.get("command", "/agent")),
                )
            elif kind == "click":
                value, as_seen = body.get("value"), body.get("as_seen")
                if as_seen is not None and not isinstance(as_seen, dict):
                    raise ValueError("as_seen must be a message object")
                result = await s.click(
                    user=str(body["user"]),
                    channel=str(body["channel"]),
                    ts=str(body["ts"]),
                    action_id=str(body["action_id"]),
                    value=None if value is None else str(value),
                    as_seen=as_seen,
                )
            elif kind == "click_view":
                value, view_id, values = body.get("value"), body.get("view_id"), body.get("values")
                if values is not None and not isinstance(values, dict):
                    raise ValueError("values must be an object {block_id: {action_id: value}}")
                result = await s.click_view(
                    user=str(body["user"]),
                    action_id=str(body["action_id"]),
                    value=None if value is None else str(value),
                    view_id=None if view_id in (None, "") else str(view_id),
                    values=values,
                )
            elif kind == "home":
                result = await s.open_home(user=str(body["user"]), tab=str(body.get("tab", "home")))
            else:
                values = body.get("values") or {}
                if not isinstance(values, dict):
                    raise ValueError("values must be an object {block_id: {action_id: value}}")
                result = await s.submit_view(user=str(body["user"]), view_id=str(body["view_id"]), values=values)
        except (KeyError, ValueError) as exc:
            return _bad_field(exc)
        except RuntimeError as exc:
            return refused(409, str(exc))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return refused(502, f"delivery to the bot failed: {exc!r}")
        return web.json_response(asdict(result))

    async def handle_command(self, request: web.Request) -> web.Response:
        return await self._deliver(request, "command")

    async def handle_click(self, request: web.Request) -> web.Response:
        return await self._deliver(request, "click")

    async def handle_click_view(self, request: web.Request) -> web.Response:
        """``{"user", "action_id", "value"?, "view_id"?, "values"?}``: a click in the person's Home (no view_id) or
        open modal."""
        return await self._deliver(request, "click_view")

    async def handle_home(self, request: web.Request) -> web.Response:
        """``{"user", "tab"?: "home" | "messages"}``: the person opens the app's Home (or Messages) tab."""
        return await self._deliver(request, "home")

    async def handle_submit_view(self, request: web.Request) -> web.Response:
        return await self._deliver(request, "submit_view")

    async def handle_close_view(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        try:
            result = await self.stand_in.close_view(user=str(body["user"]), view_id=str(body["view_id"]))
        except (KeyError, ValueError) as exc:
            return _bad_field(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return refused(502, f"delivery to the bot failed: {exc!r}")
        return web.json_response({"ok": True, "delivered": None if result is None else asdict(result)})

    async def handle_message(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        thread_ts = body.get("thread_ts")
        try:
            message = self.stand_in.post_user_message(
                user=str(body["user"]),
                channel=str(body["channel"]),
                text=str(body.get("text", "")),
                thread_ts=None if thread_ts in (None, "") else str(thread_ts),
            )
        except (KeyError, ValueError) as exc:
            return _bad_field(exc)
        return web.json_response({"ok": True, "message": message})

    # ------------------------------------------------------------------------------------------- workspace

    async def handle_calls(self, request: web.Request) -> web.Response:
        method = request.query.get("method") or None
        return web.json_response({"ok": True, "calls": [asdict(c) for c in self.stand_in.calls(method)]})

    async def handle_state(self, request: web.Request) -> web.Response:
        """The whole workspace as JSON. With ``?since=<version>`` (and the ``instance`` it came from) this is a long
        poll: it answers when the version moves past ``since``, or after ``wait`` seconds (default 25)."""
        self.ws.remember_base(request)
        since_raw = request.query.get("since")
        if since_raw is not None:
            try:
                since = int(since_raw)
                wait = float(request.query.get("wait", "25"))
                if not math.isfinite(wait):
                    raise ValueError(wait)
                wait = min(max(wait, 0.0), MAX_POLL_WAIT)
            except ValueError:
                return refused(400, "since must be an integer and wait a number of seconds")
            instance = request.query.get("instance") or self.ws.instance
            if instance == self.ws.instance and since >= 0:
                await self._wait_past(since, wait)
        return web.json_response(self.state(), headers={"Cache-Control": "no-store"})

    async def _wait_past(self, version: int, wait: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while self.ws.version <= version and not self.ws.closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            event = self.ws.change_event(loop)
            try:
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                return

    def state(self) -> dict[str, Any]:
        s = self.stand_in
        return {
            "ok": True,
            "version": self.ws.version,
            "instance": self.ws.instance,
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN, "name": TEAM_NAME},
            "bot": {"user_id": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID, "name": BOT_NAME, "app_name": APP_NAME},
            "events_url": self.ws.events_url,
            "users": [asdict(u) for u in self.ws.users.values()],
            "channels": [asdict(c) for c in self.ws.channels.values()],
            "usergroups": copied(self.ws.usergroups),
            "messages": {cid: s.messages(cid) for cid in self.ws.messages},
            "ephemerals": s.ephemerals(),
            "views": s.open_views(),
            "homes": {uid: s.home_view(uid) for uid in self.ws.homes},
            "dms": {uid: self.ws.dm_id(uid) for uid in self.ws.users},  # person -> their DM with the bot
            "workspaces": self.workspaces(),
            "teams_url": self.ws.teams_url,  # the local Teams' page (dev --teams), for the "Teams" pane
            "mail": self.ws.mail_view is not None,  # a mail catcher's inboxes (dev --email), for the "Mail" pane
            "phone": self.ws.phone_view is not None,  # the local push service's pushes (dev --push), "Phone" pane
        }

    async def handle_mail(self, request: web.Request) -> web.Response:
        """``GET /_control/mail``: every inbox of the mail catcher (dev --email), as the "Mail" pane draws them:
        ``{"inboxes": {address: [{sender, to, subject, message_id, text, html, links}, ...]}}``; 404 without one."""
        view = self.ws.mail_view
        if view is None:
            return refused(404, "no mail catcher: python -m bot dev --email")
        return web.json_response({"ok": True, **view()})

    async def handle_phone(self, request: web.Request) -> web.Response:
        """``GET /_control/phone``: every push the local push service received (dev --push), decrypted, newest
        first, as the "Phone" pane draws them: ``{"pushes": [{device, label, data, at, subject}, ...]}``; 404
        without one."""
        view = self.ws.phone_view
        if view is None:
            return refused(404, "no local push service: python -m bot dev --push")
        return web.json_response({"ok": True, **view()})

    def workspaces(self) -> list[dict[str, Any]]:
        """Each workspace served: its ids and names, and how the app is installed there (``team``: its own token,
        ``organisation``: org-wide, ``none``); never a token."""
        listed = []
        for team in self.ws.teams.values():
            grant = self.ws.installed(team.id)
            how = "none" if grant is None else "organisation" if grant.team is None else "team"
            listed.append({**asdict(team), "installed": how})
        return listed

    async def handle_uninstall(self, request: web.Request) -> web.Response:
        """``{"installation": "T0OTHER"}`` (or an organisation's ``E…``): remove the app from it, as a person does
        in Slack (the bot is sent ``tokens_revoked`` and ``app_uninstalled``)."""
        body = await self._body(request)
        try:
            self.stand_in.uninstall(str(body["installation"]))
        except (KeyError, ValueError) as exc:
            return _bad_field(exc)
        return web.json_response({"ok": True})

    async def handle_revoke(self, request: web.Request) -> web.Response:
        """``{"revoked": true}`` (the default): the bot token revoked, Slack answers ``token_revoked`` to it;
        ``false``: accepted again."""
        body = await self._body(request)
        self.stand_in.revoke_token(revoked=body.get("revoked", True) is not False)
        return web.json_response({"ok": True})

    async def handle_reset(self, request: web.Request) -> web.Response:
        self.stand_in.reset()
        return web.json_response({"ok": True})

    async def handle_fail(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        try:
            self.stand_in.fail(
                method=str(body["method"]),
                status=int(body.get("status", 429)),
                error=str(body.get("error", "ratelimited")),
                count=int(body.get("count", 1)),
                retry_after=int(body.get("retry_after", 1)),
                team=None if body.get("team") is None else str(body["team"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            return _bad_field(exc)
        return web.json_response({"ok": True})

    async def handle_usergroup(self, request: web.Request) -> web.Response:
        """``{"id": "S0LEGAL", "users": ["U0ALICE"]}``: create a user group, or replace its members."""
        body = await self._body(request)
        group, users = body.get("id"), body.get("users")
        if not isinstance(group, str) or not USERGROUP_ID.fullmatch(group):
            return refused(400, "id must be a user group id: S followed by capital letters and digits (S0LEGAL)")
        if not isinstance(users, list) or not all(isinstance(u, str) and u in self.ws.users for u in users):
            return refused(400, f"users must be a list of the workspace's user ids: {sorted(self.ws.users)}")
        self.stand_in.set_usergroup(group, users)
        return web.json_response({"ok": True, "usergroup": {group: users}})

    async def handle_limit(self, request: web.Request) -> web.Response:
        """``{"method": "views.publish", "calls": 100, "per": 60}``: that method's rate limit (``calls`` 0 or
        null: none)."""
        body = await self._body(request)
        try:
            calls = body.get("calls")
            team = None if body.get("team") is None else str(body["team"])
            per = float(body.get("per", 60.0))
            self.stand_in.limit(str(body["method"]), int(calls) if calls else None, per=per, team=team)
        except (KeyError, TypeError, ValueError) as exc:
            return _bad_field(exc)
        return web.json_response({"ok": True})

    # ------------------------------------------------------------------------------------------- the page

    async def handle_page(self, request: web.Request) -> web.StreamResponse:
        self.ws.remember_base(request)
        page = _static_file("index.html")
        if self.ws.teams_url:  # the "Teams" pane frames the local Teams' page, and only that
            origin = "/".join(self.ws.teams_url.split("/", 3)[:3])
            page.headers["Content-Security-Policy"] = f"{_PAGE_CSP}; frame-src {origin}"
        return page

    async def handle_static(self, request: web.Request) -> web.StreamResponse:
        return _static_file(request.match_info["name"])

    async def handle_favicon(self, request: web.Request) -> web.StreamResponse:
        return _static_file("favicon.svg")


def _static_file(name: str) -> web.StreamResponse:
    return static_file(STATIC_DIR, name, csp=_PAGE_CSP)
