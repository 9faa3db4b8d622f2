"""Remembered decisions ("always allow" rules) in Slack text: the line a rule's approval leaves in the
run's thread, and a rule in one line. Values in a rule's match come from agents: shown inert."""

from __future__ import annotations

import json

from bot.blocks.text import date_ref, safe, tool_label, user_ref
from bot.records import APPROVAL_ID
from bot.rules import Match, Rule

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
    return (example, match) if APPROVAL_ID.match(example) else None


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
