"""`/agent ...`: every form acks at once (well inside Slack's 3 s), before any model call."""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import RedisError
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError

from agents.teams import DEFAULT_PRESET, preset_descriptions
from bot.blocks import audit_text, config_text, help_text, people_refs, show_setting, status_text
from bot.commands import AuditLog, Cancel, Help, Invalid, SetConfig, ShowConfig, Start, Status, parse_command
from bot.directory import Directory
from bot.listeners.actions import STORAGE_DOWN
from bot.records import SLACK_ID, ChannelSettings
from bot.services import Services
from bot.settings import Settings


def register(app: AsyncApp, services: Services) -> None:
    async def handle_agent_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        try:
            reply = await answer_agent_command(services, command)
        except RedisError:
            reply = {"text": STORAGE_DOWN + " Nothing was started or changed."}
        await ack(**reply)

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
        return {"text": help_text(presets=preset_descriptions(services.runs.team_options))}
    if isinstance(parsed, Start):
        run = await services.runs.start_run(
            task=parsed.task, requester=user, channel=channel, preset=parsed.team or DEFAULT_PRESET, mode=parsed.mode
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
    current = await store.channel_settings(channel, default_timeout=services.settings.approval_timeout)
    if isinstance(parsed, ShowConfig):
        return {"text": config_text(channel, current, default_approvals_channel=services.settings.approvals_channel)}
    if isinstance(parsed, AuditLog):
        entries = await store.channel_audit(channel, limit=10)
        return {"text": audit_text(channel, entries)}
    if isinstance(parsed, SetConfig):
        return {"text": await change_setting(services, parsed, current, user=user, channel=channel)}
    raise AssertionError(parsed)  # pragma: no cover


def may_change_settings(user: str, current: ChannelSettings, settings: Settings) -> bool:
    """Admins of the channel (anyone until some are set), and ADMIN_USERS everywhere."""
    return user in settings.admin_users or not current.admins or user in current.admins


async def change_setting(
    services: Services, change: SetConfig, current: ChannelSettings, *, user: str, channel: str
) -> str:
    """Validate a setting against Slack and the other settings, then store it (audited)."""
    store = services.store
    if not may_change_settings(user, current, services.settings):
        admins = sorted(set(current.admins) | set(services.settings.admin_users))
        await store.audit("refused", origin_channel=channel, by=user, setting=change.key, reason="not an admin")
        return f"Only {people_refs(admins)} may change this channel's settings. Setting unchanged."
    problem = await setting_problem(services.directory, change, current)
    if problem is not None:
        return f"Cannot set `{change.key}`: {problem}. Setting unchanged."
    before = await store.set_channel_setting(channel, change.key, change.value, by=user)
    was = f" (was {show_setting(change.key, before)})" if before is not None else ""
    return f"`{change.key}` of this channel is now {show_setting(change.key, change.value)}{was}."


async def setting_problem(directory: Directory, change: SetConfig, current: ChannelSettings) -> str | None:
    ids = [] if change.value == "anyone" else change.value.split(",")
    try:
        if change.key in ("approvers", "admins"):
            for item in ids:
                found = await (
                    directory.problem_with_group(item) if item.startswith("S") else directory.problem_with_user(item)
                )
                if found:
                    return found
        if change.key == "approvers" and ids:
            people = await directory.count_people(ids)
            if current.required_approvals > people:
                return f"required_approvals is {current.required_approvals} but these approvers are {people}"
        if change.key == "required_approvals" and current.approvers:
            people = await directory.count_people(list(current.approvers))
            if int(change.value) > people:
                return f"only {people} approvers are named (see `approvers`)"
        if change.key == "approvals_channel":
            return await directory.problem_with_channel(change.value)
    except SlackApiError as exc:
        return f"Slack said {exc.response.get('error')}"
    return None
