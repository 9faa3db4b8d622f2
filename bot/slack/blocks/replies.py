"""Ephemeral replies to `/agent` commands: help, status, settings and the audit log (the rules' replies
are in `bot.slack.blocks.rules`).

Names and values people typed (risk words, tasks, audit details) are untrusted and made inert by
`bot.slack.blocks.text`; mentions and channel links are made there only from checked ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agent_approvals.modes import DEFAULT_RISK_WORDS, MODE_DESCRIPTIONS

from bot.core.channel_options import OPTIONS, Option, help_lines, options_of
from bot.core.durations import format_duration
from bot.core.records import SLACK_ID, ApprovalRecord, AwayState, ChannelSettings, RunRecord
from bot.core.service_levels import urgency
from bot.core.setting_kinds import Channel, People, RiskWords, TeamsTarget
from bot.slack.blocks.claims import workflow_part
from bot.slack.blocks.nudges import sla_word
from bot.slack.blocks.runs import RUN_STATUS_LINE
from bot.slack.blocks.text import channel_ref, date_ref, escape, people_refs, safe, user_ref


def help_text(
    *,
    presets: Sequence[str] | Mapping[str, str],
    modes: Mapping[str, str] = MODE_DESCRIPTIONS,
    options: Iterable[Option] = OPTIONS.values(),
) -> str:
    """`/agent help`. `presets`: names, or names and what each team does; `options`: the channel settings."""
    if isinstance(presets, Mapping):
        teams = "\n".join(f"  • `{escape(name)}`: {escape(what)}" for name, what in presets.items())
    else:
        teams = "  " + ", ".join(f"`{escape(p)}`" for p in presets)
    return "\n".join(
        [
            "*Start a run*: `/agent <task>`",
            "  or `/agent --team NAME --mode MODE <task>`",
            "*Runs and approvals here*: `/agent status`",
            "*Cancel a run*: `/agent cancel <run id>`",
            "*Settings*: `/agent config` shows them; `/agent config <key> <value>`:",
            *help_lines(options),
            "*Latest decisions here*: `/agent audit`",
            "*Away*: `/agent away until <date|duration> [delegate @person]`, `/agent away off`, `/agent away`",
            f"*Remembered decisions* (a card's *{escape('Approve & always allow')}*):",
            "  • `/agent rules`: this channel's live rules; `/agent rules revoke <rule id>`",
            "  • `/agent rules suggest [N]`: rules for calls approved N times (default 3), never refused",
            "*Your agents' API keys*: `/agent keys`; `/agent keys create <name> [#channel]` (admins),"
            " `/agent keys revoke <name>`",
            "*Policies* in force and in shadow: `/agent policy`",
            "*Passkeys*: `/agent passkeys revoke @person` (admins)",
            "*Freeze* (admins): `/agent freeze all|#channel|key NAME|agent NAME [reason]`; `/agent unfreeze …`"
            " (a second admin confirms)",
            "*Fit to decide*: `/agent attest NAME|#channel`; `/agent attest` (yours); owners: `/agent attest"
            " brief|grant|revoke …`",
            "*Teams* (`--team`):",
            teams,
            "*Input modes* (`--mode`, or the channel's `mode`):",
            *(f"  • `{escape(name)}`: {escape(what)}" for name, what in modes.items()),
            "*Help*: `/agent help`",
        ]
    )


HELP_TOPICS = ("config", "rules", "keys", "away", "teams", "all")


def help_reply(
    topic: str,
    *,
    presets: Sequence[str] | Mapping[str, str],
    modes: Mapping[str, str] = MODE_DESCRIPTIONS,
    options: Iterable[Option] = OPTIONS.values(),
) -> str:
    """`/agent help [topic]`: a short list of what people do most, each with where to read more
    (`/agent help config`, `rules`, `keys`, `away`, `teams`; `all` is the whole reference, `help_text`)."""
    if topic == "all":
        return help_text(presets=presets, modes=modes, options=options)
    if topic == "config":
        return "\n".join(
            ["*Settings of this channel*: `/agent config` shows them; `/agent config <key> <value>` changes one:",
             *help_lines(options), _BACK]
        )
    if topic == "rules":
        return "\n".join(
            [
                "*Remembered decisions*: rules that approve matching tool calls without a card, made with a tool"
                f" call card's *{escape('Approve & always allow')}*:",
                "  • `/agent rules`: this channel's live rules",
                "  • `/agent rules revoke <rule id>` (e.g. `R7`): the channel's admins or the rule's author",
                "  • `/agent rules suggest [N]`: rules that would have approved calls people here approved at least N"
                " times (default 3) and none they rejected or revised",
                _BACK,
            ]
        )
    if topic == "keys":
        return "\n".join(
            [
                "*Your own agents* ask through the Approvals API with a key; only people decide:",
                "  • `/agent keys`: the keys that may ask here",
                "  • `/agent keys create <name> [#channel]`: a new key (admins; shown once)",
                "  • `/agent keys revoke <name>`",
                _BACK,
            ]
        )
    if topic == "away":
        return "\n".join(
            [
                "*Away*: while you are away, reminders do not mention you, and a delegate may decide for you:",
                "  • `/agent away until <date or duration> [delegate @person]`, e.g. `/agent away until friday"
                " delegate @bob` or `/agent away until 3d`",
                "  • `/agent away off` when you are back; `/agent away` says where you stand",
                _BACK,
            ]
        )
    if topic == "teams":
        if isinstance(presets, Mapping):
            teams = [f"  • `{escape(name)}`: {escape(what)}" for name, what in presets.items()]
        else:
            teams = ["  " + ", ".join(f"`{escape(p)}`" for p in presets)]
        return "\n".join(
            [
                "*Teams* (`/agent --team NAME <task>`):",
                *teams,
                "*Input modes* (`--mode`, or the channel's `mode`):",
                *(f"  • `{escape(name)}`: {escape(what)}" for name, what in modes.items()),
                _BACK,
            ]
        )
    unknown = f"No help on `{safe(topic, 40)}`.\n" if topic else ""
    return unknown + "\n".join(
        [
            "*Start a run*: `/agent <task>`",
            "*Runs and approvals waiting here*: `/agent status` · *cancel a run*: `/agent cancel <run id>`",
            "*Latest decisions*: `/agent audit` · *this channel's numbers*: `/agent report`",
            "*Settings*: `/agent config` · more: `/agent help config`",
            "*Always-allow rules*: `/agent rules` · more: `/agent help rules`",
            "*Away*: `/agent away until <date or duration>` · more: `/agent help away`",
            "*API keys for your own agents*: `/agent keys` · more: `/agent help keys`",
            "*Policies in force, and what those in shadow would change*: `/agent policy`",
            "*Teams and input modes*: `/agent help teams` · *everything*: `/agent help all`",
        ]
    )


_BACK = "The short list: `/agent help`"


def show_setting(key: str, value: str) -> str:
    """A stored setting value as people read it."""
    declared = OPTIONS[key]
    return show_value(declared, declared.read(value))


def show_value(declared: Option, value: Any, *, default_approvals_channel: str = "") -> str:
    """A setting's value as people read it: people and user groups as mentions, a channel as a link, risk
    words inert; everything else is plain text (its kind's reading)."""
    kind = declared.kind
    if isinstance(kind, People):
        return people_refs(value) if value else kind.nobody_reads
    if isinstance(kind, Channel):
        return channel_ref(value or default_approvals_channel)
    if isinstance(kind, RiskWords):
        return risk_words_text(value)
    if isinstance(kind, TeamsTarget) and value:  # a conversation id, checked by its kind: no markup in it
        return f"`{escape(value)}`"
    return escape(declared.reading(value))


def risk_words_text(words: Sequence[str]) -> str:
    if not words:
        return "none"
    shown = ", ".join(safe(w, 60) for w in words)
    return shown + (" (the default)" if tuple(words) == DEFAULT_RISK_WORDS else "")


def config_text(channel: str, settings: ChannelSettings, *, default_approvals_channel: str) -> str:
    """`/agent config`: each setting declared on `settings`' class (`bot.core.channel_options`) and its value."""
    lines = [f"*Settings of {channel_ref(channel)}* (change one with `/agent config <key> <value>`)"]
    for name, declared in options_of(type(settings)).items():
        shown = show_value(declared, getattr(settings, name), default_approvals_channel=default_approvals_channel)
        lines.append(f"• `{name}`: {shown}")
    return "\n".join(lines)


def audit_text(channel: str, entries: Sequence[dict[str, str]]) -> str:
    """`/agent audit`: the channel's latest audit entries, newest first."""
    if not entries:
        return f"No audit entries for {channel_ref(channel)} yet."
    lines = [f"*Latest audit entries for {channel_ref(channel)}*"]
    for entry in entries:
        stamp = date_ref(float(entry.get("at") or 0))
        who = user_ref(entry["by"]) if entry.get("by") else "the bot"
        what = escape(entry.get("event", "?").replace("_", " "))
        detail = [f"{k} {safe(entry[k], 60)}" for k in ("outcome", "reason", "setting", "after") if entry.get(k)]
        run = f" run `{entry['run']}`" if entry.get("run") else ""
        lines.append(f"• {stamp} {what}{run} by {who}" + (f" ({', '.join(detail)})" if detail else ""))
    return "\n".join(lines)


def status_text(channel: str, runs: Sequence[RunRecord], pending: Sequence[ApprovalRecord], *, now: float) -> str:
    if not runs:
        return f"No runs in {channel_ref(channel)} yet. Start one with `/agent <task>`."
    lines = [f"*Runs in {channel_ref(channel)}* (newest first)"]
    for run in runs:
        task = safe(run.task, 80).replace("\n", " ")
        lines.append(f"• `{run.id}` {RUN_STATUS_LINE.get(run.status, run.status)} · {user_ref(run.requester)} · {task}")
    if pending:
        lines.append("*Pending approvals*")
        for approval in sorted(pending, key=lambda a: (urgency(a.sla_state), a.created_at)):
            age = format_duration(now - approval.created_at)
            left = "never times out"
            if not approval.never_times_out:
                left = f"times out in {format_duration(approval.deadline - now)}"
            where = "direct messages"
            if not approval.card_channel.startswith("D"):
                where = channel_ref(approval.card_channel)
            workflow = workflow_part(approval.workflow)
            sla = f", service level {format_duration(approval.sla_seconds)}: *{sla_word(approval)}*" if (
                approval.sla_seconds > 0) else ""
            lines.append(f"• run `{approval.run_id}` in {where}: waiting {age}, {left}{sla}{workflow}")
    else:
        lines.append("No pending approvals.")
    return "\n".join(lines)


def audit_watch_line(watched: Mapping[str, str], findings: Iterable[str]) -> str:
    """`/agent status`'s line about the audit log: the last seq the watcher verified and when (bot/audit/watch.py),
    and the integrity findings standing (their kinds)."""
    seq, at = watched.get("seq", ""), watched.get("checked", "")
    try:
        line = (f"Audit log: verified to seq {int(seq):,} ({date_ref(float(at))})" if seq and at else
                "Audit log: not verified by the watcher yet")
    except ValueError:
        line = "Audit log: not verified by the watcher yet"
    kinds = sorted(set(findings))
    return line + (f"; *integrity findings:* {', '.join(safe(k, 40) for k in kinds)}" if kinds else "")


def away_text(state: AwayState | None, principals: Sequence[str]) -> str:
    """`/agent away`: whether this person is away, until when, who decides for them, and for whom they decide."""
    if state is None:
        lines = ["You are not away. Set it with `/agent away until <date or duration> [delegate @person]`."]
    else:
        lines = [f"You are away until {date_ref(state.until)}. Reminders no longer mention you."]
        if state.delegate:
            lines.append(f"{user_ref(state.delegate)} may decide for you wherever you could (shown as theirs for you).")
        else:
            lines.append("Nobody decides for you meanwhile (add `delegate @person` to name someone).")
        lines.append("`/agent away off` when you are back.")
    if principals:
        lines.append(f"You decide for {people_refs(principals)} while they are away.")
    return "\n".join(lines)


def report_text(channel: str, lines: Sequence[str], *, days: int, busiest: str = "") -> str:
    """`/agent report`: the headline numbers (plain text lines, shown inert; the busiest approver's id
    as a mention)."""
    shown = [escape(line) for line in lines]
    if busiest and SLACK_ID.fullmatch(busiest):
        shown = [line.replace(escape(busiest), user_ref(busiest)) for line in shown]
    return "\n".join(
        [
            f"*Approvals in {channel_ref(channel)}, last {days} days*",
            *(f"• {line}" for line in shown),
            "The whole picture, with plots: `python -m bot report --since 30d --channel <id>`"
            " (docs/reviewers/report.md).",
        ]
    )
