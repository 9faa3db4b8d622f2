"""A sponsor checked with Slack before a key names them (`keys create --sponsor`, `keys sponsor`): the member must be
a person Slack knows, active and not a bot (`users.info`, through SLACK_BOT_TOKEN at SLACK_API_URL). Unknown,
deactivated or a bot: refused. When Slack cannot answer (no token, unreachable, an error of its own) the command
says so and names nobody, unless the operator passes `--no-check` (then the sponsor is named unchecked, and said so):
an accountable person the company cannot vouch for is not named by accident."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.settings import NamingSettings, reveal

CHECK_SECONDS = 10  # how long Slack is waited for
UNCHECKED = "pass --no-check to name them without asking Slack"


async def sponsor_refusal(person: str, settings: NamingSettings) -> str:
    """Why `person` (a member id) cannot sponsor a key, as Slack says; "" when Slack knows them as an active person."""
    token = reveal(settings.slack_bot_token)
    if not token:
        return f"cannot check {person} with Slack: SLACK_BOT_TOKEN is not set; {UNCHECKED}"
    slack = AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=CHECK_SECONDS)
    try:
        answer = await asyncio.wait_for(slack.users_info(user=person), timeout=CHECK_SECONDS)
    except SlackApiError as exc:
        error = str(exc.response.get("error", ""))
        if error == "user_not_found":
            return f"Slack knows no member {person} (users.info: user_not_found): check the member id"
        return f"cannot check {person} with Slack (users.info: {error or 'refused'}); {UNCHECKED}"
    except (TimeoutError, OSError, ValueError, aiohttp.ClientError) as exc:
        return f"cannot reach Slack at {settings.slack_api_url} to check {person} ({type(exc).__name__}); {UNCHECKED}"
    finally:
        session = getattr(slack, "session", None)
        if session is not None:
            await session.close()
    return refusal_of(person, answer.get("user") or {})


def refusal_of(person: str, user: Mapping[str, object]) -> str:
    """Why the member Slack described cannot sponsor a key; "" when they can."""
    if user.get("deleted"):
        return f"{person} is deactivated in Slack: a sponsor is a person who works here"
    if user.get("is_bot") or user.get("is_app_user"):
        return f"{person} is a bot in Slack: a sponsor is a person, accountable for the agent"
    return ""
