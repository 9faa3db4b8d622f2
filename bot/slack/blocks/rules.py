"""Remembered decisions ("always allow" rules) in Slack text: the line a rule's approval leaves in the
run's thread, a rule in one line, and the replies to `/agent rules` (the channel's live rules) and
`/agent rules suggest` (suggested rules with their replay and a Create button). Values in a rule's
match come from agents: shown inert."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from bot.core.allow_rules import Match, Rule
from bot.core.records import APPROVAL_ID
from bot.core.rule_suggestions import Suggestion
from bot.slack.blocks.text import (
    TEXT_BUDGET,
    channel_ref,
    context_block,
    date_ref,
    escape,
    line_sections,
    mrkdwn,
    plain,
    safe,
    tool_label,
    user_ref,
)

MATCH_LIMIT = 600
ACTION_ALWAYS_ALLOW = "approve_always"  # on a tool call's card: opens the rule modal (value: approval id)
ACTION_RULE_CREATE = "rule_create"  # on a suggestion: opens the rule modal (value: `suggestion_value`)
ACTION_RULE_REVOKE = "rule_revoke"  # on the Home: revokes a rule (value: "<channel>/<rule id>")
RULE_CALLBACK_ID = "rule_modal"  # the rule modal's submission
BUTTON_VALUE_LIMIT = 2000  # Slack's limit on a button's value


def suggestion_value(example: str, match: Match) -> str | None:
    """A suggestion's Create button value: its example approval (which holds the tool's schema) and its
    match; None when it does not fit in a button (the reply then shows the match to create by hand)."""
    value = json.dumps({"example": example, "match": match.to_json()}, separators=(",", ":"), ensure_ascii=False)
    return value if len(value) <= BUTTON_VALUE_LIMIT else None


def parse_suggestion_value(value: str) -> tuple[str, Match] | None:
    """(example approval id, match) from a Create button's value, or None when it is not one (checked
    again in full at submission: the value comes from a client)."""
    try:
        data = json.loads(value)
        example, match = str(data["example"]), Match.from_json(str(data["match"]))
    except (ValueError, KeyError, TypeError):
        return None
    return (example, match) if APPROVAL_ID.fullmatch(example) else None


def scope_text(rule: Rule) -> str:
    return f"run `{rule.run}`" if rule.scope == "run" else "this channel"


def match_text(rule: Rule, limit: int = MATCH_LIMIT) -> str:
    """What the rule matches, inert: the tool as code, the conditions escaped."""
    described = rule.match.describe()
    rest = described[len(rule.match.tool) :]
    return tool_label(rule.match.tool) + safe(rest, limit)


def rule_used_line(rule: Rule) -> str:
    """The thread's line when a rule approved a call, e.g. ":white_check_mark: `send_email` auto-approved
    by rule R7 (by @alice, expires …)"."""
    return (
        f":white_check_mark: {tool_label(rule.match.tool)} auto-approved by rule {rule.id}"
        f" (by {user_ref(rule.created_by)}, expires {date_ref(rule.expires_at)}): {match_text(rule)}"
    )


# ------------------------------------------------------------------------------ `/agent rules` replies

LIST_MATCH_LIMIT = 300  # a rule's match in the list
COMPACT_MATCH_LIMIT = 80  # ... when the list is long (up to 100 rules share one message)
SUGGESTION_MATCH_LIMIT = 1200
HAND_MATCH_LIMIT = 2500  # a suggestion too long for a button is shown longer, to be created by hand
ALWAYS_ALLOW = escape("Approve & always allow")  # the card's button, in mrkdwn
HOW_RULES_ARE_MADE = (
    f"A rule is made on a tool call's card with *{ALWAYS_ALLOW}*: it approves that card and, until it"
    " expires or is revoked, every matching call without a card (for the run, or for the whole channel)."
)


def describe_match(match: Match, limit: int = MATCH_LIMIT) -> str:
    """A match in words, inert: the tool as code, the conditions escaped (`match_text` of a bare match)."""
    described = match.describe()
    return tool_label(match.tool) + safe(described[len(match.tool) :], limit)


def rule_line(rule: Rule, *, compact: bool = False) -> str:
    """One rule in `/agent rules`: id, scope, who made it and when, expiry, uses, then what it matches.
    `compact`: dates as UTC text (a date in each reader's time zone takes 75 characters) and a shorter match."""
    uses = f"{rule.uses} call{'' if rule.uses == 1 else 's'} approved"
    if compact:
        made, expires = _utc(rule.created_at, "%Y-%m-%d"), _utc(rule.expires_at, "%Y-%m-%d %H:%M UTC")
        limit = COMPACT_MATCH_LIMIT
    else:
        made, expires, limit = date_ref(rule.created_at), date_ref(rule.expires_at), LIST_MATCH_LIMIT
    return (
        f"• *{safe(rule.id, 12)}* · {scope_text(rule)} · by {user_ref(rule.created_by)} {made} · expires {expires}"
        f" · {uses}\n      {match_text(rule, limit)}"
    )


def _utc(epoch: float, form: str) -> str:
    return time.strftime(form, time.gmtime(epoch))


def rules_reply(channel: str, rules: Sequence[Rule]) -> dict[str, Any]:
    """`/agent rules`: the channel's live rules (oldest first), several to a section, within one message's
    limits (the rules that do not fit are counted: "and N more")."""
    where = channel_ref(channel)
    if not rules:
        text = (
            f"No live rules in {where}: every tool call that needs approval gets a card. {HOW_RULES_ARE_MADE}"
            " `/agent rules suggest` proposes rules from the calls people here approved."
        )
        return {"text": text}
    count = f"{len(rules)} live rule{'' if len(rules) == 1 else 's'}"
    intro = (
        f"*{count} in {where}* (oldest first). Each approves matching tool calls without a card until it expires"
        f" or is revoked. Revoke one with `/agent rules revoke {escape('<rule id>')}` (its creator or a named admin)."
    )
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(intro)}]
    budget = TEXT_BUDGET - len(intro) - 200  # room for the "and N more" line
    compact = sum(len(rule_line(rule)) + 1 for rule in rules) > budget
    listed, shown = line_sections((rule_line(rule, compact=compact) for rule in rules), budget)
    blocks += listed
    if shown < len(rules):
        more = len(rules) - shown
        blocks.append(
            context_block(
                f"…and {more} more rule{'' if more == 1 else 's'} not shown: the newest (the App Home shows admins"
                " the newest of each of their channels)."
            )
        )
    return {"text": f"{count} in {where}.", "blocks": blocks}


def suggestions_reply(
    channel: str, suggestions: Sequence[Suggestion], *, min_approved: int, days: int, admin: bool
) -> dict[str, Any]:
    """`/agent rules suggest`: each suggested rule, its match and its replay on the audit log, and a
    *Create rule…* button (`ACTION_RULE_CREATE`) when its value fits; or why there is none."""
    where = channel_ref(channel)
    times = "once" if min_approved == 1 else f"{min_approved} times"
    if not suggestions:
        return {
            "text": (
                f"No rule to suggest for {where}: in the last {days} days no tool call here was approved {times}"
                " or more without a rejected or revised call that the same rule would also have approved."
                f" {HOW_RULES_ARE_MADE}"
            )
        }
    intro = (
        f"*Suggested rules for {where}*: each would have approved calls people here approved at least {times} in"
        f" the last {days} days, and none they rejected or revised (replayed on the audit log)."
    )
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(intro)}]
    budget = TEXT_BUDGET - len(intro) - 600
    for number, suggestion in enumerate(suggestions, start=1):
        value = suggestion_value(suggestion.example, suggestion.match)
        left = len(suggestions) - number + 1
        limit = min(HAND_MATCH_LIMIT if value is None else SUGGESTION_MATCH_LIMIT, max(200, budget // left - 200))
        text = f"*{number}.* {describe_match(suggestion.match, limit)}\n_Replay:_ {suggestion.replay()}."
        if value is None:
            text += (
                "\nThis rule is too long for a button: create it by hand from a card of such a call"
                f" (*{ALWAYS_ALLOW}*, with the conditions above)."
            )
        block: dict[str, Any] = {"type": "section", "block_id": f"rule_suggestion_{number}", "text": mrkdwn(text)}
        if value is not None:
            block["accessory"] = {
                "type": "button",
                "action_id": ACTION_RULE_CREATE,
                "text": plain("Create rule…"),
                "value": value,
            }
        blocks.append(block)
        budget -= len(text)
    rights = (
        "Creating a rule for the whole channel needs a named admin (the channel's `admins`, or ADMIN_USERS);"
        " you choose its expiry (1 hour to 30 days) when you create it."
    )
    if not admin:
        rights += " You are not a named admin here: ask one to create it."
    blocks.append(context_block(rights))
    count = f"{len(suggestions)} suggested rule{'' if len(suggestions) == 1 else 's'}"
    return {"text": f"{count} for {where}.", "blocks": blocks}
