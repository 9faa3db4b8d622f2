"""The Web API endpoint ``/api/{method}``: reads arguments as slack-sdk sends them (query, form or JSON), checks
the token, applies injected failures and held calls, records every call, and answers with Slack's shapes and
errors. The workspace directory methods (``auth.test``, ``users.info``, ``users.lookupByEmail``, ``conversations.info``,
``conversations.open``, ``usergroups.users.list``) are answered here; the other methods come from the parts that
own them."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from bot.devslack.model import (
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_ID,
    ApiError,
    ApiMethod,
    Grant,
    copied,
    web_api,
    web_api_methods,
)
from bot.devslack.workspace import CALLING, Workspace

_JSON_ARGS: Final = ("blocks", "attachments", "view", "files", "metadata")
# with an org-wide token, Slack needs to be told which of the organisation's workspaces these read
_NEEDS_TEAM: Final = frozenset({"usergroups.users.list", "usergroups.list"})
# authenticated by the app's client id and secret, no token
CLIENT_METHODS: Final = frozenset({"oauth.v2.access", "openid.connect.token"})
USER_TOKEN_METHODS: Final = frozenset({"openid.connect.userInfo"})  # a Sign in with Slack user token, read by it


def _truthy(value: Any) -> bool:
    """A boolean argument as Slack reads it: ``true`` / ``1`` (form fields are strings), or a JSON true."""
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1")) or value == 1


class WebApi:
    """Dispatch of Web API calls to their methods, plus the directory methods."""

    def __init__(self, ws: Workspace, methods: Mapping[str, ApiMethod]) -> None:
        self.ws = ws
        self.methods: dict[str, ApiMethod] = {**web_api_methods(self), **methods}

    async def handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.ws.remember_base(request)
        args: dict[str, Any] = {}
        headers: dict[str, str] = {}
        status = 200
        team: str | None = None
        try:
            args = await self._read_args(request)
            token = args.pop("token", None)
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                token = auth[len("Bearer ") :].strip()
            handler = self.methods.get(method)
            if handler is None:
                raise ApiError("unknown_method")
            if method in CLIENT_METHODS:
                self._check_client(args, auth)
                body = {"ok": True, **handler(args)}
            elif method in USER_TOKEN_METHODS:
                body = {"ok": True, **handler({**args, "token": token or ""})}
            else:
                known = self.ws.grant_of(str(token)) if token else None  # injected failures come first, as before
                fault = self.ws.take_fault(method, known.team if known is not None else None)
                if fault is not None:
                    status = fault.status
                    if status == 429:
                        headers["Retry-After"] = str(fault.retry_after)
                    raise ApiError(fault.error)
                grant = self._grant(method, token)
                team = self._team_of_call(method, grant, args)
                limit = self.ws.limits.get((team or self.ws.home, method))
                wait = limit.admit(time.monotonic()) if limit is not None else 0
                if wait:  # as Slack: over the method's rate in this workspace, 429 and how long to wait
                    status = 429
                    headers["Retry-After"] = str(wait)
                    raise ApiError("ratelimited")
                await self._wait_if_held(method, args)
                calling = CALLING.set(grant)
                try:
                    body = {"ok": True, **handler(args)}
                finally:
                    CALLING.reset(calling)
        except ApiError as exc:
            body = {"ok": False, "error": exc.error, **exc.extra}
        self.ws.record(method, args, ok=bool(body["ok"]), team=team)
        return web.json_response(body, status=status, headers=headers)

    def _grant(self, method: str, token: Any) -> Grant | None:
        """The grant the call's token is (None for Socket Mode's app token), else Slack's refusal."""
        if not token:
            raise ApiError("not_authed")
        if method == "apps.connections.open":
            if token != self.ws.app_token:
                raise ApiError("invalid_auth")
            return None
        grant = self.ws.grant_of(str(token))
        if grant is None:
            raise ApiError("invalid_auth")
        if grant.revoked:
            raise ApiError("token_revoked")
        if grant.expires_at is not None and grant.expires_at <= time.time():
            raise ApiError("token_expired")
        return grant

    def _team_of_call(self, method: str, grant: Grant | None, args: dict[str, Any]) -> str | None:
        """The workspace a call is made in: the token's own; with an org-wide token, the ``team_id`` it names
        (required by some methods: ``missing_argument``; another organisation's: ``team_not_found``), else the
        workspace of the channel or person it names, else the organisation's id."""
        if grant is None:
            return None
        if grant.team is not None:
            return grant.team
        named = args.get("team_id")
        if named not in (None, ""):
            if named in self.ws.withheld and self.ws.team_info(str(named)).enterprise_id == grant.enterprise:
                raise ApiError("team_access_not_granted")  # approved for the organisation, not added to this one
            if named not in self.ws.teams_of(grant):
                raise ApiError("team_not_found")
            return str(named)
        if method in _NEEDS_TEAM:
            missing = {"messages": ["[ERROR] missing required field: team_id"]}
            raise ApiError("missing_argument", response_metadata=missing)
        calling = CALLING.set(grant)
        try:
            for key in ("channel", "user", "user_id"):
                ref = args.get(key)
                if isinstance(ref, str) and ref:
                    self._refuse_withheld(grant, ref)
                    cid = self.ws.channel_id_or_none(ref, allow_names=False)
                    if cid is not None:
                        return self.ws.team_of_channel(cid)
        finally:
            CALLING.reset(calling)
        return grant.enterprise

    def _refuse_withheld(self, grant: Grant, ref: str) -> None:
        """An org token naming a channel or person of a workspace of its organisation the app is not added to:
        Slack's ``team_access_not_granted``."""
        team = None
        if ref in self.ws.channels:
            team = self.ws.channels[ref].team_id
        elif ref in self.ws.users:
            team = self.ws.users[ref].team_id
        if team in self.ws.withheld and self.ws.team_info(team).enterprise_id == grant.enterprise:
            raise ApiError("team_access_not_granted")

    def _check_client(self, args: dict[str, Any], auth: str) -> None:
        """The app's client id and secret (HTTP Basic, or the ``client_id``/``client_secret`` arguments), else
        Slack's ``invalid_client_id`` / ``bad_client_secret``; the secret is never recorded."""
        client_id, secret = args.pop("client_id", None), args.pop("client_secret", None)
        if auth.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[len("Basic ") :]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ApiError("invalid_client_id") from exc
        if client_id != self.ws.client_id:
            raise ApiError("invalid_client_id")
        if secret != self.ws.client_secret:
            raise ApiError("bad_client_secret")
        args["client_id"] = client_id

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
                held.args = copied(args)
                held.arrived.set()
                self.ws.touch()
                await held.released.wait()
                return

    # ------------------------------------------------------------------------------------------- directory

    @web_api("auth.test")
    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        """Who the token is: its workspace, or for an org-wide token its organisation (``team_id`` is then the
        organisation's id, as Slack answers)."""
        grant = CALLING.get()
        if grant is not None and grant.team is None:
            team = next(t for t in self.ws.teams.values() if t.enterprise_id == grant.enterprise)
            return {
                "url": f"{self.ws.base_url}/",
                "team": team.enterprise_name,
                "user": BOT_NAME,
                "team_id": grant.enterprise,
                "user_id": team.bot_user_id,
                "bot_id": team.bot_id,
                "enterprise_id": grant.enterprise,
                "is_enterprise_install": True,
            }
        team = self.ws.team_info(grant.team if grant is not None and grant.team else self.ws.home)
        answer: dict[str, Any] = {
            "url": f"{self.ws.base_url}/",
            "team": team.name,
            "user": BOT_NAME,
            "team_id": team.id,
            "user_id": team.bot_user_id,
            "bot_id": team.bot_id,
            "is_enterprise_install": False,
        }
        if team.enterprise_id is not None:
            answer["enterprise_id"] = team.enterprise_id
        return answer

    def _own_teams(self) -> set[str]:
        """The workspaces of the calling token (the default one outside a call)."""
        grant = CALLING.get()
        return self.ws.teams_of(grant) if grant is not None else {self.ws.home}

    @web_api("users.lookupByEmail")
    def users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").strip().lower()
        for user in self.ws.users.values():
            if user.email == email and not user.deleted and self.ws.visible(user.team_id):
                return self.users_info({"user": user.id})
        raise ApiError("users_not_found")

    @web_api("users.info")
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
        org = self.ws.teams[user.team_id].enterprise_id if user.team_id in self.ws.teams else None
        # a person of a Grid organisation: Slack says which (`enterprise_user`), as it does
        grid = {"enterprise_user": {"id": user.id, "enterprise_id": org, "teams": [user.team_id]}} if org else {}
        return {
            "user": {
                **grid,
                "id": user.id,
                "team_id": user.team_id,
                "name": user.name,
                "real_name": user.real_name,
                # `email` as Slack gives it with the scope users:read.email (Slack's verified email)
                "profile": {"display_name": user.name, "real_name": user.real_name, "email": user.email},
                "is_admin": user.is_admin,
                "is_restricted": user.guest,
                "is_ultra_restricted": False,
                "is_stranger": user.team_id not in self._own_teams(),
                "is_owner": False,
                "is_bot": False,
                "deleted": user.deleted,
                "tz": "UTC",
            }
        }

    @web_api("conversations.info")
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
                "is_ext_shared": ch.shared,
                "is_shared": ch.shared,
                "is_channel": True,
                "is_group": False,
                "is_im": False,
                "is_archived": False,
                "is_member": ch.bot_member,
                "created": 1700000000,
                "context_team_id": ch.team_id,
            }
        }

    def _im_object(self, cid: str) -> dict[str, Any]:
        """A DM as ``conversations.open`` shows it with ``return_im``."""
        return {
            "id": cid,
            "created": 1700000000,
            "is_im": True,
            "is_org_shared": False,
            "context_team_id": self.ws.team_of_channel(cid),
            "user": self.ws.dms[cid],
            "is_user_deleted": False,
            "priority": 0,
            "is_open": True,
        }

    @web_api("conversations.open")
    def conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """Open (or find again) the DM between the bot and one person: ``users`` (one user id) or ``channel`` (the
        DM's id). Like Slack, the answer's channel is only ``{"id"}`` unless ``return_im`` is true, and says
        ``already_open`` when the DM existed. Multi-person DMs (several users) are not supported by the stand-in."""
        users, channel = args.get("users"), args.get("channel")
        if isinstance(users, list):  # (a JSON body may carry an array; Slack takes a comma-separated string)
            users = ",".join(str(u) for u in users)
        if users in (None, "") and channel not in (None, ""):
            cid = self.ws.channel_id_or_none(channel, allow_names=False) if isinstance(channel, str) else None
            if cid is None:
                raise ApiError("channel_not_found")
            if cid not in self.ws.dms:
                raise ApiError("method_not_supported_for_channel_type")
            user = self.ws.dms[cid]
        else:
            if not isinstance(users, str) or not users.strip():
                raise ApiError("users_list_not_supplied")
            ids = [u.strip() for u in users.split(",") if u.strip()]
            for uid in ids:
                self.ws.require_user(uid)
            if len(ids) > 1:
                raise ApiError(
                    "not_implemented",
                    response_metadata={
                        "messages": [
                            "the local Slack stand-in opens 1:1 DMs only, not multi-person DMs [json-pointer:/users]"
                        ]
                    },
                )
            user = ids[0]
        already = self.ws.dm_id(user) in self.ws.dms
        cid = self.ws.dm_of(user)
        answer: dict[str, Any] = {"channel": self._im_object(cid) if _truthy(args.get("return_im")) else {"id": cid}}
        if already:
            answer.update(no_op=True, already_open=True)
        return answer

    @web_api("usergroups.users.list")
    def usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = args.get("usergroup")
        if not isinstance(group, str) or group not in self.ws.usergroups:
            raise ApiError("no_such_subteam")
        team = self.ws.usergroup_teams.get(group, self.ws.home)
        named = args.get("team_id")
        # as Slack: a group is read in its own workspace (an org token's `team_id` names it; another is refused)
        if not self.ws.visible(team) or (named not in (None, "") and named != team):
            raise ApiError("no_such_subteam")
        return {"users": list(self.ws.usergroups[group])}

    @web_api("usergroups.list")
    def usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """The user groups of one workspace (an org token's `team_id`, else the token's own workspace)."""
        grant = CALLING.get()
        team = str(args.get("team_id") or (grant.team if grant is not None and grant.team else self.ws.home))
        groups = [{"id": group, "team_id": team, "handle": group.lower(), "name": group, "user_count": len(members)}
                  for group, members in self.ws.usergroups.items()
                  if self.ws.usergroup_teams.get(group, self.ws.home) == team and self.ws.visible(team)]
        return {"usergroups": groups}

    @web_api("auth.teams.list")
    def auth_teams_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """The workspaces the token may act in: an org-wide token's, each of its organisation's it is added to (one
        page: every list here fits in one). As Slack, a `limit` that is not 1 to 1000 is `invalid_limit`, and a
        `cursor` no page gave is `invalid_cursor`."""
        limit = str(args.get("limit") or "100")
        if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= 1000:
            raise ApiError("invalid_limit")
        if args.get("cursor"):
            raise ApiError("invalid_cursor")
        grant = CALLING.get()
        teams = sorted(self.ws.teams_of(grant)) if grant is not None else [self.ws.home]
        return {"teams": [{"id": team, "name": self.ws.team_info(team).name} for team in teams]}
