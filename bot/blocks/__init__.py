"""Pure Block Kit builders, one module per Slack surface; no Slack calls, no Redis.

- `text`: the one escaping path. Untrusted text (task, agent output, feedback) is cleaned, escaped,
  cut to Slack's limits and sent with `verbatim: true`, so it never becomes live Slack markup;
  every other module makes its text objects through it.
- `cards`: approval cards, pending and decided (and their re-posted and cut forms).
- `runs`: a run's header message and its result.
- `modals`: the Revise modal.
- `replies`: the ephemeral replies to `/agent` commands (help, status, settings, audit).

The names below are the ones the rest of the app imports from `bot.blocks`.
"""

from __future__ import annotations

from bot.blocks.cards import (
    ACTION_APPROVE,
    ACTION_REJECT,
    ACTION_REVISE,
    approval_fallback_text,
    build_approval_blocks,
    build_decided_blocks,
    build_replaced_blocks,
    decision_line,
    proposal_is_cut,
)
from bot.blocks.modals import (
    ARGUMENTS_ACTION,
    ARGUMENTS_BLOCK,
    FEEDBACK_ACTION,
    FEEDBACK_BLOCK,
    REVISE_CALLBACK_ID,
    build_revise_modal,
)
from bot.blocks.replies import audit_text, config_text, help_text, show_setting, status_text
from bot.blocks.runs import build_result_blocks, build_run_header_blocks, run_fallback_text
from bot.blocks.text import channel_ref, clean, escape, people_refs, safe, untrusted, untrusted_parts, user_ref

__all__ = [
    "ACTION_APPROVE",
    "ACTION_REJECT",
    "ACTION_REVISE",
    "ARGUMENTS_ACTION",
    "ARGUMENTS_BLOCK",
    "FEEDBACK_ACTION",
    "FEEDBACK_BLOCK",
    "REVISE_CALLBACK_ID",
    "approval_fallback_text",
    "audit_text",
    "build_approval_blocks",
    "build_decided_blocks",
    "build_replaced_blocks",
    "build_result_blocks",
    "build_revise_modal",
    "build_run_header_blocks",
    "channel_ref",
    "clean",
    "config_text",
    "decision_line",
    "escape",
    "help_text",
    "people_refs",
    "proposal_is_cut",
    "run_fallback_text",
    "safe",
    "show_setting",
    "status_text",
    "untrusted",
    "untrusted_parts",
    "user_ref",
]
