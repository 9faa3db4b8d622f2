"""Whether a workspace named for a new API key (`python -m bot keys create --team T… [--enterprise E…]`) is served
(#87): a key of a workspace no installation serves would be refused at its every ask, so it is not made.

A workspace is served by an installation of its own (kept in Redis, or the home one), or by an org-wide install of its
Grid organisation that an org admin added to it. Which workspaces an org-wide install is added to is what a worker
last recorded (`{prefix}:workspaces:added`), else Slack's `auth.teams.list`, asked here with the install's token
(opened with SLACK_TOKENS_KEY, the workers' own) and recorded as a worker records it. Without an org-wide install in
Redis nothing is asked: a workspace of SLACK_WORKSPACES_FILE is not known here (the workers' record is checked by
`bot.api.keys.create_key`)."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.records import ENTERPRISE_ID, TEAM_ID
from bot.core.sealing import Sealer
from bot.core.workspaces import WorkspaceRef
from bot.slack.installations import RedisInstallationStore
from bot.slack.workspaces import teams_added
from bot.store import Store

ADD_IT = "an org admin adds the app to it in the organisation's app settings; then make the key"


async def unserved(store: Store, workspace: WorkspaceRef, *, tokens_key: str | None, api_url: str) -> str | None:
    """Why no key is made for `workspace` (the words to use instead, or what to do), None when it is served or
    nothing says otherwise (no org-wide install in Redis)."""
    team, enterprise = workspace.team, workspace.enterprise
    if not TEAM_ID.fullmatch(team) or not ENTERPRISE_ID.fullmatch(enterprise or "E00"):
        return None  # not a workspace: `create_key` says so
    home = await store.tenants.home()
    if await store.installations.find(team) is not None or (home is not None and home.team == team):
        return None  # its own installation (the home one with `--team` alone: `create_key` checks it)
    orgs = [i for i in await store.installations.ids() if i.startswith("E") and enterprise in (None, i)]
    for org in orgs:
        added = await store.tenants.added_to(org) or await _asked(store, org, tokens_key=tokens_key, api_url=api_url)
        if isinstance(added, str):
            return added
        if team in added:
            return None if enterprise else (
                f"workspace {team} is of the Enterprise Grid organisation {org}, where the app is installed org-wide:"
                f" name it too (--team {team} --enterprise {org})")
    if not orgs:
        return None
    if enterprise:
        return (f"the app is approved for the Enterprise Grid organisation {enterprise} but not added to workspace"
                f" {team} (Slack's auth.teams.list): {ADD_IT}")
    return (f"workspace {team} is not served: the app has no installation of its own there, and the org-wide install"
            f" of {', '.join(orgs)} is not added to it (Slack's auth.teams.list). If it is a workspace of {orgs[0]},"
            f" {ADD_IT} with --team {team} --enterprise {orgs[0]}")


async def _asked(store: Store, org: str, *, tokens_key: str | None, api_url: str) -> frozenset[str] | str:
    """The workspaces org-wide install `org` is added to, as Slack says now (recorded as a worker records it), or
    why they cannot be asked (a message)."""
    if not tokens_key:
        return (f"no worker has recorded which workspaces the org-wide install of {org} is added to, and"
                " SLACK_TOKENS_KEY (the workers' own: it opens the install's token to ask Slack) is not set here: set"
                " it, or start a worker first")
    try:
        sealer = Sealer.from_text(tokens_key)
    except ValueError as exc:
        return f"SLACK_TOKENS_KEY {exc}"
    bot = await RedisInstallationStore(store.installations, sealer=sealer).async_find_bot(
        enterprise_id=org, team_id=None, is_enterprise_install=True)
    if bot is None or not bot.bot_token:
        return f"the org-wide install of {org} does not open with this SLACK_TOKENS_KEY: give the workers' own"
    try:
        teams = await teams_added(AsyncWebClient(token=bot.bot_token, base_url=api_url))
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
        said = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
        return (f"Slack did not say which workspaces the org-wide install of {org} is added to (auth.teams.list:"
                f" {said}); try again")
    await store.tenants.note_added(org, teams)
    return teams
