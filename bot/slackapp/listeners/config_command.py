"""`/agent config <key> <value>`: a channel setting changed, by whom may change it (audited), checked against Slack
and the channel's other settings, with what it will not do as one may expect (for slash_command.py; no
`register`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from slack_sdk.errors import SlackApiError

from bot.approvals.refusals import WHO_NAMES_ADMINS
from bot.approvals.rights import is_admin, may_change_settings, may_name_admins
from bot.core.channel_options import OPTIONS
from bot.core.durations import format_duration
from bot.core.people import schedule_of, surface_of
from bot.core.records import ChannelSettings
from bot.services import Services
from bot.slack.blocks import people_refs, show_setting
from bot.slack.directory import Directory
from bot.slackapp.command_parser import widens
from bot.slackapp.commands import SetConfig
from bot.slackapp.listeners.teams_config import teams_note, teams_refusal


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
        sla=current.sla,
        escalate_at=current.escalate_at,
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
    problem = await teams_refusal(services, change, user=user, channel=channel) or await setting_problem(
        services.directory, change, current)
    if problem is not None:
        return f"Cannot set `{change.key}`: {problem}. Setting unchanged."
    before = await services.store.settings.set(channel, change.key, change.value, by=user)  # audited
    was = f" (was {show_setting(change.key, before)})" if before is not None else ""
    warnings = "".join(f"\n:warning: {w}" for w in setting_warnings(change, current))
    note = await teams_note(services, change)
    return f"`{change.key}` of this channel is now {show_setting(change.key, change.value)}{was}.{note}{warnings}"


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
    """What a setting, valid, will not do as one may expect with the channel's other settings: each warning reads
    the changed key and the channel's settings with the change made (its value read as the store reads it back)."""
    after = replace(current, **{change.key: OPTIONS[change.key].read(change.value)})
    return [said for warn in _WARNINGS if (said := warn(change.key, after))]


def _never_times_out(key: str, after: ChannelSettings) -> str:
    if key != "timeout" or after.timeout:
        return ""
    nudges = f"({show_setting('remind', ','.join(map(str, after.remind)))})" if after.remind else (
        "(none are set: e.g. `remind 1h,4h`)")
    return ("Approvals here now never time out: an agent waits until someone decides, and reminders are the only"
            f" nudge {nudges}.")


def _late_reminders(key: str, after: ChannelSettings) -> str:
    late = [r for r in after.remind if r >= after.timeout] if after.timeout else []
    if key not in ("timeout", "remind") or not late:
        return ""
    shown = ", ".join(format_duration(r) for r in late)
    return f"The timeout is {format_duration(after.timeout)}, so these reminders will never be sent: {shown}."


def _late_escalation(key: str, after: ChannelSettings) -> str:
    if key not in ("timeout", "escalate_after") or not after.timeout or after.escalate_after < after.timeout:
        return ""
    return (f"The timeout is {format_duration(after.timeout)}, so the escalation after"
            f" {format_duration(after.escalate_after)} will never happen.")


def _half_an_escalation(key: str, after: ChannelSettings) -> str:
    if key not in ("escalate_after", "escalate_to"):
        return ""
    if after.escalate_after and not after.escalate_to:
        return "Nobody is named in `escalate_to` yet, so nothing will be escalated."
    if after.escalate_to and not after.escalate_after and not (after.escalate_at == "at_risk" and after.sla):
        return "`escalate_after` is off, so nothing will be escalated."
    return ""


def _escalation_to_anyone(key: str, after: ChannelSettings) -> str:
    if key not in ("escalate_after", "escalate_to") or not (after.escalate_to and after.escalate_after):
        return ""
    return "" if after.approvers else "`approvers` is anyone: an escalation only mentions the people in `escalate_to`."


def _service_level(key: str, after: ChannelSettings) -> str:
    if key not in ("sla", "escalate_at", "timeout"):
        return ""
    if after.sla and after.timeout and after.sla >= after.timeout:
        return (f"The timeout is {format_duration(after.timeout)}, so an approval times out before it breaches its"
                f" service level of {format_duration(after.sla)}.")
    if after.escalate_at == "at_risk" and key != "timeout" and not (after.sla and after.escalate_to):
        return "`escalate_at at_risk` needs an `sla` and people in `escalate_to`: nothing is escalated at risk yet."
    return ""


_WARNINGS: tuple[Callable[[str, ChannelSettings], str], ...] = (
    _never_times_out, _late_reminders, _late_escalation, _half_an_escalation, _escalation_to_anyone, _service_level)


async def setting_problem(directory: Directory, change: SetConfig, current: ChannelSettings) -> str | None:
    """What Slack or the channel's other settings say against a change (None: nothing)."""
    try:
        for check in _PROBLEMS:
            problem = await check(directory, change, current)
            if problem:
                return problem
    except SlackApiError as exc:
        return f"Slack said {exc.response.get('error')}"
    return None


def _ids(change: SetConfig) -> list[str]:
    return [] if change.value == "anyone" else change.value.split(",")


async def _unknown_people(directory: Directory, change: SetConfig, current: ChannelSettings) -> str | None:
    if change.key not in ("approvers", "admins", "escalate_to", "oncall_fallback") or change.value == "none":
        return None
    for item in _ids(change):
        if surface_of(item) in ("teams", "email") or schedule_of(item):  # a Teams-only person, an on-call schedule
            continue
        group = item.startswith("S")
        found = await (directory.problem_with_group(item) if group else directory.problem_with_user(item))
        if found:
            return found
    return None


async def _too_few_approvers(directory: Directory, change: SetConfig, current: ChannelSettings) -> str | None:
    if change.key == "approvers" and _ids(change):
        people = await directory.count_people(_ids(change))
        if current.required_approvals > people:
            return f"required_approvals is {current.required_approvals} but these approvers are {people}"
    if change.key == "required_approvals" and current.approvers:
        people = await directory.count_people(list(current.approvers))
        if int(change.value) > people:
            return f"only {people} approvers are named (see `approvers`)"
    return None


async def _unknown_channel(directory: Directory, change: SetConfig, current: ChannelSettings) -> str | None:
    return await directory.problem_with_channel(change.value) if change.key == "approvals_channel" else None


async def _nobody_to_deliver_to(directory: Directory, change: SetConfig, current: ChannelSettings) -> str | None:
    if change.key == "deliver" and change.value != "channel" and not current.approvers:
        return (
            "approvers is `anyone`, so there is nobody to send direct messages to: name the approvers first"
            " (`/agent config approvers @alice @reviewers`)"
        )
    if change.key == "approvers" and not _ids(change) and current.deliver != "channel":
        return f"deliver is `{current.deliver}`, which needs named approvers: set `deliver channel` first"
    return None


_PROBLEMS: tuple[Callable[[Directory, SetConfig, ChannelSettings], Awaitable[str | None]], ...] = (
    _unknown_people, _too_few_approvers, _unknown_channel, _nobody_to_deliver_to)
