"""Ephemeral replies to `/agent` commands: help, status, settings and the audit log (the rules' replies
are in `bot.slack.blocks.rules`).

Names and values people typed (risk words, tasks, audit details) are untrusted and made inert by
`bot.slack.blocks.text`; mentions and channel links are made there only from checked ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agent_approvals.modes import DEFAULT_RISK_WORDS, MODE_DESCRIPTIONS, risk_words_setting

from bot.core.durations import format_duration
from bot.core.records import SLACK_ID, ApprovalRecord, AwayState, ChannelSettings, RunRecord
from bot.slack.blocks.runs import RUN_STATUS_LINE
from bot.slack.blocks.text import channel_ref, date_ref, escape, people_refs, safe, user_ref


def help_text(*, presets: Sequence[str] | Mapping[str, str], modes: Mapping[str, str] = MODE_DESCRIPTIONS) -> str:
    """`/agent help`. `presets`: names, or names and what each team does."""
    if isinstance(presets, Mapping):
        teams = "\n".join(f"  • `{escape(name)}`: {escape(what)}" for name, what in presets.items())
    else:
        teams = "  " + ", ".join(f"`{escape(p)}`" for p in presets)
    return "\n".join(
        [
            "*Start a run*: `/agent <task>`, e.g. `/agent Draft an email to our vendor asking for a 10% discount`",
            "  or `/agent --team NAME --mode MODE <task>`",
            "*See this channel's runs and pending approvals*: `/agent status`",
            "*Cancel a run*: `/agent cancel <run id>`",
            "*Settings*: `/agent config` shows them; `/agent config <key> <value>` changes one:",
            "  • `timeout <duration>|never`: how long a card waits (90, 90s, 15m, 2h, 1d; 1s to 7d)",
            "  • `remind 15m,1h|off`: reminders after a request; `escalate_after 30m|off` and"
            " `escalate_to @people @groups|none`: who else may decide after that",
            "  • `timeout_outcome reject|approve`: what a timeout means;"
            " `timeout_approves_tools true|false`: whether approve also covers tool calls and code",
            "  • `approvers anyone|@people @groups`, `required_approvals N`, `allow_self_approval true|false`",
            "  • `approvals_channel #channel`, `deliver channel|dm|both` (cards by DM to the approvers),"
            " `admins anyone|@people`",
            "  • `mode MODE`, `max_auto_replies N`, `risk_words a, b, c|default|none`, `checkpoint_every N` (0: off)",
            "*This channel's latest decisions*: `/agent audit`",
            "*Away*: `/agent away until <date or duration> [delegate @person]`, `/agent away off`, `/agent away`",
            "*Remembered decisions* (rules that approve matching tool calls without a card; made with a tool"
            f" call card's *{escape('Approve & always allow')}*):",
            "  • `/agent rules`: this channel's live rules; `/agent rules revoke <rule id>` (e.g. `R7`)",
            "  • `/agent rules suggest [N]`: rules that would have approved calls people here approved at least N"
            " times (default 3) and none they rejected or revised",
            "*Your own agents* (they ask through the Approvals API with a key; only people decide):",
            "  • `/agent keys`: the keys that may ask here; `/agent keys create <name>` (admins; shown once),"
            " `/agent keys revoke <name>`",
            "*Teams* (`--team`):",
            teams,
            "*Input modes* (`--mode`, or the channel's `mode`):",
            *(f"  • `{escape(name)}`: {escape(what)}" for name, what in modes.items()),
            "*Help*: `/agent help`",
        ]
    )


def show_setting(key: str, value: str) -> str:
    """A stored setting value as people read it."""
    if key in ("timeout", "escalate_after"):
        if value.isdigit() and int(value):
            return format_duration(int(value))
        return "never" if key == "timeout" else "off"
    if key == "remind":
        seconds = [int(v) for v in value.split(",") if v.isdigit()]
        return ", ".join(format_duration(v) for v in seconds) if seconds else "off"
    if key in ("approvers", "admins"):
        return people_refs([] if value in ("", "anyone") else value.split(","))
    if key == "escalate_to":
        return "nobody" if value in ("", "none") else people_refs(value.split(","))
    if key == "approvals_channel":
        return channel_ref(value)
    if key == "risk_words":
        return risk_words_text(risk_words_setting(value))
    if key == "checkpoint_every" and value == "0":
        return "0 (off)"
    return escape(value)


def risk_words_text(words: Sequence[str]) -> str:
    if not words:
        return "none"
    shown = ", ".join(safe(w, 60) for w in words)
    return shown + (" (the default)" if tuple(words) == DEFAULT_RISK_WORDS else "")


def config_text(channel: str, settings: ChannelSettings, *, default_approvals_channel: str) -> str:
    admins = people_refs(settings.admins) if settings.admins else "anyone in the channel"
    return "\n".join(
        [
            f"*Settings of {channel_ref(channel)}* (change one with `/agent config <key> <value>`)",
            f"• `timeout`: {format_duration(settings.timeout) if settings.timeout else 'never'}",
            f"• `timeout_outcome`: {settings.timeout_outcome}",
            f"• `timeout_approves_tools`: {'true' if settings.timeout_approves_tools else 'false'}",
            f"• `approvers`: {people_refs(settings.approvers)}",
            f"• `required_approvals`: {settings.required_approvals}",
            f"• `allow_self_approval`: {'true' if settings.allow_self_approval else 'false'}",
            f"• `deliver`: {settings.deliver}",
            f"• `remind`: {', '.join(format_duration(s) for s in settings.remind) or 'off'}",
            f"• `escalate_after`: {format_duration(settings.escalate_after) if settings.escalate_after else 'off'}",
            f"• `escalate_to`: {people_refs(settings.escalate_to) if settings.escalate_to else 'nobody'}",
            f"• `approvals_channel`: {channel_ref(settings.approvals_channel or default_approvals_channel)}",
            f"• `admins`: {admins}",
            f"• `mode`: {escape(settings.mode)}",
            f"• `max_auto_replies`: {settings.max_auto_replies}",
            f"• `risk_words`: {risk_words_text(settings.risk_words)}",
            f"• `checkpoint_every`: {settings.checkpoint_every or '0 (off)'}",
        ]
    )


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
        for approval in sorted(pending, key=lambda a: a.created_at):
            age = format_duration(now - approval.created_at)
            left = "never times out"
            if not approval.never_times_out:
                left = f"times out in {format_duration(approval.deadline - now)}"
            where = "direct messages"
            if not approval.card_channel.startswith("D"):
                where = channel_ref(approval.card_channel)
            lines.append(f"• run `{approval.run_id}` in {where}: waiting {age}, {left}")
    else:
        lines.append("No pending approvals.")
    return "\n".join(lines)


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
            "The whole picture, with plots: `python -m bot report --since 30d --channel <id>` (README: Report).",
        ]
    )
