"""Dev mode's Slackbot keys: with `--workspaces` and SLACKBOT_MCP set, each other workspace of the local Slack (each
installation: `T0OTHER`, and the Grid organisation `E0GRID`) gets an API key of its own, bound to that workspace and
asking in its first channel, named in SLACKBOT_MCP's `"workspaces"` (`dev-agent-t0other`, `dev-agent-e0grid`), so
the dev page's Slackbot pane works for its people too. A workspace SLACKBOT_MCP already names keeps yours (and
dev makes no key for it). The home workspace's key is the one SLACKBOT_MCP's `"key"` names (`dev-agent`: dev's own)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import DevChannel, DevTeam
from bot.store import NewKey

if TYPE_CHECKING:
    from bot.services import Services  # (dev imports the worker's parts when it starts one)


@dataclass(frozen=True)
class SlackbotKey:
    """A key dev makes for one installation: its name, the channel its cards go to and its workspace."""

    installation: str
    name: str
    channel: str
    workspace: WorkspaceRef


def named_workspaces(config: str, installations: Iterable[str], *, prefix: str) -> tuple[str, dict[str, str]]:
    """SLACKBOT_MCP's JSON with a key named for each of `installations` it names none for (`<prefix>-<id>`), and
    those names by installation; unchanged when it is not a JSON object (the worker's settings say what is wrong)."""
    try:
        given = json.loads(config)
    except (ValueError, RecursionError):
        return config, {}
    if not isinstance(given, dict):
        return config, {}
    named = given.get("workspaces")
    named = dict(named) if isinstance(named, dict) else {}
    added = {one: f"{prefix}-{one.lower()}" for one in installations if one not in named}
    if not added:
        return config, {}
    return json.dumps({**given, "workspaces": {**named, **added}}), added


def keys_to_make(added: Mapping[str, str], *, teams: Iterable[DevTeam],
                 channels: Iterable[DevChannel]) -> list[SlackbotKey]:
    """Where each added key asks: the first channel of its installation's workspaces (an organisation's: any of
    them), with that workspace (and its organisation); an installation with no channel gets no key."""
    org_of = {team.id: team.enterprise_id for team in teams}
    found: list[SlackbotKey] = []
    for installation, name in added.items():
        channel = next((c for c in channels if installation in (c.team_id, org_of.get(c.team_id))), None)
        if channel is not None:
            ref = WorkspaceRef(channel.team_id, org_of.get(channel.team_id))
            found.append(SlackbotKey(installation, name, channel.id, ref))
    return found


async def make_slackbot_keys(services: Services, keys: Iterable[SlackbotKey]) -> list[str]:
    """Each key made as an operator would (`keys create NAME --channel C --team T [--enterprise E]`), unless it
    stands already for its workspace (dev data kept from an earlier run); what was made, as lines for dev's exports."""
    lines = []
    for key in keys:
        record = await services.store.api_keys.get(key.name)
        if record is None or record.team != key.workspace.team or not await services.store.api_keys.stands(record):
            made = await make_key(services, key)
            if isinstance(made, str):
                lines.append(f"# Slackbot in {key.installation}: no key ({made})")
                continue
        lines.append(f"# Slackbot in {key.installation}: key {key.name}, cards in {key.channel}")
    return lines


async def make_key(services: Services, key: SlackbotKey) -> NewKey | str:
    """`key` made (an earlier one of its name revoked first, as dev's own key is), or why not."""
    settings = services.settings
    made: NewKey | str = ""
    for _ in range(2):
        made = await services.api.create_key(key.name, key.channel, by="cli", workspace=key.workspace,
                                             max_pending=settings.api_key_max_pending,
                                             per_minute=settings.api_key_per_minute)
        if not isinstance(made, str):
            return made
        await services.api.revoke_key(key.name, by="cli")  # an earlier dev run's, on this Redis
    return made
