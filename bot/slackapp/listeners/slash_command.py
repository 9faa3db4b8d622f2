"""`/agent ...`: every form acks at once (well inside Slack's 3 s), before any model call."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError

from bot.approvals import SUGGEST_SINCE
from bot.approvals.refusals import STORAGE_DOWN, WHO_NAMES_ADMINS
from bot.approvals.rights import is_admin, may_cancel, may_change_settings, may_name_admins
from bot.core.durations import format_duration
from bot.core.records import ENTERPRISE_ID, RUN_ID, SLACK_ID, TEAM_ID, AwayState, ChannelSettings
from bot.core.workspaces import WorkspaceRef
from bot.report import policy_figures
from bot.report.headline_cache import HEADLINE_DAYS
from bot.runs.idempotency import IN_PROGRESS, TRIGGER_ID
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
    show_setting,
    status_text,
    user_ref,
)
from bot.slack.blocks.freeze import frozen_lines
from bot.slack.blocks.keys import key_created_text, keys_text
from bot.slack.blocks.policy import BundleView, PolicyLine, policy_reply
from bot.slack.blocks.rules import rules_reply, suggestions_reply
from bot.slack.directory import Directory
from bot.slackapp.command_parser import (
    AWAY_FORMS,
    MAX_AWAY_SECONDS,
    AuditLog,
    Away,
    Cancel,
    Command,
    CreateKey,
    Freeze,
    Help,
    Invalid,
    ListKeys,
    ListRules,
    Report,
    RevokeKey,
    RevokePasskeys,
    RevokeRule,
    SetConfig,
    ShowConfig,
    ShowPolicy,
    Start,
    Status,
    SuggestRules,
    Unfreeze,
    parse_command,
    widens,
)
from bot.slackapp.listeners.freeze import freeze_command, unfreeze_command
from bot.slackapp.listeners.passkeys import revoke_command
from bot.store import StoreUnavailable

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    async def handle_agent_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        try:
            reply = await answer_agent_command(services, command)
        except StoreUnavailable as exc:
            log.warning("/agent not handled: Redis unreachable (%s)", exc.cause)
            reply = {"text": STORAGE_DOWN + " Nothing was started or changed."}
        await ack(**reply)

    app.command("/agent")(handle_agent_command)


async def answer_agent_command(services: Services, command: dict[str, Any]) -> dict[str, Any]:
    """The ephemeral reply to a `/agent` command, after doing what it asks."""
    user = str(command.get("user_id", ""))
    channel = str(command.get("channel_id", ""))
    if not SLACK_ID.fullmatch(user) or not SLACK_ID.fullmatch(channel):
        return {"text": "This command came without a valid user or channel; nothing was done."}
    trigger = str(command.get("trigger_id", ""))
    if not TRIGGER_ID.fullmatch(trigger):
        return {"text": "This command came without a valid trigger id; nothing was done."}
    seen = await services.runs.claim_command(trigger)  # before anything is done: a replay does nothing
    if seen is not None:
        return {"text": replayed_text(seen)}
    parsed = parse_command(str(command.get("text", "")))
    reply = await do_command(services, parsed, user=user, channel=channel, workspace=command_workspace(command))
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


def command_workspace(command: dict[str, Any]) -> WorkspaceRef | None:
    """The workspace a command was typed in (its `team_id`, and `enterprise_id` on Enterprise Grid); None when it
    names none that reads as one (the home workspace's, as before commands were kept apart by workspace)."""
    team, enterprise = str(command.get("team_id") or ""), str(command.get("enterprise_id") or "")
    if not TEAM_ID.fullmatch(team):
        return None
    return WorkspaceRef(team, enterprise if ENTERPRISE_ID.fullmatch(enterprise) else None)


async def do_command(
    services: Services, parsed: Command, *, user: str, channel: str, workspace: WorkspaceRef | None = None
) -> dict[str, Any]:
    """Do what a (first delivery of a) command asks, in `workspace` (the command's); the ephemeral reply."""
    if isinstance(parsed, Invalid):
        return {"text": parsed.message}
    if isinstance(parsed, Help):
        return {"text": help_reply(parsed.topic, presets=preset_descriptions(services.runs.team_options))}
    if isinstance(parsed, Start):
        run = await services.runs.start_run(
            task=parsed.task, requester=user, channel=channel, preset=parsed.team or DEFAULT_PRESET, mode=parsed.mode,
            workspace=workspace,
        )
        if isinstance(run, str):
            return {"text": f"{run} Nothing started."}
        text = f"Started run `{run.id}`. Progress and result will be in the thread of its message here."
        return {"text": text, STARTED: run.id}
    if isinstance(parsed, Status):
        runs, pending = await services.runs.status(channel)
        frozen = frozen_lines((await services.store.freezes.all()).values())
        audit = audit_watch_line(await services.store.audit.watched(),
                                 [str(f.get("kind")) for f in (await services.store.audit.findings()).values()])
        text = status_text(channel, runs, pending, now=time.time()) + "\n" + audit
        text += await archive_line(services, user=user, channel=channel)
        return {"text": f"{frozen}\n{text}" if frozen else text}
    if isinstance(parsed, Freeze):
        return {"text": await freeze_command(services, parsed.scope, parsed.reason, user=user, channel=channel)}
    if isinstance(parsed, Unfreeze):
        return {"text": await unfreeze_command(services, parsed.scope, user=user, channel=channel)}
    if isinstance(parsed, Cancel):
        return {"text": await cancel_run(services, parsed.run_id, user=user, channel=channel)}
    if isinstance(parsed, Away):
        return {"text": await set_away(services, parsed, user=user, channel=channel)}
    if isinstance(parsed, Report):
        return {"text": await channel_report(services, channel)}
    if isinstance(parsed, ListRules | RevokeRule | SuggestRules):
        return await rules_command(services, parsed, user=user, channel=channel)
    if isinstance(parsed, ShowPolicy):
        return await policy_command(services, channel)
    current = await services.approvals.channel_settings(channel)
    if isinstance(parsed, ListKeys | CreateKey | RevokeKey):
        return {"text": await keys_command(services, parsed, current, user=user, channel=channel, workspace=workspace)}
    if isinstance(parsed, RevokePasskeys):
        return {"text": await revoke_command(services, parsed.person, current, user=user, channel=channel)}
    if isinstance(parsed, ShowConfig):
        return {"text": config_text(channel, current, default_approvals_channel=services.settings.approvals_channel)}
    if isinstance(parsed, AuditLog):
        return {"text": audit_text(channel, await services.store.audit.about_channel(channel, limit=10))}
    if isinstance(parsed, SetConfig):
        return {"text": await change_setting(services, parsed, current, user=user, channel=channel)}

    raise AssertionError(parsed)  # pragma: no cover


async def keys_command(
    services: Services, parsed: ListKeys | CreateKey | RevokeKey, current: ChannelSettings, *, user: str, channel: str,
    workspace: WorkspaceRef | None = None,
) -> str:
    """`/agent keys ...`: the API keys that may ask in this channel; making one (for this channel, or the one
    named) or revoking one of this channel's keys is for the named admins (and ADMIN_USERS) of that channel:
    anyone else is refused, and the refusal audited."""
    if isinstance(parsed, CreateKey) and parsed.channel and parsed.channel != channel:
        return await create_key_elsewhere(services, parsed, user=user, channel=channel, workspace=workspace)
    keys = await services.api.keys_of(channel)
    if isinstance(parsed, ListKeys):
        return keys_text(channel, keys)
    if not is_admin(user, current, services.settings.admin_users):
        action = "create" if isinstance(parsed, CreateKey) else "revoke"
        await services.store.audit.append("keys_refused", by=user, origin_channel=channel, key=parsed.name,
                                          action=action)
        return (
            f"Only this channel's admins can {action} API keys here ({WHO_NAMES_ADMINS}). Nothing changed."
        )
    if isinstance(parsed, CreateKey):
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
    services: Services, parsed: CreateKey, *, user: str, channel: str, workspace: WorkspaceRef | None = None
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
    services: Services, parsed: ListRules | RevokeRule | SuggestRules, *, user: str, channel: str
) -> dict[str, Any]:
    """`/agent rules ...`: this channel's live rules; revoking one (its creator or a named admin: the rule
    book checks and audits a refusal); rules suggested from the channel's audit log."""
    rules = services.rules
    if isinstance(parsed, RevokeRule):
        return {"text": (await rules.revoke(user, channel, parsed.rule_id)).message}
    if isinstance(parsed, SuggestRules):
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


async def set_away(services: Services, parsed: Away, *, user: str, channel: str) -> str:
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


async def change_setting(
    services: Services, change: SetConfig, current: ChannelSettings, *, user: str, channel: str
) -> str:
    """Validate a setting against Slack and the other settings, then store it (audited)."""
    if not may_change_settings(user, current, services.settings.admin_users):
        admins = sorted(set(current.admins) | set(services.settings.admin_users))
        await services.store.audit.append("refused", origin_channel=channel, by=user, setting=change.key,
                                       reason="not an admin")
        return f"Only {people_refs(admins)} may change this channel's settings. Setting unchanged."
    if change.key == "admins" and not may_name_admins(user, current, services.settings.admin_users):
        return await admins_refused(services, change, current, user=user, channel=channel)
    if widens(
        change.key,
        change.value,
        approvers=current.approvers,
        required_approvals=current.required_approvals,
        escalate_to=current.escalate_to,
        escalate_after=current.escalate_after,
    ) and not is_admin(user, current, services.settings.admin_users):
        await services.store.audit.append(
            "refused", origin_channel=channel, by=user, setting=change.key, value=change.value, reason="needs an admin"
        )
        what = f"`{change.key}` {show_setting(change.key, change.value)}"  # (with `admins` set, only they got here)
        ask = f": ask {people_refs(services.settings.admin_users)}" if services.settings.admin_users else ""
        return (
            f"{what} widens who may decide, so only an admin may set it, and this channel has no `admins`{ask}"
            f" ({WHO_NAMES_ADMINS}). Setting unchanged."
        )
    problem = await setting_problem(services.directory, change, current)
    if problem is not None:
        return f"Cannot set `{change.key}`: {problem}. Setting unchanged."
    before = await services.store.settings.set(channel, change.key, change.value, by=user)  # audited
    was = f" (was {show_setting(change.key, before)})" if before is not None else ""
    warnings = "".join(f"\n:warning: {w}" for w in setting_warnings(change, current))
    return f"`{change.key}` of this channel is now {show_setting(change.key, change.value)}{was}.{warnings}"


async def admins_refused(
    services: Services, change: SetConfig, current: ChannelSettings, *, user: str, channel: str
) -> str:
    """`/agent config admins ...` by someone who is not a named admin: refused and audited, naming who can."""
    await services.store.audit.append("refused", origin_channel=channel, by=user, setting="admins",
                                      value=change.value, reason="names admins: not an admin")
    who = sorted(set(current.admins) | set(services.settings.admin_users))
    if who:
        return f"Only {people_refs(who)} may name this channel's admins ({WHO_NAMES_ADMINS}). Setting unchanged."
    return (f"Nobody may name this channel's admins yet: {WHO_NAMES_ADMINS}, and ADMIN_USERS is not set."
            " Setting unchanged.")


def setting_warnings(change: SetConfig, current: ChannelSettings) -> list[str]:
    """What a setting, valid, will not do as one may expect with the channel's other settings."""
    timeout = int(change.value) if change.key == "timeout" else current.timeout
    remind = current.remind
    if change.key == "remind":
        remind = tuple(int(v) for v in change.value.split(",") if v.isascii() and v.isdigit())
    escalate_after = int(change.value) if change.key == "escalate_after" else current.escalate_after
    escalate_to = current.escalate_to
    if change.key == "escalate_to":
        escalate_to = () if change.value == "none" else tuple(change.value.split(","))
    warnings: list[str] = []
    if change.key == "timeout" and timeout == 0:
        nudges = "(none are set: e.g. `remind 1h,4h`)"
        if remind:
            nudges = f"({show_setting('remind', ','.join(map(str, remind)))})"
        warnings.append(
            "Approvals here now never time out: an agent waits until someone decides, and reminders are the only"
            f" nudge {nudges}."
        )
    if timeout and change.key in ("timeout", "remind"):
        late = [r for r in remind if r >= timeout]
        if late:
            shown = ", ".join(format_duration(r) for r in late)
            warnings.append(
                f"The timeout is {format_duration(timeout)}, so these reminders will never be sent: {shown}."
            )
    if timeout and escalate_after >= timeout and change.key in ("timeout", "escalate_after"):
        warnings.append(
            f"The timeout is {format_duration(timeout)}, so the escalation after {format_duration(escalate_after)}"
            " will never happen."
        )
    if change.key in ("escalate_after", "escalate_to") and escalate_after and not escalate_to:
        warnings.append("Nobody is named in `escalate_to` yet, so nothing will be escalated.")
    if change.key in ("escalate_after", "escalate_to") and escalate_to and not escalate_after:
        warnings.append("`escalate_after` is off, so nothing will be escalated.")
    if change.key in ("escalate_after", "escalate_to") and escalate_to and escalate_after and not current.approvers:
        warnings.append("`approvers` is anyone: an escalation only mentions the people in `escalate_to`.")
    return warnings


async def setting_problem(directory: Directory, change: SetConfig, current: ChannelSettings) -> str | None:
    ids = [] if change.value == "anyone" else change.value.split(",")
    try:
        if change.key in ("approvers", "admins", "escalate_to") and change.value != "none":
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
        if change.key == "deliver" and change.value != "channel" and not current.approvers:
            return (
                "approvers is `anyone`, so there is nobody to send direct messages to: name the approvers first"
                " (`/agent config approvers @alice @reviewers`)"
            )
        if change.key == "approvers" and not ids and current.deliver != "channel":
            return f"deliver is `{current.deliver}`, which needs named approvers: set `deliver channel` first"
    except SlackApiError as exc:
        return f"Slack said {exc.response.get('error')}"
    return None


async def time_away(services: Services, user: str) -> tuple[AwayState | None, list[str]]:
    """`user`'s time away (None: not away), and who is away and has them decide for them."""
    now = time.time()
    return await services.store.away.get(user, now=now), await services.store.away.principals(user, now=now)
