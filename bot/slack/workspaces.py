"""The workspaces the bot serves, and the one place that gives the Slack client for one of them.

`Workspaces.for_team(team, enterprise=None)` is that client (one per installation, with its own retries, so one
workspace's 429s, slept through in its own calls, never hold another's); `Workspaces.authorize` is Bolt's
`authorize` over every installation: today's SLACK_BOT_TOKEN (the home workspace, `Workspace`: one `auth.test`,
kept), the workspaces of SLACK_WORKSPACES_FILE, and those installed through Slack's OAuth (`/slack/install`, kept
by `bot.slack.installations.RedisInstallationStore`, their tokens rotated before they expire when Slack rotates
them). A request from a workspace none of them covers is refused (`foreign_request`), and an uninstall
(`uninstalled`) forgets the installation and tells the hooks (`on_uninstalled`).

Example:
    `client = await workspaces.for_team("T123")` (raises `NotInstalled` when the app is not installed there).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from pydantic import SecretStr
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.tasks import gather_few
from bot.core.workspace_files import StaticWorkspace
from bot.core.workspaces import WorkspaceRef
from bot.slack.installations import RedisInstallationStore, installation_id

log = logging.getLogger(__name__)

TOKEN_REFUSED = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                           "not_allowed_token_type", "no_permission", "missing_scope", "team_access_not_granted"})
# Slack's word that a token is gone for good (the app uninstalled, the token revoked): nothing retried with it mends it
TOKEN_GONE = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked"})


async def teams_added(client: AsyncWebClient) -> frozenset[str]:
    """The workspaces the token of `client` may act in, every page of Slack's `auth.teams.list`: for an org-wide
    install, those of its organisation an org admin added it to. Slack's and the transport's errors as they come."""
    teams: set[str] = set()
    cursor: str | None = None
    while True:
        page = await client.auth_teams_list(cursor=cursor, limit=1000)
        teams |= {str(t.get("id")) for t in page.get("teams") or [] if isinstance(t, dict)}
        cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "") or None
        if cursor is None:
            return frozenset(teams)


def refusal_of(error: BaseException) -> str | None:
    """Slack's error code when `error` says the bot token was refused (never the token), else None."""
    if isinstance(error, SlackApiError):
        code = str((error.response.data or {}).get("error", "")) if isinstance(error.response.data, dict) else ""
        return code if code in TOKEN_REFUSED else None
    return None


class Workspace:
    """One token's installation (SLACK_BOT_TOKEN's: the home workspace; or a SLACK_WORKSPACES_FILE entry's), as
    Slack's `auth.test` describes it. Asked once (at start-up, or by the first request that needs it; concurrent
    requests wait for that one call) and kept: it does not change while the token is valid. Bolt's `authorize`
    is built from it. `refused` says when Slack refused the token the last time it was asked (`/healthz` is then
    503 for the home workspace's)."""

    def __init__(self, slack: AsyncWebClient, *, bot_token: SecretStr) -> None:
        self._slack = slack
        self._bot_token = bot_token
        self._answer: dict[str, Any] | None = None
        self._result: AuthorizeResult | None = None
        self._asking = asyncio.Lock()
        self.refused: str | None = None  # Slack's error when it last refused the token (`invalid_auth`...), else None

    @property
    def client(self) -> AsyncWebClient:
        """The Slack client of this token."""
        return self._slack

    @property
    def known_answer(self) -> dict[str, Any] | None:
        """The `auth.test` answer when Slack gave it (never asks)."""
        return self._answer

    @property
    def known(self) -> bool:
        """Whether Slack has answered `auth.test` (the answer is kept)."""
        return self._answer is not None

    async def answer(self) -> dict[str, Any] | None:
        """The bot's `auth.test` answer; None while Slack cannot give it (the next call asks again)."""
        if self._answer is None:
            async with self._asking:
                if self._answer is None:
                    try:
                        response = await self._slack.auth_test()
                    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
                        self.refused = refusal_of(exc)
                        said = f"Slack refused the bot token: {self.refused}" if self.refused else type(exc).__name__
                        log.warning("auth.test failed (%s); asked again on the next request", said)
                        return None
                    self.refused = None
                    data = response.data if isinstance(response.data, dict) else {}
                    self._result = AuthorizeResult(
                        enterprise_id=data.get("enterprise_id"),
                        team_id=data.get("team_id"),
                        team=data.get("team"),
                        url=data.get("url"),
                        bot_id=data.get("bot_id"),
                        bot_user_id=data.get("user_id"),
                        bot_token=self._bot_token.get_secret_value(),
                        bot_scopes=response.headers.get("x-oauth-scopes"),
                    )  # no user_id: each request keeps its own user
                    self._answer = data
        return self._answer

    def uninstalled(self) -> None:
        """Slack said the app was uninstalled from this token's workspace: refused as a revoked token is, until
        Slack accepts the token again (`recheck`)."""
        self.refused = "token_revoked"

    async def recheck(self) -> None:
        """Ask Slack again whether it accepts the token (`auth.test`): `refused` follows its word (a token revoked
        after start-up: `/healthz` is then 503); the kept answer stays; Slack unreachable changes nothing."""
        if self._answer is None:
            await self.answer()
            return
        try:
            await self._slack.auth_test()
        except SlackApiError as exc:
            refused = refusal_of(exc)
            if refused is not None and refused != self.refused:
                log.warning("Slack now refuses the bot token of %s (%s)", self._answer.get("team_id"), refused)
            self.refused = refused or self.refused
            return
        except (aiohttp.ClientError, TimeoutError):
            return
        if self.refused is not None:
            log.info("Slack accepts the bot token of %s again", self._answer.get("team_id"))
        self.refused = None

    async def authorize(self, *, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        """Bolt's `authorize`: the bot's token and identity for a request from its workspace; None (Bolt
        refuses the request) for another workspace, or while `auth.test` cannot be answered."""
        ours = await self.answer()
        elsewhere = foreign(ours, enterprise_id=enterprise_id, team_id=team_id)
        if elsewhere is not None:
            log.warning("refused a request from another workspace (%s)", elsewhere)
            return None
        return self._result


def foreign(ours: dict[str, Any] | None, *, enterprise_id: str | None, team_id: str | None) -> str | None:
    """`foreign_team` for a request's organisation and team ids (None when it names none). An org-wide install
    judges a request by its organisation; one that names a team and no organisation is of a plain workspace, judged
    as itself (never one of the organisation's)."""
    if ours is None:
        return None
    if ours.get("is_enterprise_install") and ours.get("enterprise_id"):
        if not enterprise_id and team_id and team_id != ours.get("enterprise_id"):
            return f"team {str(team_id)[:40]!r} (no organisation), installed in organisation {ours['enterprise_id']!r}"
        theirs, mine, what = enterprise_id, ours.get("enterprise_id"), "organisation"
    else:
        theirs, mine, what = team_id, ours.get("team_id"), "team"
    if not theirs or not mine or theirs == mine:
        return None
    return f"{what} {str(theirs)[:40]!r}, installed in {mine!r}"


class NotInstalled(LookupError):
    """The app is not installed in that workspace, nor org-wide in its organisation."""

    def __init__(self, team: str | None, enterprise: str | None) -> None:
        where = f"workspace {team}" + (f" (organisation {enterprise})" if enterprise else "")
        super().__init__(f"the app is not installed in {where}")
        self.team, self.enterprise = team, enterprise


RECHECK_EACH = 32  # tokens besides home asked again each TOKEN_CHECK_INTERVAL (`Workspaces.recheck`), in turn
ADDED_SECONDS = 60.0  # how long Slack's list of the workspaces an org-wide install is added to is kept

UninstallHook = Callable[[WorkspaceRef], Awaitable[None]]
MakeClient = Callable[[str], AsyncWebClient]
AddedHook = Callable[[str, frozenset[str]], Awaitable[None]]


class Workspaces:
    """Every installation of the app, and a Slack client for each (see the module docstring)."""

    def __init__(
        self,
        home: Workspace,
        *,
        make_client: MakeClient,
        static: Sequence[StaticWorkspace] = (),
        installations: RedisInstallationStore | None = None,
        rotator: AsyncTokenRotator | None = None,
        rotation_minutes: int = 120,
    ) -> None:
        self.home = home
        self._make_client = make_client
        self._static: dict[str, Workspace] = {}
        self._rechecked = 0  # where `recheck` goes on from among the tokens besides home
        for entry in static:
            self._static[entry.key] = Workspace(make_client(entry.bot_token.get_secret_value()),
                                                bot_token=entry.bot_token)
        self._installations = installations
        self._rotator = rotator
        self._rotation_minutes = rotation_minutes
        self._clients: dict[str, AsyncWebClient] = {}
        self._rotating: dict[str, asyncio.Lock] = {}
        self._oauth_said: dict[str, str] = {}  # an OAuth installation's id -> Slack's word on its token at start-up
        self._added: dict[str, tuple[float, frozenset[str]]] = {}  # organisation -> (until, workspaces added to)
        self._ends: dict[tuple[str, str | None], float] = {}  # (team, organisation) -> when its token ends (epoch)
        self.on_uninstalled: list[UninstallHook] = []  # told of each uninstall (the worker withdraws its approvals)
        self.on_added: AddedHook | None = None  # told which workspaces an org-wide install is added to (kept in Redis)

    @property
    def installations(self) -> RedisInstallationStore | None:
        """The OAuth installations' store (None without SLACK_TOKENS_KEY)."""
        return self._installations

    @property
    def rotation_minutes(self) -> int:
        """A token is rotated when it ends within this many minutes."""
        return self._rotation_minutes

    # ------------------------------------------------------------------------------------------- lookups

    async def _is_home(self, *, enterprise_id: str | None, team_id: str | None) -> bool:
        ours = await self.home.answer()
        if ours is None:
            return not self._static and self._installations is None  # one workspace: Bolt refuses for now
        if not enterprise_id and not team_id:
            return True  # ssl_check, url_verification: nobody's
        if not team_id and enterprise_id != ours.get("enterprise_id"):
            return False  # another organisation's org-wide request
        return foreign(ours, enterprise_id=enterprise_id, team_id=team_id) is None

    def _static_of(self, *, enterprise_id: str | None, team_id: str | None) -> Workspace | None:
        """The file's installation for the workspace, None when none is listed or Slack said its token is gone (the
        app uninstalled there: not installed, until Slack accepts the token again)."""
        found = self._static.get(team_id or "") or self._static.get(enterprise_id or "")
        return None if found is not None and found.refused in TOKEN_GONE else found

    async def _bot(self, *, enterprise_id: str | None, team_id: str | None,
                   is_enterprise_install: bool | None = None) -> Bot | None:
        """The installation's bot (its token rotated first when it is about to expire), None when not installed."""
        if self._installations is None:
            return None
        bot = await self._installations.async_find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                                       is_enterprise_install=is_enterprise_install)
        if bot is None or self._rotator is None or bot.bot_token_expires_at is None:
            return bot
        key = installation_id(enterprise_id=bot.enterprise_id, team_id=bot.team_id,
                              is_enterprise_install=bot.is_enterprise_install)
        async with self._rotating.setdefault(key, asyncio.Lock()):
            fresh = await self._installations.async_find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                                             is_enterprise_install=is_enterprise_install)
            if fresh is None:
                return None
            try:
                rotated = await self._rotator.perform_bot_token_rotation(
                    bot=fresh, minutes_before_expiration=self._rotation_minutes)
            except SlackTokenRotationError as exc:
                log.warning("token rotation of installation %s failed (%s): its current token is used",
                            key, refusal_of(exc.api_error) or "error")
                return fresh
            if rotated is None:
                return fresh
            await self._installations.async_save_bot(rotated)
            log.info("installation %s: bot token rotated", key)
            return rotated

    async def authorize(self, *, enterprise_id: str | None, team_id: str | None,
                        is_enterprise_install: bool | None = None) -> AuthorizeResult | None:
        """Bolt's `authorize`: the token and bot identity of the installation that covers the request's workspace;
        None (Bolt refuses the request) where the app is not installed."""
        if await self._is_home(enterprise_id=enterprise_id, team_id=team_id):
            return await self.home.authorize(enterprise_id=enterprise_id, team_id=team_id)
        static = self._static_of(enterprise_id=enterprise_id, team_id=team_id)
        if static is not None:
            return await static.authorize(enterprise_id=enterprise_id, team_id=team_id)
        bot = await self._bot(enterprise_id=enterprise_id, team_id=team_id,
                              is_enterprise_install=is_enterprise_install)
        if bot is None:
            log.warning("refused a request from a workspace the app is not installed in (team %r, organisation %r)",
                        str(team_id)[:40], str(enterprise_id)[:40])
            return None
        return AuthorizeResult(
            enterprise_id=bot.enterprise_id, team_id=team_id or bot.team_id, team=bot.team_name,
            bot_id=bot.bot_id, bot_user_id=bot.bot_user_id, bot_token=bot.bot_token, bot_scopes=bot.bot_scopes,
        )

    async def for_team(self, team: str, enterprise: str | None = None) -> AsyncWebClient:
        """The Slack client for calls made in workspace `team` (of organisation `enterprise`): the home
        workspace's, a static one's, or the installation's (one client each, kept; its token follows rotation).
        `NotInstalled` when the app is installed neither there nor org-wide in its organisation."""
        if await self._is_home(enterprise_id=enterprise, team_id=team):
            return self.home.client
        static = self._static_of(enterprise_id=enterprise, team_id=team)
        if static is not None:
            return static.client
        bot = await self._bot(enterprise_id=enterprise, team_id=team)
        if bot is None:
            raise NotInstalled(team, enterprise)
        return self._client_of(bot)

    async def org_wide(self, team: str, enterprise: str | None = None) -> bool:
        """Whether the installation that serves workspace `team` (of organisation `enterprise`) is org-wide (its
        data is then the organisation's), or that workspace's own (a Grid workspace installed on its own: its
        data is the team's). `NotInstalled` as `for_team`."""
        if not enterprise:
            return False
        if await self._is_home(enterprise_id=enterprise, team_id=team):
            answer = await self.home.answer() or {}
            return bool(answer.get("is_enterprise_install"))
        if self._static_of(enterprise_id=enterprise, team_id=team) is not None:
            return team not in self._static  # an entry of the team: installed there alone
        bot = await self._bot(enterprise_id=enterprise, team_id=team)
        if bot is None:
            raise NotInstalled(team, enterprise)
        return bool(bot.is_enterprise_install)

    async def refreshed(self, team: str, enterprise: str | None = None) -> None:
        """Workspace `team`'s installation token rotated now when it ends within `rotation_minutes`, in the client
        its parts call Slack with (`for_team`), as Bolt's `authorize` does before a request's listeners: for calls no
        Slack request comes before (the Approvals API's). Cheap while the token is known to last: the installation is
        read again only then. `NotInstalled` as `for_team`."""
        ends = self._ends.get((team, enterprise))
        if ends is not None and ends - time.time() > self._rotation_minutes * 60:
            return
        if await self._is_home(enterprise_id=enterprise, team_id=team) or self._static_of(
                enterprise_id=enterprise, team_id=team) is not None:
            self._ends[(team, enterprise)] = float("inf")  # the operator's tokens: Slack does not rotate them
            return
        bot = await self._bot(enterprise_id=enterprise, team_id=team)
        if bot is None:
            raise NotInstalled(team, enterprise)
        self._client_of(bot)  # (its client takes the rotated token)
        self._ends[(team, enterprise)] = float(bot.bot_token_expires_at) if bot.bot_token_expires_at else float("inf")

    async def added(self, team: str, enterprise: str | None = None) -> bool:
        """Whether the app is added to workspace `team`: an org-wide install only to the workspaces of its
        organisation an org admin added it to (Slack's `auth.teams.list` with its token, kept `ADDED_SECONDS`), any
        other to its own. True while Slack cannot say (its refusal of a call there then says it). `NotInstalled`
        as `for_team`."""
        if not enterprise or team == enterprise or not await self.org_wide(team, enterprise):
            return True
        kept = self._added.get(enterprise)
        teams = kept[1] if kept is not None and kept[0] > time.monotonic() else await self._added_to(
            enterprise, await self.for_team(team, enterprise))
        return teams is None or team in teams

    async def _added_to(self, enterprise: str, client: AsyncWebClient) -> frozenset[str] | None:
        """The workspaces org-wide install `enterprise` (its token's `client`) is added to, asked of Slack now, kept
        here and told `on_added`; None when Slack cannot say."""
        try:
            teams = await teams_added(client)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("auth.teams.list of organisation %s failed (%s): its workspaces are not checked now",
                        enterprise, refusal_of(exc) or type(exc).__name__)
            return None
        self._added[enterprise] = (time.monotonic() + ADDED_SECONDS, teams)
        if self.on_added is not None:
            await self.on_added(enterprise, teams)
        return teams

    def _client_of(self, bot: Bot) -> AsyncWebClient:
        key = installation_id(enterprise_id=bot.enterprise_id, team_id=bot.team_id,
                              is_enterprise_install=bot.is_enterprise_install)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._make_client(bot.bot_token)
        client.token = bot.bot_token  # a rotated token replaces the old one in the same client
        return client

    async def foreign_request(self, *, enterprise_id: str | None, team_id: str | None) -> str | None:
        """Why a signed request comes from a workspace the app is not installed in, or None (see `foreign`)."""
        ours = await self.home.answer()
        reason = foreign(ours, enterprise_id=enterprise_id, team_id=team_id)
        if reason is None:
            return None
        if self._static_of(enterprise_id=enterprise_id, team_id=team_id) is not None:
            return None
        if await self._bot(enterprise_id=enterprise_id, team_id=team_id) is not None:
            return None
        return reason

    # ------------------------------------------------------------------------------------------- uninstalls

    async def uninstalled(self, *, enterprise_id: str | None, team_id: str | None,
                          is_enterprise_install: bool | None) -> WorkspaceRef | None:
        """Slack says the app was uninstalled (`app_uninstalled`, `tokens_revoked`): the installation is
        forgotten (a SLACK_WORKSPACES_FILE entry's: its token marked refused, so not installed until Slack accepts it
        again), its client dropped, and each `on_uninstalled` hook told. None when nothing was installed there (a
        second event of the same uninstall, or the home workspace, whose token is the operator's)."""
        key = installation_id(enterprise_id=enterprise_id, team_id=team_id,
                              is_enterprise_install=is_enterprise_install)
        static = self._static.get(key) if key else None
        if static is not None and static.refused not in TOKEN_GONE:  # a file's: not installed while Slack says so
            static.uninstalled()
        elif not key or self._installations is None or not await self._installations.delete(key):
            return None
        self._clients.pop(key, None)
        self._oauth_said.pop(key, None)
        # an org-wide install's uninstall is the whole organisation's (`WorkspaceRef.whole_organisation`)
        ref = (WorkspaceRef(team=key, enterprise=key) if key == enterprise_id
               else WorkspaceRef(team=team_id or key, enterprise=enterprise_id, org_wide=False))
        for hook in self.on_uninstalled:
            await hook(ref)
        return ref

    # ------------------------------------------------------------------------------------------- health

    async def listing(self) -> list[dict[str, Any]]:
        """Each installation without a secret: its id, where it comes from, and Slack's last word on its token
        (`ok`, `token refused (…)` or `not answered yet`)."""
        said = [self._said(self.home, source="SLACK_BOT_TOKEN")]
        said += [{**self._said(ws, source="SLACK_WORKSPACES_FILE"), "id": key} for key, ws in self._static.items()]
        if self._installations is not None:
            said += [{"id": key, "source": "oauth", "slack": self._oauth_said.get(key, "not answered yet")}
                     for key in await self._installations.ids()]
        return said

    @staticmethod
    def _said(ws: Workspace, *, source: str) -> dict[str, Any]:
        answer = ws.known_answer or {}
        slack = f"token refused ({ws.refused})" if ws.refused else "ok" if ws.known else "not answered yet"
        shown = answer.get("enterprise_id") if answer.get("is_enterprise_install") else answer.get("team_id")
        return {"id": shown or "", "name": answer.get("team") or "", "source": source, "slack": slack}

    @property
    def refused(self) -> list[str]:
        """The installations whose token Slack refused when last asked (their ids, the home's as "home")."""
        said = ["home"] if self.home.refused else []
        said += [key for key, ws in self._static.items() if ws.refused]
        return said + [key for key, word in self._oauth_said.items() if word.startswith("token refused")]

    async def ask_all(self) -> None:
        """Ask Slack about every token (at start-up), so /healthz can say which it refuses."""
        await gather_few([self.home.answer(), *(ws.answer() for ws in self._static.values())])
        if self._installations is not None:
            await gather_few(self._ask(key) for key in await self._installations.ids())

    async def recheck(self) -> None:
        """Ask Slack again (`TOKEN_CHECK_INTERVAL`) about the home token (/healthz says what Slack says of it now) and
        the next `RECHECK_EACH` of the others in turn (a worker's idle cost does not grow with its workspaces: with a
        thousand, each is asked again every ~30 intervals); and which workspaces each org-wide install is added to
        (`on_added`)."""
        oauth = sorted(await self._installations.ids()) if self._installations is not None else []
        others: list[Awaitable[None]] = []
        keys = [*sorted(self._static), *oauth]
        for turn in range(min(RECHECK_EACH, len(keys))):
            key = keys[(self._rechecked + turn) % len(keys)]
            static = self._static.get(key)
            others.append(static.recheck() if static is not None and key not in oauth else self._ask(key))
        self._rechecked = (self._rechecked + RECHECK_EACH) % max(1, len(keys))
        await gather_few([self.home.recheck(), *others])
        orgs = {key: ws.client for key, ws in self._static.items() if key.startswith("E")}
        home = self.home.known_answer or {}
        if home.get("is_enterprise_install") and home.get("enterprise_id"):
            orgs[str(home["enterprise_id"])] = self.home.client
        for key in (k for k in oauth if k.startswith("E") and k not in orgs):
            bot = await self._bot(enterprise_id=key, team_id=None, is_enterprise_install=True)
            if bot is not None:
                orgs[key] = self._client_of(bot)
        await asyncio.gather(*(self._added_to(org, client) for org, client in orgs.items()))

    async def _ask(self, key: str) -> None:
        """`auth.test` with an OAuth installation's token: Slack's word kept for /healthz."""
        org = key.startswith("E")
        try:
            bot = await self._bot(enterprise_id=key if org else None, team_id=None if org else key,
                                  is_enterprise_install=org)
            if bot is None:
                self._oauth_said.pop(key, None)
                return
            await self._client_of(bot).auth_test()
            self._oauth_said[key] = "ok"
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            refused = refusal_of(exc)
            self._oauth_said[key] = f"token refused ({refused})" if refused else "not answered yet"
