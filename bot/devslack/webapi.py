"""The Web API endpoint ``/api/{method}``: reads arguments as slack-sdk sends them (query, form or JSON), checks
the token, applies injected failures and held calls, records every call, and answers with Slack's shapes and
errors. The workspace directory methods (``auth.test``, ``users.info``, ``conversations.info``,
``usergroups.users.list``) are answered here; the other methods come from the parts that own them."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from bot.devslack.model import BOT_ID, BOT_NAME, BOT_USER_ID, TEAM_ID, TEAM_NAME, ApiError, ApiMethod
from bot.devslack.workspace import Workspace

_JSON_ARGS: Final = ("blocks", "attachments", "view", "files", "metadata")


class WebApi:
    """Dispatch of Web API calls to their methods, plus the directory methods."""

    def __init__(self, ws: Workspace, methods: Mapping[str, ApiMethod]) -> None:
        self.ws = ws
        self.methods: dict[str, ApiMethod] = {
            "auth.test": self.auth_test,
            "users.info": self.users_info,
            "conversations.info": self.conversations_info,
            "usergroups.users.list": self.usergroups_users_list,
            **methods,
        }

    async def handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.ws.remember_base(request)
        args: dict[str, Any] = {}
        headers: dict[str, str] = {}
        status = 200
        try:
            args = await self._read_args(request)
            token = args.pop("token", None)
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                token = auth[len("Bearer ") :].strip()
            handler = self.methods.get(method)
            if handler is None:
                raise ApiError("unknown_method")
            fault = self.ws.take_fault(method)
            if fault is not None:
                status = fault.status
                if status == 429:
                    headers["Retry-After"] = str(fault.retry_after)
                raise ApiError(fault.error)
            if not token:
                raise ApiError("not_authed")
            expected = self.ws.app_token if method == "apps.connections.open" else self.ws.bot_token
            if token != expected:
                raise ApiError("invalid_auth")
            await self._wait_if_held(method, args)
            body = {"ok": True, **handler(args)}
        except ApiError as exc:
            body = {"ok": False, "error": exc.error, **exc.extra}
        self.ws.record(method, args, ok=bool(body["ok"]))
        return web.json_response(body, status=status, headers=headers)

    @staticmethod
    async def _read_args(request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise ApiError("invalid_json") from exc
                if not isinstance(body, dict):
                    raise ApiError("invalid_json")
                args.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    args[key] = value if isinstance(value, str) else "(binary)"
        for key in _JSON_ARGS:
            raw = args.get(key)
            if isinstance(raw, str) and raw[:1] in ("[", "{"):
                try:
                    args[key] = json.loads(raw)
                except ValueError:
                    pass
        return args

    async def _wait_if_held(self, method: str, args: dict[str, Any]) -> None:
        """Wait here while a test holds this call (``SlackStandIn.hold``)."""
        for held in self.ws.holds:
            if held.method == method and held.args is None and (held.when is None or held.when(args)):
                held.args = copy.deepcopy(args)
                held.arrived.set()
                self.ws.touch()
                await held.released.wait()
                return

    # ------------------------------------------------------------------------------------------- directory

    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{self.ws.base_url}/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        uid = args.get("user")
        if uid == BOT_USER_ID:
            return {
                "user": {
                    "id": BOT_USER_ID,
                    "team_id": TEAM_ID,
                    "name": BOT_NAME,
                    "real_name": "Approvals Bot",
                    "profile": {"display_name": BOT_NAME, "real_name": "Approvals Bot", "bot_id": BOT_ID},
                    "is_admin": False,
                    "is_bot": True,
                    "deleted": False,
                }
            }
        user = self.ws.require_user(uid)
        return {
            "user": {
                "id": user.id,
                "team_id": TEAM_ID,
                "name": user.name,
                "real_name": user.real_name,
                "profile": {"display_name": user.name, "real_name": user.real_name},
                "is_admin": user.is_admin,
                "is_owner": False,
                "is_bot": False,
                "deleted": False,
                "tz": "UTC",
            }
        }

    def conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self.ws.require_channel(args.get("channel"), allow_names=False)
        if cid in self.ws.dms:
            return {
                "channel": {"id": cid, "is_im": True, "is_channel": False, "is_private": True, "user": self.ws.dms[cid]}
            }
        ch = self.ws.channels[cid]
        return {
            "channel": {
                "id": ch.id,
                "name": ch.name,
                "name_normalized": ch.name,
                "is_private": ch.is_private,
                "is_channel": True,
                "is_group": False,
                "is_im": False,
                "is_archived": False,
                "is_member": True,
                "created": 1700000000,
                "context_team_id": TEAM_ID,
            }
        }

    def usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = args.get("usergroup")
        if not isinstance(group, str) or group not in self.ws.usergroups:
            raise ApiError("no_such_subteam")
        return {"users": list(self.ws.usergroups[group])}
