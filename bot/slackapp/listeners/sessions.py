"""Runs as Slack agent sessions: Slack's Stop button (`agent_session_stopped`) and a message to the bot in its
Messages tab (`message.im`), which starts a run as `/agent <task>` does, in that direct message."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals.rights import may_cancel
from bot.core.records import ENTERPRISE_ID, SLACK_ID, TEAM_ID
from bot.core.workspaces import WorkspaceRef
from bot.runs.teams import DEFAULT_PRESET
from bot.services import Services
from bot.slackapp.context import parts_of

log = logging.getLogger(__name__)

TASK_LIMIT = 3000  # a task typed in the Messages tab, as long as a slash command's text may be


def register(app: AsyncApp) -> None:
    async def handle_session_stopped(event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
        services = parts_of(context)
        await stop_session(services, event, client)

    async def handle_message(
        body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        services = parts_of(context)
        await start_from_message(services, body, event, client)

    app.event("agent_session_stopped")(handle_session_stopped)
    app.event("message")(handle_message)


async def stop_session(services: Services, event: dict[str, Any], client: AsyncWebClient) -> None:
    """Stop a run's session: only by who may cancel the run (else refused, audited and told); once."""
    channel, thread_ts, user = (str(event.get(k) or "") for k in ("channel", "thread_ts", "user"))
    if not (channel and thread_ts and SLACK_ID.fullmatch(user)):
        return
    run = await services.runs.run_of_session(channel, thread_ts)
    if run is None:
        log.info("agent_session_stopped for no run of ours (%s, %s)", channel, thread_ts)
        return
    current = await services.approvals.channel_settings(channel)
    if not may_cancel(user, run, current, services.settings.admin_users):
        await services.store.audit.append("refused", origin_channel=channel, by=user, run=run.id,
                                          reason="stop: not the requester or an admin")
        text = f"Only who started run `{run.id}` or an admin may stop it. Nothing changed."
        await client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, text=text)
        return
    said = await services.runs.stop_session(run, by=user)
    log.info("run %s: Stop by %s: %s", run.id, user, said, extra={"run_id": run.id})


async def start_from_message(
    services: Services, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
) -> None:
    """A person's top-level message to the bot in its Messages tab starts a run there (its task the text); a
    redelivery of the event starts nothing more. Other messages (channels, threads, bots, edits) are not for us."""
    if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id") or event.get("thread_ts"):
        return
    user, channel, task = str(event.get("user") or ""), str(event.get("channel") or ""), str(event.get("text") or "")
    event_id = str(body.get("event_id") or "")
    if not SLACK_ID.fullmatch(user) or not channel.startswith("D") or not task.strip() or not event_id:
        return
    if await services.runs.claim_command(f"ev-{event_id}"[:128]) is not None:
        return  # a redelivery
    if len(task) > TASK_LIMIT:
        too_long = f"A task is at most {TASK_LIMIT} characters. Nothing started."
        await client.chat_postMessage(channel=channel, text=too_long)
        return
    run = await services.runs.start_run(task=task.strip(), requester=user, channel=channel, preset=DEFAULT_PRESET,
                                        workspace=_workspace(body))
    if isinstance(run, str):
        await client.chat_postMessage(channel=channel, text=f"{run} Nothing started.")
    await services.runs.record_command(f"ev-{event_id}"[:128], run if isinstance(run, str) else run.id)


def _workspace(body: dict[str, Any]) -> WorkspaceRef | None:
    team, enterprise = str(body.get("team_id") or ""), str(body.get("enterprise_id") or "")
    if not TEAM_ID.fullmatch(team):
        return None
    return WorkspaceRef(team, enterprise if ENTERPRISE_ID.fullmatch(enterprise) else None)
