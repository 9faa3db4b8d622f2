"""A local stand-in for Slack: the Web API the bot calls, and signed delivery of interactions to the bot.

Development and test tool only; production code never imports this package. :class:`SlackStandIn` assembles it:
one :class:`~bot.devslack.workspace.Workspace` (the state) shared by small parts, each with one job, and the routes
that reach them:

* ``POST|GET /api/{method}`` (:mod:`.webapi`) answers the Web API methods the bot uses, with Slack's response shapes
  and errors: ``chat.*`` (:mod:`.messages`), ``views.*`` (:mod:`.views`), ``files.*`` (:mod:`.files`), checking
  Block Kit as Slack does (:mod:`.blockkit`).
* :meth:`SlackStandIn.send_command`, :meth:`~SlackStandIn.click`, :meth:`~SlackStandIn.click_view`,
  :meth:`~SlackStandIn.submit_view` and :meth:`~SlackStandIn.open_home` play the user (:mod:`.simulate`): they build
  the payloads (and ``app_home_opened`` events) Slack would send and deliver them to the bot's ``events_url``, signed
  with the signing secret exactly as Slack signs them, or over its Socket Mode connection (:mod:`.delivery`).
* ``/_response/{id}`` is the ``response_url``, ``/_upload/{id}`` the file upload URL, and the in-process helpers
  (:meth:`~SlackStandIn.messages`, :meth:`~SlackStandIn.calls`, :meth:`~SlackStandIn.wait_for`...) let tests look
  at what the bot did.
* ``/api/v1/*`` is the bot worker's Approvals API when :attr:`~SlackStandIn.api_upstream` is set (:mod:`.api_proxy`,
  forwarded): dev mode serves the page and the API on one port; ``/step-up/*``, the worker's passkey pages, too.
* ``/`` is a Slack-like web page (``static/``): channels, the app's Home and DM, people to switch between, messages
  with Block Kit, threads, modals. It long-polls ``/_control/state?since=<version>`` and acts through ``/_control/*``
  (:mod:`.control`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, Unpack, cast, overload

from aiohttp import web

from bot.devslack.api_proxy import API_PREFIX, PAGE_PREFIXES, ApiProxy
from bot.devslack.blockkit import validate_blocks, validate_view
from bot.devslack.control import Control
from bot.devslack.delivery import Delivery
from bot.devslack.files import Files
from bot.devslack.messages import Messages
from bot.devslack.model import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    GRID,
    GRID_A,
    GRID_TOKEN,
    OTHER_TEAM,
    OTHER_TOKEN,
    TEAM_ID,
    DeliveryResult,
    DevChannel,
    DevTeam,
    DevUser,
    Fault,
    Grant,
    HeldCall,
    RateLimit,
    RecordedCall,
    default_channels,
    default_usergroups,
    default_users,
    several_channels,
    several_teams,
    several_usergroups,
    several_users,
    web_api_methods,
)
from bot.devslack.oauth import OAuth
from bot.devslack.openid import OpenId
from bot.devslack.pages import LOOPBACK_NAMES
from bot.devslack.sessions import Sessions
from bot.devslack.simulate import People
from bot.devslack.slackbot import SlackbotClient
from bot.devslack.views import Views
from bot.devslack.webapi import WebApi
from bot.devslack.workspace import Workspace, WorkspaceOptions

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "DeliveryResult",
    "DevChannel",
    "DevTeam",
    "DevUser",
    "HeldCall",
    "RecordedCall",
    "SlackStandIn",
    "default_channels",
    "default_usergroups",
    "default_users",
    "validate_blocks",
    "validate_view",
]

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


def _by_people(method: Callable[Concatenate[People, P], R]) -> Callable[Concatenate[SlackStandIn, P], R]:
    """`method` of the people's side (`People`), played through the stand-in; its name and docstring are the
    method's."""

    @functools.wraps(method)
    def played(stand_in: SlackStandIn, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return method(stand_in._people, *args, **kwargs)

    return played


class _OfWorkspace(Generic[T]):
    """A setting of the stand-in's workspace (`Workspace`), read and set through the stand-in by its own name."""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, stand_in: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, stand_in: SlackStandIn, owner: type[Any]) -> T: ...
    def __get__(self, stand_in: SlackStandIn | None, owner: type[Any]) -> T | Self:
        return self if stand_in is None else cast(T, getattr(stand_in._ws, self._name))

    def __set__(self, stand_in: SlackStandIn, value: T) -> None:
        setattr(stand_in._ws, self._name, value)


class _ReadOfWorkspace(_OfWorkspace[T]):
    """A value of the stand-in's workspace, read through the stand-in by its own name; never set through it."""

    def __set__(self, stand_in: SlackStandIn, value: T) -> None:
        raise AttributeError(f"{self._name} of the stand-in is read only")


class SlackStandIn:
    """In-memory Slack workspace served over HTTP (see module docstring)."""

    def __init__(self, **options: Unpack[WorkspaceOptions]) -> None:
        ws = Workspace(**options)
        self._ws = ws
        self._messages = Messages(ws)
        self._views = Views(ws)
        self._files = Files(ws, self._messages)
        self._delivery = Delivery(ws)
        self._people = People(ws, self._messages, self._views, self._delivery)
        self._oauth = OAuth(ws, self._delivery)
        self._openid = OpenId(ws)
        self.sessions = Sessions(ws, self._messages, self._delivery)  # agent sessions, the Messages tab
        parts = (self._messages, self._views, self._files, self._delivery, self._oauth, self._openid, self.sessions)
        self._api = WebApi(ws, web_api_methods(*parts))
        self._control = Control(ws, self)
        self._slackbot = SlackbotClient(ws)  # the dev page's "Slackbot" pane (bot/devslack/slackbot.py)
        self._api_proxy = ApiProxy()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------------------------------- configuration

    signing_secret = _OfWorkspace[str]()
    bot_token = _OfWorkspace[str]()
    app_token = _OfWorkspace[str | None]()  # Socket Mode: `apps.connections.open` takes this token
    events_url = _OfWorkspace[str | None]()  # where commands and interactions go (unless over Socket Mode)
    trigger_ttl = _OfWorkspace[float]()  # seconds a trigger_id can open a view for
    teams_url = _OfWorkspace[str]()  # the local Teams' page the page's "Teams" pane shows (dev --teams); "" none
    # the inboxes the page's "Mail" pane shows (dev --email: the mail catcher's `view`); None: no pane
    mail_view = _OfWorkspace[Callable[[], dict[str, Any]] | None]()
    # the pushes the page's "Phone" pane shows (dev --push: the local push service's `view`); None: no pane
    phone_view = _OfWorkspace[Callable[[], dict[str, Any]] | None]()
    base_url = _ReadOfWorkspace[str]()  # where it is served (once started)
    client_id = _ReadOfWorkspace[str]()  # the app's OAuth credentials
    client_secret = _ReadOfWorkspace[str]()

    @property
    def api_upstream(self) -> str | None:
        """The bot worker whose Approvals API this server also answers at ``/api/v1/*`` (forwarded); None: 503."""
        return self._api_proxy.upstream

    @api_upstream.setter
    def api_upstream(self, value: str | None) -> None:
        self._api_proxy.upstream = value

    @property
    def _sockets(self) -> list[web.WebSocketResponse]:
        """The bot's open Socket Mode connections (tests wait for one)."""
        return self._delivery.sockets

    # ------------------------------------------------------------------------------------------- server lifecycle

    def web_app(self) -> web.Application:
        """A new aiohttp application serving the Web API, response URLs, uploads, the control API and the page."""
        control = self._control
        app = web.Application(middlewares=[control.same_origin])
        app.router.add_get("/", control.handle_page)
        app.router.add_get("/archives/{tail:.*}", control.handle_page)  # permalinks open the page
        app.router.add_get("/static/{name}", control.handle_static)
        app.router.add_get("/favicon.ico", control.handle_favicon)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._api_proxy.handle)  # before the Web API's
        for prefix in PAGE_PREFIXES:  # the worker's pages: passkeys, reveal, Sign in with Slack's return
            app.router.add_route("*", prefix + "/{tail:.*}", self._api_proxy.handle)
        app.router.add_route("*", "/api/{method}", self._api.handle_api)
        app.router.add_get("/oauth/v2/authorize", self._oauth.handle_authorize)
        app.router.add_post("/oauth/v2/authorize", self._oauth.handle_allow)
        app.router.add_get("/.well-known/openid-configuration", self._openid.handle_discovery)
        app.router.add_get("/openid/connect/keys", self._openid.handle_keys)
        app.router.add_get("/openid/connect/authorize", self._openid.handle_authorize)
        app.router.add_post("/openid/connect/authorize", self._openid.handle_allow)
        app.router.add_get("/_socket", self._delivery.handle_socket)
        app.router.add_post("/_response/{id}", self._messages.handle_response_url)
        app.router.add_post("/_upload/{id}", self._files.handle_upload)
        app.router.add_get("/_files/{id}", self._files.handle_download)
        app.router.add_post("/_control/command", control.handle_command)
        app.router.add_post("/_control/click", control.handle_click)
        app.router.add_post("/_control/click_view", control.handle_click_view)
        app.router.add_post("/_control/home", control.handle_home)
        app.router.add_post("/_control/submit_view", control.handle_submit_view)
        app.router.add_post("/_control/close_view", control.handle_close_view)
        app.router.add_post("/_control/message", control.handle_message)
        app.router.add_get("/_control/calls", control.handle_calls)
        app.router.add_get("/_control/state", control.handle_state)
        app.router.add_get("/_control/mail", control.handle_mail)
        app.router.add_get("/_control/phone", control.handle_phone)
        app.router.add_post("/_control/reset", control.handle_reset)
        app.router.add_post("/_control/fail", control.handle_fail)
        app.router.add_post("/_control/limit", control.handle_limit)
        app.router.add_post("/_control/usergroup", control.handle_usergroup)
        app.router.add_post("/_control/uninstall", control.handle_uninstall)
        app.router.add_post("/_control/revoke", control.handle_revoke)
        app.router.add_get("/_control/slackbot/tools", self._slackbot.handle_tools)
        app.router.add_post("/_control/slackbot/call", self._slackbot.handle_call)
        self.sessions.add_routes(app.router)
        return app

    async def start(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 = any free port); returns the base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._runner is not None:
            raise RuntimeError("SlackStandIn already started")
        self._ws.closing = False
        self._control.loopback_only = host in LOOPBACK_NAMES
        runner = web.AppRunner(self.web_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else str(bound_host)
        self._ws.base_url_or_none = f"http://{shown}:{bound_port}"
        return self._ws.base_url_or_none

    async def stop(self) -> None:
        self._ws.closing = True
        self._ws.touch()  # pending long polls of the page answer at once instead of holding the shutdown
        await self._delivery.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._api_proxy.close()

    @property
    def api_url(self) -> str:
        """Web API base URL (``SLACK_API_URL``); slack-sdk appends the method names."""
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------------------------------------- inspection helpers

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        """Every Web API call (and response_url use, as method ``response_url``), in order."""
        return [c for c in self._ws.calls if method is None or c.method == method]

    def call_count(self) -> int:
        """How many calls were recorded so far (the index of the next one, for `calls_since`)."""
        return len(self._ws.calls)

    def calls_since(self, start: int) -> list[RecordedCall]:
        """The calls recorded from the `start`-th on, in order (a poller's new ones, without copying the rest)."""
        return self._ws.calls[start:]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Current messages of the channel (top-level and thread replies, in ts order); ephemerals excluded."""
        return self._messages.listing(channel)

    def ephemerals(self, user: str | None = None) -> list[dict[str, Any]]:
        return self._messages.ephemeral_listing(user)

    def open_views(self, user: str | None = None) -> list[dict[str, Any]]:
        """Modals currently open, bottom of each user's stack first."""
        return self._views.listing(user)

    def dm_channel(self, user: str) -> str:
        """The id of the DM between the bot and ``user`` (what ``conversations.open`` answers): ``D…``."""
        return self._ws.dm_of(self._ws.user_or_error(user).id)

    def home_view(self, user: str) -> dict[str, Any] | None:
        """The App Home view last published for ``user`` with ``views.publish`` (Slack's view object), or None."""
        return self._views.home_of(user)

    def people(self) -> list[DevUser]:
        """The workspace's people."""
        return list(self._ws.users.values())

    def usergroups(self) -> dict[str, list[str]]:
        """The workspace's user groups: id -> member ids."""
        return {group: list(members) for group, members in self._ws.usergroups.items()}

    def set_usergroup(self, group_id: str, members: Sequence[str]) -> None:
        """Create a user group or replace its members (mention it in commands as @<id without "S0">)."""
        self._ws.usergroups[group_id] = list(members)
        self._ws.touch()

    def set_user(self, user: DevUser) -> None:
        """Add a person or replace what Slack says of them (deactivate them: `deleted=True`; a guest: `guest=True`)."""
        self._ws.users[user.id] = user
        self._ws.touch()

    def fail(
        self,
        *,
        method: str,
        status: int = 429,
        error: str = "ratelimited",
        count: int = 1,
        retry_after: int = 1,
        team: str | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` in workspace ``team`` (the default one without it) fail with
        HTTP ``status`` (429 adds ``Retry-After``)."""
        if count < 1:
            raise ValueError("count must be >= 1")
        if status >= 500 and error == "ratelimited":
            error = "internal_error"
        self._ws.faults.setdefault((team or self._ws.home, method), []).append(
            Fault(status=status, error=error, remaining=count, retry_after=retry_after)
        )

    def heal(self, method: str, *, team: str | None = None) -> None:
        """Slack answers ``method`` in workspace ``team`` again: the failures ``fail`` left for it forgotten."""
        self._ws.faults.pop((team or self._ws.home, method), None)

    def limit(self, method: str, calls: int | None, per: float = 60.0, *, team: str | None = None) -> None:
        """Limit ``method`` as Slack limits its tier, per workspace (``team``; the default one without it): at most
        ``calls`` answered calls in any ``per`` seconds, the next answered HTTP 429 ``ratelimited`` with
        ``Retry-After`` (e.g. ``limit("views.publish", 100, 60)``, Tier 4). ``calls`` None: no limit again."""
        key = (team or self._ws.home, method)
        if calls is None:
            self._ws.limits.pop(key, None)
            return
        if calls < 1 or per <= 0:
            raise ValueError("calls must be >= 1 and per > 0")
        self._ws.limits[key] = RateLimit(calls=calls, per=per)

    # ------------------------------------------------------------------------------------------- workspaces

    def add_team(self, team: DevTeam, *, token: str | None = None, org_token: str | None = None) -> None:
        """Serve one more workspace; ``token``: the app is installed there with it; ``org_token``: installed
        org-wide in its organisation with it (valid in every workspace of the organisation)."""
        self._ws.teams[team.id] = team
        if token is not None:
            self._ws.grants[token] = Grant(token=token, team=team.id, enterprise=team.enterprise_id)
        if org_token is not None:
            self._ws.grants[org_token] = Grant(token=org_token, team=None, enterprise=team.enterprise_id)
        self._ws.touch()

    def several_workspaces(self, *, installed: bool = True) -> dict[str, str]:
        """Serve, besides the default workspace, a second plain one (``T0OTHER``) and a Grid organisation
        (``E0GRID``) with two workspaces (``T0GRIDA``, ``T0GRIDB``), each with its people, channels and user groups
        (``model.several_*``). ``installed``: the app is installed in each (the organisation org-wide, one token);
        else only through the OAuth flow. Returns the bot tokens: installation (team or organisation) -> token."""
        tokens = {OTHER_TEAM: OTHER_TOKEN, GRID: GRID_TOKEN}
        for team in several_teams():
            token = tokens.get(team.id) if installed else None
            org = tokens[GRID] if installed and team.id == GRID_A else None
            self.add_team(team, token=token, org_token=org)
        for user in several_users():
            self._ws.users[user.id] = user
        for channel in several_channels():
            self._ws.channels[channel.id] = channel
        for group, (team_id, members) in several_usergroups().items():
            self._ws.usergroups[group] = list(members)
            self._ws.usergroup_teams[group] = team_id
        self._ws.touch()
        return tokens if installed else {}

    def add_channel(self, channel: DevChannel) -> None:
        """Serve one more channel (or replace one of the same id), e.g. one the bot is not in (`bot_member`)."""
        self._ws.channels[channel.id] = channel
        self._ws.touch()

    def teams(self) -> list[DevTeam]:
        """The workspaces served, the default one first."""
        return list(self._ws.teams.values())

    def installed(self, team: str) -> str | None:
        """The token the app holds in ``team`` (its own or its organisation's), None where it is not installed."""
        grant = self._ws.installed(team)
        return None if grant is None else grant.token

    def withhold(self, team: str, *, withheld: bool = True) -> None:
        """An org-wide install not added to ``team``, a workspace of its organisation (Grid admins choose which):
        the org token's calls there are refused with Slack's ``team_access_not_granted``, and nothing done there
        is sent to the bot (``withheld=False``: added again)."""
        if team not in self._ws.teams or self._ws.teams[team].enterprise_id is None:
            raise ValueError(f"{team!r} is not a workspace of a Grid organisation served here")
        (self._ws.withheld.add if withheld else self._ws.withheld.discard)(team)
        self._ws.touch()

    def revoke_token(self, *, revoked: bool = True) -> None:
        """Revoke the bot token (``bot_token``), as an admin does in the app's settings (``revoked=False``: accepted
        again): every Web API call with it is answered ``{"ok": false, "error": "token_revoked"}``, as Slack answers
        it; nothing is sent to the bot (an uninstall, `uninstall`, also sends its events)."""
        (self._ws.revoked.add if revoked else self._ws.revoked.discard)(self._ws.bot_token)
        self._ws.touch()

    def uninstall(self, installation: str) -> None:
        """Remove the app from a workspace (or, given an organisation's id, from the organisation), as a person
        does in Slack: its tokens stop working and the bot is sent ``tokens_revoked`` and ``app_uninstalled``."""
        self._oauth.uninstall(installation)

    # ------------------------------------------------------------------------------------------- OAuth

    def configure_oauth(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_url: str | None = None,
        token_rotation: bool | None = None,
        token_lifetime: float | None = None,
    ) -> None:
        """The app's OAuth settings as Slack holds them: credentials, its Redirect URL, whether tokens rotate
        (and how long one lives)."""
        ws = self._ws
        ws.client_id = client_id if client_id is not None else ws.client_id
        ws.client_secret = client_secret if client_secret is not None else ws.client_secret
        ws.redirect_url = redirect_url if redirect_url is not None else ws.redirect_url
        ws.token_rotation = token_rotation if token_rotation is not None else ws.token_rotation
        ws.token_lifetime = token_lifetime if token_lifetime is not None else ws.token_lifetime

    @property
    def authorize_url(self) -> str:
        """The authorize page (Bolt's ``authorization_url``)."""
        return f"{self.base_url}/oauth/v2/authorize"

    def oauth_code(self, team: str, *, org: bool = False) -> str:
        """A code as the authorize page gives it after Allow (for tests that skip the page)."""
        return self._oauth.issue_code(team=team, org=org)

    def openid_code(self, user: str, *, nonce: str, redirect_uri: str) -> str:
        """A Sign in with Slack code as the authorize page gives it after Continue (for tests that skip the page)."""
        return self._openid.issue_code(user, nonce=nonce, redirect_uri=redirect_uri)

    def hold(self, method: str, *, when: Callable[[dict[str, Any]], bool] | None = None) -> HeldCall:
        """Hold the next call of ``method`` whose arguments satisfy ``when`` (any, without it) until the test
        calls ``release()`` on the returned :class:`HeldCall`; ``await held.arrived.wait()`` waits for it to come
        in. Nothing of the call (e.g. the posted message) happens until it is released; later calls pass."""
        held = HeldCall(method=method, when=when)
        self._ws.holds.append(held)
        return held

    def reset(self) -> None:
        """Forget messages, views, calls, faults, triggers and uploads (users, channels and events_url stay)."""
        self._ws.clear()
        self._ws.touch()

    async def wait_for(
        self,
        predicate: Callable[[], T | bool | None],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline is what this helper is for
        description: str | None = None,
    ) -> T:
        """Poll ``predicate`` (every 5 ms, and at once on any state change) until it returns something truthy.

        Returns that value; raises TimeoutError with the predicate, its last value and the latest calls.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            version = self._ws.version
            result = predicate()
            if result:
                return cast(T, result)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._timeout_message(predicate, result, timeout, description))
            if self._ws.version == version:
                event = self._ws.change_event(loop)
                try:
                    async with asyncio.timeout(min(0.005, remaining)):
                        await event.wait()
                except TimeoutError:
                    pass

    def _timeout_message(
        self, predicate: Callable[[], object], last: object, timeout: float, description: str | None
    ) -> str:
        what = description
        if what is None:
            try:
                what = inspect.getsource(predicate).strip()
            except (OSError, TypeError):
                what = getattr(predicate, "__qualname__", repr(predicate))
        recent = ", ".join(f"{c.method}({'ok' if c.ok else 'failed'})" for c in self._ws.calls[-8:]) or "none"
        return f"condition not met within {timeout}s: {what}; last value {last!r}; latest calls: {recent}"

    # ------------------------------------------------------------------------------------------- playing the users

    def sign(
        self, body: bytes, *, timestamp: int | None = None, content_type: str = "application/x-www-form-urlencoded"
    ) -> dict[str, str]:
        """Headers Slack would send with ``body``: timestamp, ``v0=`` HMAC-SHA256 signature and content type
        (``application/json`` for Events API callbacks)."""
        return self._delivery.sign(body, timestamp=timestamp, content_type=content_type)

    # the people's side (`People`, bot/devslack/simulate.py): each played through the stand-in, documented there
    escape_command_text = _by_people(People.escape_command_text)
    send_command = _by_people(People.send_command)
    click = _by_people(People.click)
    click_view = _by_people(People.click_view)
    submit_view = _by_people(People.submit_view)
    open_home = _by_people(People.open_home)
    deactivate = _by_people(People.deactivate)
    close_view = _by_people(People.close_view)
    post_user_message = _by_people(People.post_user_message)
