"""Pure Block Kit builders, one module per Slack surface; no Slack calls, no Redis.

    text.py             the one escaping path. Untrusted text (task, agent output, feedback) is cleaned,
                        escaped, cut to Slack's limits and sent with `verbatim: true`, so it never becomes live
                        Slack markup; every other module makes its text objects through it
    approval_card.py    approval cards, pending and decided (and their re-posted and cut forms)
    card_notes.py       a card's lines around the change: who asked, the notes under it (why, policy, ticket, ...)
    arguments.py        a tool's parameters and a call's arguments, shown inert (cut on a card)
    changes.py          the change an ask's artefacts make, on its card: the summary, each file's first hunk, a
                        command, message or query, and the link to the whole change (`/approvals/{id}/diff`)
    runs.py             a run's header message, its result, its thread's line while it waits
    decision_modals.py  the modals of one decision: Revise, Reject, a proposal's full text, a notice
    artifact_modals.py  the Revise modal of a change (#79): a message's body or a file's new text to edit
    claims.py           what the asker says, shown as said: "The agent says: …", a program's title as its words,
                        the durable workflow it names, the plain one-sentence summary (a model's labelled so)
    batch_modals.py     deciding several approvals at once from the App Home (choose, confirm exactly what
                        will be decided, the result)
    rule_modals.py      the "Always allow" modal (a rule made from a tool call) and what creating the rule did
    rules.py            "always allow" rules in Slack text: a rule's line in a run's thread, `/agent rules`
                        and `/agent rules suggest`
    home.py             the App Home (the approvals waiting for a person, page by page, their runs, their
                        decisions)
    passkeys.py         passkeys: the Home's "Passkeys" section, the modal with a one-time link, the replies
                        of `/agent passkeys revoke`
    nudges.py           reminders and escalations in a card's thread, and the card's "Escalated to" note
    replies.py          the ephemeral replies to `/agent` commands (help, status, settings, audit)
    keys.py             the replies of `/agent keys`: a channel's API keys, a new key shown once
    freeze.py           frozen scopes (`/agent freeze`): as people read them, the lines of `/agent status` and
                        the admins' Home
    policy.py           the reply of `/agent policy`: the policy bundle in force and what its shadow policies
                        would have changed
    oversight.py        the channel admins' weekly oversight digest: its Home lines and its direct message
    slackbot.py         Slackbot's `_meta.slack.blocks`: what waits for whom, what came of it, the `tool:` button

The names below are the ones the rest of the app imports from `bot.slack.blocks`."""

from __future__ import annotations

from bot.slack.blocks.approval_card import (
    ACTION_APPROVE,
    ACTION_DETAILS,
    ACTION_FULL_TEXT,
    ACTION_REJECT,
    ACTION_REVISE,
    approval_fallback_text,
    build_approval_blocks,
    build_decided_blocks,
    build_replaced_blocks,
    decision_buttons,
    decision_line,
    item_summary,
    proposal_is_cut,
    proposal_text,
)
from bot.slack.blocks.decision_modals import (
    ARGUMENTS_ACTION,
    ARGUMENTS_BLOCK,
    FEEDBACK_ACTION,
    FEEDBACK_BLOCK,
    REASON_ACTION,
    REASON_BLOCK,
    REJECT_CALLBACK_ID,
    REVISE_CALLBACK_ID,
    build_full_text_modal,
    build_notice_modal,
    build_reject_modal,
    build_revise_modal,
)
from bot.slack.blocks.home import (
    ACTION_HOME_BATCH,
    ACTION_HOME_PAGE,
    HOME_PAGE_SIZE,
    HomeContent,
    build_home_view,
)
from bot.slack.blocks.nudges import escalated_line, escalation_text, reminder_text, time_left
from bot.slack.blocks.replies import (
    audit_text,
    audit_watch_line,
    away_text,
    config_text,
    help_reply,
    help_text,
    report_text,
    show_setting,
    status_text,
)
from bot.slack.blocks.runs import build_result_blocks, build_run_header_blocks, run_fallback_text
from bot.slack.blocks.text import (
    channel_ref,
    clean,
    date_ref,
    escape,
    people_refs,
    safe,
    untrusted,
    untrusted_parts,
    user_ref,
)

__all__ = [
    "ACTION_APPROVE",
    "ACTION_DETAILS",
    "ACTION_FULL_TEXT",
    "ACTION_HOME_BATCH",
    "ACTION_HOME_PAGE",
    "ACTION_REJECT",
    "ACTION_REVISE",
    "ARGUMENTS_ACTION",
    "ARGUMENTS_BLOCK",
    "FEEDBACK_ACTION",
    "FEEDBACK_BLOCK",
    "HOME_PAGE_SIZE",
    "REASON_ACTION",
    "REASON_BLOCK",
    "REJECT_CALLBACK_ID",
    "REVISE_CALLBACK_ID",
    "HomeContent",
    "approval_fallback_text",
    "audit_text",
    "audit_watch_line",
    "away_text",
    "build_approval_blocks",
    "build_decided_blocks",
    "build_full_text_modal",
    "build_home_view",
    "build_notice_modal",
    "build_reject_modal",
    "build_replaced_blocks",
    "build_result_blocks",
    "build_revise_modal",
    "build_run_header_blocks",
    "channel_ref",
    "clean",
    "config_text",
    "date_ref",
    "decision_buttons",
    "decision_line",
    "escalated_line",
    "escalation_text",
    "escape",
    "help_reply",
    "help_text",
    "item_summary",
    "people_refs",
    "proposal_is_cut",
    "proposal_text",
    "reminder_text",
    "report_text",
    "run_fallback_text",
    "safe",
    "show_setting",
    "status_text",
    "time_left",
    "untrusted",
    "untrusted_parts",
    "user_ref",
]
