"""`/agent config teams <link or id>`: what only the worker can check of a Teams route (issue 81), and what the reply
adds (for config_command.py; no `register`).

The setting's kind (bot/core/setting_kinds.py `TeamsTarget`) reads the link or id; here, with the worker's settings,
a route is refused when this worker serves no Teams (no TEAMS_APP_ID) or the link names another tenant than
TEAMS_TENANT_ID (refused and audited, naming who); and the reply says whether the bot is in that conversation yet
(`store.msteams.conversation`: kept when the app is added there) and how to add it."""

from __future__ import annotations

from bot.core.msteams_links import parse_teams_target
from bot.services import Services
from bot.slack.blocks import safe
from bot.slackapp.command_parser import as_typed
from bot.slackapp.commands import SetConfig

ADD_THE_APP = ("add the Agent Approvals app there in Teams (the channel's *…* → *Manage channel* → *Apps*, or the"
               " chat's *+* → *Add an app*), then the cards go there")


async def teams_refusal(services: Services, change: SetConfig, *, user: str, channel: str) -> str | None:
    """Why this worker refuses the Teams route `change` sets (audited), or None."""
    if change.key != "teams" or change.value == "off":
        return None
    settings = services.settings
    if not settings.teams_app_id:
        return "this bot serves no Microsoft Teams (TEAMS_APP_ID is not set on its workers)"
    typed = as_typed(change.words[0]) if change.words else change.value
    try:
        parse_teams_target(typed, tenant_id=settings.teams_tenant_id)
    except ValueError as exc:
        await services.store.audit.append("refused", origin_channel=channel, by=user, setting="teams",
                                          value=change.value, reason="another tenant")
        return str(exc)
    return None


async def teams_note(services: Services, change: SetConfig) -> str:
    """The reply's line on a Teams route just set: whether the bot is in that conversation yet, and how to add it."""
    if change.key != "teams" or change.value == "off":
        return ""
    kept = await services.store.msteams.conversation(change.value)
    if kept is None:
        return f"\nThe bot is not in that Teams conversation yet: {ADD_THE_APP}."
    what = {"channel": "channel", "groupChat": "chat", "personal": "personal chat"}[kept.kind]
    named = f" *{safe(kept.name, 80)}*" if kept.name else ""
    return f"\nThe bot is in that Teams {what}{named}: this channel's cards go there from now on."
