"""`python -m bot dev --teams`: the local Teams of dev mode (bot/dev/stack.py builds it, this package alone does it).

It starts the stand-in (on loopback, its own thread) with its page (`/teams`), adds the local Slack's people as
members of the home tenant with the same emails (so each is one person on both surfaces: the worker maps a Teams
member to the Slack user of the same email), makes a channel *Approvals* of them, and writes the worker's Teams file
(`TEAMS_FILE`, JSON, which is YAML) routing the local Slack's channels there. Once the worker listens, `install` adds
the app to the channel as a person does (the signed `conversationUpdate` and `installationUpdate`), so the worker
keeps the conversation's reference and posts cards there."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from bot.devmsteams.page import PAGE_PATH, TeamsPage
from bot.devmsteams.server import TeamsStandIn

CHANNEL_NAME: Final = "Approvals"
TEAMS_FILE_NAME: Final = "teams.json"


class LocalTeamsError(RuntimeError):
    """The local Teams could not be set up (said as dev mode's error)."""


class LocalTeams:
    """The local Teams of dev mode: `start` (before the worker), `install` (once it listens), `stop`."""

    def __init__(self, people: Sequence[tuple[str, str]], routed: Sequence[str]) -> None:
        """`people`: (name, email) of the local Slack's people; `routed`: the Slack channel ids whose cards go to
        the Teams channel too."""
        self.people = list(people)
        self.routed = list(routed)
        self.standin = TeamsStandIn(host="127.0.0.1")
        TeamsPage(self.standin).add_routes(self.standin.app)
        self.channel = ""  # the Teams channel's conversation id, once started
        self.members: dict[str, str] = {}  # email -> the member's 29: user id
        self._started = False

    @property
    def page_url(self) -> str:
        return self.standin.url + PAGE_PATH

    def start(self, folder: Path) -> Mapping[str, str]:
        """Serve, add the people and the channel, write the Teams file into `folder`; returns the worker's TEAMS_*
        variables."""
        if importlib.util.find_spec("microsoft_teams") is None:
            raise LocalTeamsError("--teams needs Microsoft's Teams SDK: pip install 'slack-agent-approvals[teams]'")
        self.standin.start()
        self._started = True
        for name, email in self.people:
            self.members[email] = self.standin.add_member(name=name, email=email)
        self.channel = self.standin.add_conversation("channel", CHANNEL_NAME, list(self.members.values()))
        teams_file = folder / TEAMS_FILE_NAME
        routes = {channel: {"conversation": self.channel} for channel in self.routed}
        teams_file.write_text(json.dumps({"routes": routes}, indent=2) + "\n")
        return {
            "TEAMS_APP_ID": self.standin.app_id,
            "TEAMS_TENANT_ID": self.standin.tenant_id,
            "TEAMS_CONNECTOR_URL": self.standin.url,
            "TEAMS_APP_PASSWORD": self.standin.app_password,
            "TEAMS_FILE": str(teams_file),
        }

    async def install(self, messaging_url: str) -> None:
        """Add the app to the channel, delivering to the worker at `messaging_url` (its `/teams/messages`)."""
        self.standin.messaging_url = messaging_url
        status = await self.standin.install(self.channel)
        if status != 200:
            raise LocalTeamsError(f"the worker refused the app's install in the local Teams channel (HTTP {status})")

    def stop(self) -> None:
        if self._started:
            self._started = False
            self.standin.stop()
