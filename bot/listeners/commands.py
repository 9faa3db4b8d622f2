"""`/agent ...`: every form acks at once (well inside Slack's 3 s), before any model call."""

from __future__ import annotations

import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from agents.teams import DEFAULT_PRESET, PRESETS
from bot.blocks import config_text, help_text, status_text
from bot.commands import Cancel, Help, Invalid, SetConfig, ShowConfig, Start, Status, parse_command
from bot.durations import format_duration
from bot.records import SLACK_ID
from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    async def handle_agent_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(**await answer_agent_command(services, command))

    app.command("/agent")(handle_agent_command)


async def answer_agent_command(services: Services, command: dict[str, Any]) -> dict[str, Any]:
    """The ephemeral reply to a `/agent` command, after doing what it asks."""
    user = str(command.get("user_id", ""))
    channel = str(command.get("channel_id", ""))
    if not SLACK_ID.match(user) or not SLACK_ID.match(channel):
        return {"text": "This command came without a valid user or channel; nothing was done."}
    parsed = parse_command(str(command.get("text", "")))
    store = services.store
    if isinstance(parsed, Invalid):
        return {"text": parsed.message}
    if isinstance(parsed, Help):
        return {"text": help_text(presets=list(PRESETS))}
    if isinstance(parsed, Start):
        run = await services.runs.start_run(
            task=parsed.task, requester=user, channel=channel, preset=parsed.team or DEFAULT_PRESET
        )
        if isinstance(run, str):
            return {"text": f"{run} Nothing started."}
        return {"text": f"Started run `{run.id}`. Progress and result will be in the thread of its message here."}
    if isinstance(parsed, Status):
        runs = await store.recent_runs(channel, limit=10)
        pending = [a for run in runs if not run.final for a in await store.run_approvals(run.id) if a.pending]
        return {"text": status_text(channel, runs, pending, now=time.time())}
    if isinstance(parsed, Cancel):
        return {"text": await services.runs.cancel_run(parsed.run_id, by=user)}
    default_timeout = services.settings.approval_timeout
    if isinstance(parsed, ShowConfig):
        return {"text": config_text(channel, await store.channel_settings(channel, default_timeout=default_timeout))}
    if isinstance(parsed, SetConfig):
        before = await store.set_channel_setting(channel, parsed.key, parsed.value, by=user)
        shown = format_duration(int(parsed.value)) if parsed.key == "timeout" else parsed.value
        was = ""
        if before is not None:
            was = f" (was {format_duration(int(before))})" if parsed.key == "timeout" else f" (was {before})"
        return {"text": f"`{parsed.key}` of this channel is now {shown}{was}. Runs started from now on use it."}
    raise AssertionError(parsed)  # pragma: no cover
