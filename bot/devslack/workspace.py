"""The workspace state every part of the stand-in shares: configuration, people and channels, what was posted,
opened and called, the change counter waiters wake on, id and timestamp makers, and lookups of users and channels."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Required, TypedDict, Unpack

from aiohttp import web

from bot.devslack.model import (
    ApiError,
    DevChannel,
    DevTeam,
    DevUser,
    Ephemeral,
    Fault,
    Grant,
    HeldCall,
    Message,
    OAuthCode,
    RateLimit,
    RecordedCall,
    ResponseUrl,
    Trigger,
    Upload,
    View,
    copied,
    default_channels,
    default_team,
    default_usergroups,
    default_users,
)

CALLING: contextvars.ContextVar[Grant | None] = contextvars.ContextVar("devslack_calling", default=None)
"""The token of the Web API call being answered (None outside one: the stand-in's own lookups see everything)."""


class WorkspaceOptions(TypedDict, total=False):
    """What a stand-in is made with (`SlackStandIn(**options)`, which makes its `Workspace(**options)`): the app's
    signing secret and bot token, its Socket Mode token (None: none), where it delivers (None: nowhere yet), its users,
    channels and user groups (None: the defaults of bot/devslack/model.py) and how long a trigger_id opens a view
    (3 s)."""

    signing_secret: Required[str]
    bot_token: Required[str]
    app_token: str | None
    events_url: str | None
    users: Sequence[DevUser] | None
    channels: Sequence[DevChannel] | None
    usergroups: Mapping[str, Sequence[str]] | None
    trigger_ttl: float


class Workspace:
    """The shared state, with the lookups and id makers every part needs; the parts (messages, views, files, Web
    API, delivery, people, control) hold the behaviour and read and change this state."""

    def __init__(self, **options: Unpack[WorkspaceOptions]) -> None:
        if unknown := options.keys() - WorkspaceOptions.__annotations__.keys():  # a misspelt option is no default
            raise TypeError(f"a Slack stand-in has no option {', '.join(sorted(unknown))}")
        self.signing_secret = options["signing_secret"]
        self.bot_token = options["bot_token"]
        self.app_token = options.get("app_token")  # Socket Mode: `apps.connections.open` takes this token
        self.events_url = options.get("events_url")
        self.trigger_ttl = options.get("trigger_ttl", 3.0)
        users, channels, groups = options.get("users"), options.get("channels"), options.get("usergroups")
        self.users: dict[str, DevUser] = {u.id: u for u in (default_users() if users is None else users)}
        self.channels: dict[str, DevChannel] = {c.id: c for c in (default_channels() if channels is None else channels)}
        groups = default_usergroups() if groups is None else groups
        self.usergroups: dict[str, list[str]] = {k: list(v) for k, v in groups.items()}
        self.usergroup_teams: dict[str, str] = {}  # group id -> its workspace (absent: the default one)
        home = default_team()
        self.home = home.id
        self.teams: dict[str, DevTeam] = {home.id: home}
        self.grants: dict[str, Grant] = {}  # token -> grant, besides `bot_token` (the default workspace's)
        self.refresh_tokens: dict[str, Grant] = {}  # refresh token -> the grant it renews
        self.codes: dict[str, OAuthCode] = {}
        self.client_id = "0DEV.client"  # the app's OAuth credentials (oauth.v2.access, apps.uninstall)
        self.client_secret = "dev-client-secret"
        self.redirect_url: str | None = None  # the app's configured Redirect URL (absent: the request's)
        self.token_rotation = False  # tokens from oauth.v2.access expire, with a refresh token
        self.token_lifetime = 12 * 3600.0  # seconds a rotating token lives (Slack's: 12 hours)
        self.revoked: set[str] = set()  # `bot_token` once the app is uninstalled from the default workspace
        self.withheld: set[str] = set()  # Grid workspaces an org-wide install is not added to (an admin's choice)
        self.base_url_or_none: str | None = None
        self.teams_url = ""  # the local Teams' page (`python -m bot dev --teams`), shown in a pane; "" when none
        self.mail_view: Callable[[], dict[str, Any]] | None = None  # the inboxes (`dev --email`), the "Mail" pane
        self.phone_view: Callable[[], dict[str, Any]] | None = None  # the pushes (`dev --push`), the "Phone" pane
        self.version = 0
        self.instance = secrets.token_hex(6)  # lets the page notice a restarted stand-in (versions restart at 0)
        self.closing = False
        self._changed: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._ids = itertools.count(1)
        self._last_ts_us = 0
        self.clear()

    def clear(self) -> None:
        """Forget messages, views, calls, faults, triggers and uploads (users, channels and events_url stay)."""
        self.calls: list[RecordedCall] = []
        self.messages: dict[str, list[Message]] = {}
        self.ephemerals: list[Ephemeral] = []
        self.triggers: dict[str, Trigger] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.views: dict[str, View] = {}  # modals, open or closed
        self.stacks: dict[str, list[str]] = {}  # user id -> ids of the user's open modals, bottom first
        self.homes: dict[str, View] = {}  # user id -> the App Home view published for them
        self.uploads: dict[str, Upload] = {}
        self.faults: dict[tuple[str, str], list[Fault]] = {}  # (team, method) -> failures to answer with
        self.limits: dict[tuple[str, str], RateLimit] = {}  # (team, method) -> its rate limit (``SlackStandIn.limit``)
        self.holds: list[HeldCall] = []
        self.dms: dict[str, str] = {}  # DM channel id -> user id

    # ------------------------------------------------------------------------------------------- changes and calls

    def touch(self) -> None:
        """Something changed: bump the version and wake whoever waits for a change."""
        self.version += 1
        if self._changed is not None:
            self._changed[1].set()
            self._changed = None

    def change_event(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        """An event set at the next :meth:`touch` (one per event loop: tests run each in its own)."""
        if self._changed is None or self._changed[0] is not loop:
            self._changed = (loop, asyncio.Event())
        return self._changed[1]

    def record(self, method: str, args: dict[str, Any], *, ok: bool, team: str | None = None) -> None:
        call = RecordedCall(method=method, args=copied(args), at=time.time(), ok=ok, team=team)
        self.calls.append(call)
        self.touch()

    def take_fault(self, method: str, team: str | None = None) -> Fault | None:
        """The failure injected for the next call of method in team (``SlackStandIn.fail``), if any; counts it
        used."""
        queue = self.faults.get((team or self.home, method))
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault

    # ------------------------------------------------------------------------------------------- addresses

    @property
    def base_url(self) -> str:
        if self.base_url_or_none is None:
            raise RuntimeError("SlackStandIn is not serving: call start() (or serve web_app() and make a request)")
        return self.base_url_or_none

    def remember_base(self, request: web.Request) -> None:
        """Served by someone else's runner (``web_app()``): learn the base URL from the first request."""
        if self.base_url_or_none is None:
            self.base_url_or_none = f"{request.scheme}://{request.host}"

    # ------------------------------------------------------------------------------------------- ids

    def next_ts(self) -> str:
        """A message timestamp: the current time in microseconds, strictly increasing."""
        now_us = time.time_ns() // 1000
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}0DEV{next(self._ids):06d}{secrets.token_hex(2).upper()}"

    @staticmethod
    def new_hash() -> str:
        return f"{time.time():.6f}.{secrets.token_hex(4)}"

    def issue_trigger(self, user: str) -> str:
        n = next(self._ids)
        trigger_id = f"{n}.{int(time.time())}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = Trigger(id=trigger_id, user=user, issued=time.monotonic())
        return trigger_id

    def issue_response_url(
        self,
        *,
        user: str,
        channel: str,
        source_ts: str | None = None,
        source_ephemeral: bool = False,
        thread_ts: str | None = None,
    ) -> str:
        rid = secrets.token_urlsafe(18)
        self.response_urls[rid] = ResponseUrl(
            id=rid,
            user=user,
            channel=channel,
            issued=time.monotonic(),
            source_ts=source_ts,
            source_ephemeral=source_ephemeral,
            thread_ts=thread_ts,
        )
        return f"{self.base_url}/_response/{rid}"

    # ------------------------------------------------------------------------------------------- workspaces

    def grant_of(self, token: str) -> Grant | None:
        """The grant of a bot token (the default workspace's `bot_token` included), None for a token never issued."""
        if token == self.bot_token:
            return Grant(token=token, team=self.home, revoked=token in self.revoked)
        return self.grants.get(token)

    def teams_of(self, grant: Grant) -> set[str]:
        """The workspaces a token is valid in: its own, or every workspace of its organisation."""
        if grant.team is not None:
            return {grant.team}
        return {t.id for t in self.teams.values() if t.enterprise_id == grant.enterprise and t.id not in self.withheld}

    def installed(self, team: str) -> Grant | None:
        """The live grant the app holds in team (its own, or its organisation's), if it is installed there."""
        if team == self.home and self.bot_token and self.bot_token not in self.revoked:
            return Grant(token=self.bot_token, team=team)
        for grant in self.grants.values():
            if not grant.revoked and team in self.teams_of(grant):
                return grant
        return None

    def visible(self, team: str) -> bool:
        """Whether the call being answered may see what belongs to team: always outside a call and for a team the
        stand-in does not serve (a Slack Connect partner's people); else only the token's own workspaces."""
        grant = CALLING.get()
        return grant is None or team not in self.teams or team in self.teams_of(grant)

    def team_of_channel(self, cid: str) -> str:
        """The workspace a conversation belongs to (a DM: its person's)."""
        if cid in self.dms:
            user = self.users.get(self.dms[cid])
            return user.team_id if user is not None and user.team_id in self.teams else self.home
        ch = self.channels.get(cid)
        return ch.team_id if ch is not None else self.home

    def team_info(self, team: str) -> DevTeam:
        return self.teams.get(team) or self.teams[self.home]

    def acting_team(self, user: DevUser, cid: str | None = None) -> str:
        """The workspace a person acts in: the channel's (a Grid person may act in another workspace of their
        organisation), else their own; a Slack Connect partner acts in the channel's, or the default one."""
        if cid is not None:
            return self.team_of_channel(cid)
        return user.team_id if user.team_id in self.teams else self.home

    def context(self, team: str) -> dict[str, Any]:
        """What payloads say of the workspace a person acts in: ``team_id``, ``team_domain``, ``enterprise_id``
        and ``is_enterprise_install`` (the app installed org-wide there). ValueError when the app is not installed
        in it: Slack would send nothing."""
        grant = self.installed(team)
        if grant is None:
            raise ValueError(f"the app is not installed in workspace {team}")
        info = self.team_info(team)
        return {
            "team_id": info.id,
            "team_domain": info.domain,
            "enterprise_id": info.enterprise_id,
            "enterprise_name": info.enterprise_name,
            "is_enterprise_install": grant.team is None,
        }

    # ------------------------------------------------------------------------------------------- lookups

    def channel_id_or_none(self, ref: str, *, allow_names: bool = True) -> str | None:
        """Channel id for an id, ``#name`` / ``name`` (public channels only), or a user id (its DM)."""
        if (ref in self.channels or ref in self.dms) and self.visible(self.team_of_channel(ref)):
            return ref
        if allow_names:
            name = ref[1:] if ref.startswith("#") else ref
            for ch in self.channels.values():
                if ch.name == name and not ch.is_private and self.visible(ch.team_id):
                    return ch.id
        if ref in self.users and self.visible(self.users[ref].team_id):
            return self.dm_of(ref)
        if ref.startswith("D"):
            owner = next((uid for uid in self.users if self.dm_id(uid) == ref), None)
            if owner is not None and self.visible(self.users[owner].team_id):
                return self.dm_of(owner)
        return None

    @staticmethod
    def dm_id(user: str) -> str:
        """The id of the DM between the bot and user (the same every time): ``U0ALICE`` -> ``D0ALICE``."""
        return "D" + user[1:]

    def dm_of(self, user: str) -> str:
        """The DM between the bot and user (a known user), opened if it was not yet."""
        dm = self.dm_id(user)
        self.dms[dm] = user
        return dm

    def can_see(self, cid: str, user: str) -> bool:
        """Whether user is in conversation cid: every channel (the dev workspace has no memberships); a DM only its
        own person (the bot's DMs with others are not theirs to read or click)."""
        return cid not in self.dms or self.dms[cid] == user

    def require_channel(self, ref: Any, *, allow_names: bool = True) -> str:
        """The channel id of a Web API argument, else Slack's ``channel_not_found``."""
        if not isinstance(ref, str) or not ref:
            raise ApiError("channel_not_found")
        cid = self.channel_id_or_none(ref, allow_names=allow_names)
        if cid is None:
            raise ApiError("channel_not_found")
        return cid

    def require_user(self, ref: Any) -> DevUser:
        """The user of a Web API argument, else Slack's ``user_not_found``."""
        if not isinstance(ref, str) or ref not in self.users or not self.visible(self.users[ref].team_id):
            raise ApiError("user_not_found")
        return self.users[ref]

    def user_or_error(self, user: str) -> DevUser:
        """The user a test names, else ValueError listing the known ones."""
        if user not in self.users:
            raise ValueError(f"unknown user {user!r}; known: {sorted(self.users)}")
        return self.users[user]

    def channel_or_error(self, channel: str) -> str:
        """The channel id a test names, else ValueError listing the known ones."""
        cid = self.channel_id_or_none(channel)
        if cid is None:
            raise ValueError(f"unknown channel {channel!r}; known: {sorted(self.channels)}")
        return cid

    def channel_name(self, cid: str) -> str:
        if cid in self.dms:
            return "directmessage"
        return self.channels[cid].name

    def find_message(self, cid: str, ts: Any) -> Message | None:
        for m in self.messages.get(cid, []):
            if m.ts == ts:
                return m
        return None

    @staticmethod
    def user_payload(user: DevUser) -> dict[str, Any]:
        """A user as interaction payloads show them."""
        return {"id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id}
