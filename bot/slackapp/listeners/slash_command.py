"""`/agent ...`: every form acks at once (well inside Slack's 3 s), before any model call."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError

from bot.approvals import SUGGEST_SINCE
from bot.approvals.refusals import STORAGE_DOWN, WHO_NAMES_ADMINS
from bot.approvals.rights import is_admin, may_cancel
from bot.core.durations import format_duration
from bot.core.records import RUN_ID, AwayState, ChannelSettings
from bot.core.workspaces import WorkspaceRef
from bot.report import policy_figures
from bot.report.headline_cache import HEADLINE_DAYS
from bot.runs.idempotency import IN_PROGRESS
from bot.runs.teams import DEFAULT_PRESET, preset_descriptions
from bot.services import Services
from bot.slack.blocks import (
    audit_text,
    audit_watch_line,
    away_text,
    channel_ref,
    config_text,
    date_ref,
    escape,
    help_reply,
    people_refs,
    report_text,
    status_text,
    user_ref,
)
from bot.slack.blocks.freeze import frozen_lines
from bot.slack.blocks.keys import key_created_text, keys_text
from bot.slack.blocks.policy import BundleView, PolicyLine, policy_reply
from bot.slack.blocks.rules import rules_reply, suggestions_reply
from bot.slackapp import commands
from bot.slackapp.command_parser import AWAY_FORMS, MAX_AWAY_SECONDS, parse_command
from bot.slackapp.context import parts_of
from bot.slackapp.listeners.attest import attest_command
from bot.slackapp.listeners.config_command import change_setting
from bot.slackapp.listeners.freeze import freeze_command, unfreeze_command
from bot.slackapp.listeners.passkeys import revoke_command
from bot.slackapp.payloads import SlashCommand
from bot.store import StoreUnavailable

log = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    async def handle_agent_command(ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext) -> None:
        services = parts_of(context)
        try:
            reply = await answer_agent_command(services, command)
        except StoreUnavailable as exc:
            log.warning("/agent not handled: Redis unreachable (%s)", exc.cause)
            reply = {"text": STORAGE_DOWN + " Nothing was started or changed."}
        await ack(**reply)

    app.command("/agent")(handle_agent_command)


async def answer_agent_command(services: Services, command: dict[str, Any]) -> dict[str, Any]:
    """The ephemeral reply to a `/agent` command, after doing what it asks."""
    asked = SlashCommand.of(command)
    if isinstance(asked, str):
        return {"text": asked}
    user, channel, trigger = asked.user_id, asked.channel_id, asked.trigger_id
    seen = await services.runs.claim_command(trigger)  # before anything is done: a replay does nothing
    if seen is not None:
        return {"text": replayed_text(seen)}
    parsed = parse_command(asked.text)
    reply = await do_command(services, parsed, user=user, channel=channel, workspace=asked.workspace, trigger=trigger)
    try:
        await services.runs.record_command(trigger, str(reply.pop(STARTED, DONE)))
    except StoreUnavailable:  # the claim stands (a replay still does nothing); what was done is told all the same
        log.warning("could not record the outcome of command %s", trigger)
    return reply


STARTED = "started_run"  # in `do_command`'s reply (taken out before it is sent): the run it started
DONE = "done"


def replayed_text(seen: str) -> str:
    if RUN_ID.fullmatch(seen):
        return f"Already received: this command started run `{seen}`. Nothing was done again."
    if seen == IN_PROGRESS:
        return "Already received: this command is being answered. Nothing was done again."
    return "Already received: this command was answered. Nothing was done again."


async def do_command(
    services: Services, parsed: commands.Command, *, user: str, channel: str, workspace: WorkspaceRef | None = None,
    trigger: str = "",
) -> dict[str, Any]:
    """Do what a (first delivery of a) command asks, in `workspace` (the command's); the ephemeral reply. `trigger`:
    the command's `trigger_id` (a modal it opens)."""
    doer = _DOERS.get(type(parsed))
    if doer is None:  # pragma: no cover
        raise AssertionError(parsed)
    return await doer(services, parsed, Asked(user, channel, workspace, trigger))


@dataclass(frozen=True, slots=True)
class Asked:
    """Who typed a command, in which channel and workspace."""

    user: str
    channel: str
    workspace: WorkspaceRef | None = None
    trigger: str = ""  # the command's trigger_id (a modal it opens)


Reply = dict[str, Any]


async def _invalid(services: Services, parsed: commands.Invalid, asked: Asked) -> Reply:
    return {"text": parsed.message}


async def _help(services: Services, parsed: commands.Help, asked: Asked) -> Reply:
    return {"text": help_reply(parsed.topic, presets=preset_descriptions(services.runs.team_options))}


async def _start(services: Services, parsed: commands.Start, asked: Asked) -> Reply:
    run = await services.runs.start_run(
        task=parsed.task, requester=asked.user, channel=asked.channel, preset=parsed.team or DEFAULT_PRESET,
        mode=parsed.mode, workspace=asked.workspace,
    )
    if isinstance(run, str):
        return {"text": f"{run} Nothing started."}
    text = f"Started run `{run.id}`. Progress and result will be in the thread of its message here."
    return {"text": text, STARTED: run.id}


async def _status(services: Services, parsed: commands.Status, asked: Asked) -> Reply:
    runs, pending = await services.runs.status(asked.channel)
    frozen = frozen_lines((await services.store.freezes.all()).values())
    audit = audit_watch_line(await services.store.audit.watched(),
                             [str(f.get("kind")) for f in (await services.store.audit.findings()).values()])
    text = status_text(asked.channel, runs, pending, now=time.time()) + "\n" + audit
    text += await archive_line(services, user=asked.user, channel=asked.channel)
    return {"text": f"{frozen}\n{text}" if frozen else text}


async def _freeze(services: Services, parsed: commands.Freeze, asked: Asked) -> Reply:
    return {"text": await freeze_command(services, parsed.scope, parsed.reason, user=asked.user, channel=asked.channel)}


async def _attest(services: Services, parsed: commands.Attest, asked: Asked) -> Reply:
    return {"text": await attest_command(services, parsed, user=asked.user, channel=asked.channel,
                                         trigger=asked.trigger)}


async def _unfreeze(services: Services, parsed: commands.Unfreeze, asked: Asked) -> Reply:
    return {"text": await unfreeze_command(services, parsed.scope, user=asked.user, channel=asked.channel)}


async def _cancel(services: Services, parsed: commands.Cancel, asked: Asked) -> Reply:
    return {"text": await cancel_run(services, parsed.run_id, user=asked.user, channel=asked.channel)}


async def _away(services: Services, parsed: commands.Away, asked: Asked) -> Reply:
    return {"text": await set_away(services, parsed, user=asked.user, channel=asked.channel)}


async def _report(services: Services, parsed: commands.Report, asked: Asked) -> Reply:
    return {"text": await channel_report(services, asked.channel)}


async def _rules(services: Services, parsed: commands.RulesCommand, asked: Asked) -> Reply:
    return await rules_command(services, parsed, user=asked.user, channel=asked.channel)


async def _policy(services: Services, parsed: commands.ShowPolicy, asked: Asked) -> Reply:
    return await policy_command(services, asked.channel)


async def _keys(services: Services, parsed: commands.KeysCommand, asked: Asked) -> Reply:
    current = await services.approvals.channel_settings(asked.channel)
    return {"text": await keys_command(services, parsed, current, user=asked.user, channel=asked.channel,
                                       workspace=asked.workspace)}


async def _passkeys(services: Services, parsed: commands.RevokePasskeys, asked: Asked) -> Reply:
    current = await services.approvals.channel_settings(asked.channel)
    return {"text": await revoke_command(services, parsed.person, current, user=asked.user, channel=asked.channel)}


async def _show_config(services: Services, parsed: commands.ShowConfig, asked: Asked) -> Reply:
    current = await services.approvals.channel_settings(asked.channel)
    default = services.settings.approvals_channel
    return {"text": config_text(asked.channel, current, default_approvals_channel=default)}


async def _audit(services: Services, parsed: commands.AuditLog, asked: Asked) -> Reply:
    return {"text": audit_text(asked.channel, await services.store.audit.about_channel(asked.channel, limit=10))}


async def _set_config(services: Services, parsed: commands.SetConfig, asked: Asked) -> Reply:
    current = await services.approvals.channel_settings(asked.channel)
    return {"text": await change_setting(services, parsed, current, user=asked.user, channel=asked.channel)}


# What each command does (one entry per `Command`).
_DOERS: dict[type[commands.Command], Callable[[Services, Any, Asked], Awaitable[Reply]]] = {
    commands.Invalid: _invalid, commands.Help: _help, commands.Start: _start, commands.Status: _status,
    commands.Freeze: _freeze, commands.Unfreeze: _unfreeze, commands.Cancel: _cancel, commands.Away: _away,
    commands.Report: _report, commands.ListRules: _rules, commands.RevokeRule: _rules, commands.SuggestRules: _rules,
    commands.ShowPolicy: _policy, commands.ListKeys: _keys, commands.CreateKey: _keys, commands.RevokeKey: _keys,
    commands.RevokePasskeys: _passkeys, commands.ShowConfig: _show_config, commands.AuditLog: _audit,
    commands.SetConfig: _set_config, commands.Attest: _attest,
}


async def keys_command(
    services: Services, parsed: commands.KeysCommand, current: ChannelSettings, *, user: str, channel: str,
    workspace: WorkspaceRef | None = None,
) -> str:
    """`/agent keys ...`: the API keys that may ask in this channel; making one (for this channel, or the one
    named) or revoking one of this channel's keys is for the named admins (and ADMIN_USERS) of that channel:
    anyone else is refused, and the refusal audited."""
    if isinstance(parsed, commands.CreateKey) and parsed.channel and parsed.channel != channel:
        return await create_key_elsewhere(services, parsed, user=user, channel=channel, workspace=workspace)
    keys = await services.api.keys_of(channel)
    if isinstance(parsed, commands.ListKeys):
        return keys_text(channel, keys)
    if not is_admin(user, current, services.settings.admin_users):
        action = "create" if isinstance(parsed, commands.CreateKey) else "revoke"
        await services.store.audit.append("keys_refused", by=user, origin_channel=channel, key=parsed.name,
                                          action=action)
        return (
            f"Only this channel's admins can {action} API keys here ({WHO_NAMES_ADMINS}). Nothing changed."
        )
    if isinstance(parsed, commands.CreateKey):
        return await make_key(services, parsed.name, channel, user=user, workspace=workspace)
    if parsed.name not in {key.name for key in keys}:
        return f"No API key named `{escape(parsed.name)}` may ask in {channel_ref(channel)}. Nothing changed."
    revoked = await services.api.revoke_key(parsed.name, by=user)
    withdrawn = len(revoked.withdrawn) if revoked is not None else 0
    pending = f" {withdrawn} pending approval{'s' if withdrawn != 1 else ''} of it withdrawn." if withdrawn else ""
    return f"Revoked the API key `{escape(parsed.name)}`: its next request is refused.{pending}"


async def archive_line(services: Services, *, user: str, channel: str) -> str:
    """For this channel's admins, with AUDIT_ARCHIVE: how far the audit archive is behind ("" otherwise)."""
    if services.archiver is None:
        return ""
    if not is_admin(user, await services.approvals.channel_settings(channel), services.settings.admin_users):
        return ""
    behind, age = await services.store.audit.archive_lag(now=time.time())
    if not behind:
        return "\nAudit archive: up to date."
    return (f"\nAudit archive: {behind:,} audit entries not archived yet, the oldest {format_duration(age)} old"
            " (`/healthz` and the `hitl_audit_archive_lag_entries` metric say it too).")


async def create_key_elsewhere(
    services: Services, parsed: commands.CreateKey, *, user: str, channel: str, workspace: WorkspaceRef | None = None
) -> str:
    """`/agent keys create <name> #other`: a key for the channel named, by that channel's admins."""
    target = parsed.channel
    where = channel_ref(target)
    if not is_admin(user, await services.approvals.channel_settings(target), services.settings.admin_users):
        await services.store.audit.append(
            "keys_refused", by=user, origin_channel=channel, key=parsed.name, action="create", key_channel=target
        )
        return (
            f"Only the admins of {where} can create API keys for it ({WHO_NAMES_ADMINS}). Nothing changed."
        )
    try:
        problem = await services.directory.problem_with_channel(target)
    except SlackApiError as exc:
        problem = f"Slack said {exc.response.get('error')}"
    if problem is not None:
        return f"Cannot make a key for {where}: {problem}. Nothing changed."
    return await make_key(services, parsed.name, target, user=user, workspace=workspace)


async def make_key(
    services: Services, name: str, channel: str, *, user: str, workspace: WorkspaceRef | None = None
) -> str:
    """A key for `channel`, bound to `workspace` (the one the command was typed in)."""
    made = await services.api.create_key(
        name, channel, by=user, workspace=workspace,
        max_pending=services.settings.api_key_max_pending, per_minute=services.settings.api_key_per_minute,
    )
    if isinstance(made, str):
        return f"{made}. Nothing changed."
    return key_created_text(made, url=services.settings.public_url)


async def cancel_run(services: Services, run_id: str, *, user: str, channel: str) -> str:
    """`/agent cancel <run id>`: only a run of this channel, only by who may cancel it (else refused
    and audited, and nothing said about a run elsewhere)."""
    run = await services.runs.get(run_id)
    if run is None or run.channel != channel:
        elsewhere = {"run_channel": run.channel} if run is not None else {}
        reason = "no such run in this channel"
        await services.store.audit.append("refused", origin_channel=channel, by=user, run=run_id, reason=reason,
                                       **elsewhere)
        return f"There is no run `{run_id}` in this channel."
    current = await services.approvals.channel_settings(channel)
    if not may_cancel(user, run, current, services.settings.admin_users):
        await services.store.audit.append(
            "refused", origin_channel=channel, by=user, run=run_id, reason="not the requester or an admin"
        )
        allowed = list(dict.fromkeys([*([run.requester] if run.requester else []), *current.admins]))
        allowed += [u for u in services.settings.admin_users if u not in allowed]
        if not allowed:
            return (
                f"Only the person who started run `{run_id}` or an admin may cancel it, and this channel has no"
                f" `admins` ({WHO_NAMES_ADMINS}). Nothing changed."
            )
        return (
            f"Only {people_refs(allowed)} may cancel run `{run_id}` (who started it and the admins). Nothing changed."
        )
    return await services.runs.cancel_run(run_id, by=user)


async def rules_command(
    services: Services, parsed: commands.RulesCommand, *, user: str, channel: str
) -> dict[str, Any]:
    """`/agent rules ...`: this channel's live rules; revoking one (its creator or a named admin: the rule
    book checks and audits a refusal); rules suggested from the channel's audit log."""
    rules = services.rules
    if isinstance(parsed, commands.RevokeRule):
        return {"text": (await rules.revoke(user, channel, parsed.rule_id)).message}
    if isinstance(parsed, commands.SuggestRules):
        suggestions = await rules.suggestions(channel, min_approved=parsed.min_approved)
        admin = await rules.is_admin(user, channel)
        days = SUGGEST_SINCE // 86400
        return suggestions_reply(channel, suggestions, min_approved=parsed.min_approved, days=days, admin=admin)
    return rules_reply(channel, await rules.live(channel))


SHADOW_DAYS = 7  # `/agent policy`: what the policies in shadow would have changed lately


async def policy_command(services: Services, channel: str) -> dict[str, Any]:
    """`/agent policy`: the bundle this worker decides by, each policy with how often it decided (this bundle, every
    channel), and what the policies in shadow would have changed in this channel lately (its `policy_shadow`
    entries). Read-only: anyone in the channel may see it."""
    engine = services.approvals.policies
    bundle = engine.bundle
    counts = await engine.counts()
    since = time.time() - SHADOW_DAYS * 86400
    entries = [entry async for entry in services.store.audit.export(since=since, channels=[channel])]
    view = BundleView(
        hash=bundle.hash, mode=engine.mode, loaded_at=bundle.loaded_at, directory=bundle.directory,
        policies=[PolicyLine(policy.id, policy.outcome, engine.evaluator.shadowed(policy),
                             f"{policy.file}:{policy.line}", counts.get(policy.id, 0))
                  for policy in bundle.policies.values()],
        failed=engine.failed, failed_since=engine.failed_since, warning=engine.warning,
    )
    return policy_reply(channel, view, policy_figures(entries, shadow_since=since), days=SHADOW_DAYS)


async def channel_report(services: Services, channel: str) -> str:
    """`/agent report`: this channel's headline numbers over the last 7 days, from the audit stream (as its
    admins' Homes show them)."""
    numbers = (await services.homes.headlines.compute(channel)).numbers
    return report_text(channel, numbers.lines(), days=HEADLINE_DAYS, busiest=numbers.busiest)


async def set_away(services: Services, parsed: commands.Away, *, user: str, channel: str) -> str:
    """`/agent away ...`: show, end or set the person's time away (and who decides for them)."""
    now = time.time()
    if parsed.show:
        return away_text(*await time_away(services, user))
    if parsed.off:
        before = await services.store.away.clear(user, now=time.time())
        if before is None:
            return "You were not away. Nothing changed."
        handed_back = f" {user_ref(before.delegate)} no longer decides for you." if before.delegate else ""
        return "Welcome back: you are no longer away." + handed_back
    until = now + parsed.seconds if parsed.seconds else parsed.at
    if until <= now:
        return (
            f"{date_ref(until)} is in the past: give a later date or a duration. Usage: {AWAY_FORMS}. Nothing changed."
        )
    if until - now > MAX_AWAY_SECONDS:
        return f"At most {format_duration(MAX_AWAY_SECONDS)} away at a time. Nothing changed."
    if parsed.delegate:
        problem = "you cannot delegate to yourself" if parsed.delegate == user else None
        try:
            problem = problem or await services.directory.problem_with_user(parsed.delegate)
        except SlackApiError as exc:
            problem = f"Slack said {exc.response.get('error')}"
        if problem is not None:
            await services.store.audit.append(
                "refused",
                origin_channel=channel,
                by=user,
                reason=f"delegate: {problem}"[:200],
                delegate=parsed.delegate,
            )
            return f"Cannot delegate to {user_ref(parsed.delegate)}: {problem}. Nothing changed."
    await services.store.away.set(user, until=until, delegate=parsed.delegate, now=time.time())
    return away_text(*await time_away(services, user))


async def time_away(services: Services, user: str) -> tuple[AwayState | None, list[str]]:
    """`user`'s time away (None: not away), and who is away and has them decide for them."""
    now = time.time()
    return await services.store.away.get(user, now=now), await services.store.away.principals(user, now=now)
