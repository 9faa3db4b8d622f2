"""Many workspaces installed at once (issue 78): the local Slack serves each (one person, one channel, the app
installed with its own token), and a worker is given them as a workspaces file (SLACK_WORKSPACES_FILE) or as OAuth
installations kept in Redis (its tokens sealed under SLACK_TOKENS_KEY, as the install flow keeps them)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from slack_sdk.oauth.installation_store import Installation

from bot.core.sealing import Sealer
from bot.devslack.model import DevChannel, DevTeam, DevUser
from bot.devslack.server import SlackStandIn
from bot.slack.installations import RedisInstallationStore
from bot.store import Store, connect


@dataclass(frozen=True)
class Installed:
    """One workspace the local Slack serves with the app installed: its team, the app's token, two people (one asks,
    the other decides) and a channel."""

    team: str
    token: str
    person: str
    channel: str
    approver: str


def serve_many(slack: SlackStandIn, count: int) -> list[Installed]:
    """`count` plain workspaces (T9W00000, T9W00001, ...), each with two people and a channel, the app installed in
    each with a token of its own."""
    found = []
    for n in range(count):
        team, token = f"T9W{n:05d}", f"xoxb-many-{n:05d}"
        slack.add_team(DevTeam(id=team, name=f"Workspace {n}", domain=f"workspace-{n}", bot_user_id=f"U9B{n:05d}",
                               bot_id=f"B9B{n:05d}"), token=token)
        person, approver, channel = f"U9P{n:05d}", f"U9Q{n:05d}", f"C9A{n:05d}"
        slack.set_user(DevUser(id=person, name=f"person{n}", real_name=f"Person {n}", team_id=team))
        slack.set_user(DevUser(id=approver, name=f"approver{n}", real_name=f"Approver {n}", team_id=team))
        slack.add_channel(DevChannel(id=channel, name=f"approvals-{n}", team_id=team))
        found.append(Installed(team=team, token=token, person=person, channel=channel, approver=approver))
    return found


def workspaces_file(path: Path, installed: list[Installed]) -> Path:
    """SLACK_WORKSPACES_FILE naming each workspace with its token."""
    path.write_text(json.dumps([{"team": i.team, "bot_token": i.token} for i in installed]))
    return path


async def install_all(redis_url: str, installed: list[Installed], *, tokens_key: str, prefix: str = "hitl") -> None:
    """Keep an OAuth installation of each workspace in Redis, as the install flow does (tokens sealed)."""
    store = Store(connect(redis_url), prefix=prefix)
    try:
        keeper = RedisInstallationStore(store.installations, sealer=Sealer.from_text(tokens_key))
        for i in installed:
            await keeper.async_save(Installation(
                app_id="A0DEVAPP", team_id=i.team, team_name=i.team, bot_token=i.token, bot_id=f"B{i.team[1:]}",
                bot_user_id=f"U{i.team[1:]}", bot_scopes=["chat:write", "commands"], user_id=i.person,
                installed_at=time.time()))
    finally:
        await store.close()
