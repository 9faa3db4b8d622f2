"""Block Kit for Slackbot's MCP client (`_meta.slack.blocks` of a `tools/call` result, slackbot_tools.py): what
waits for whom, with a link to its card and the `tool:approval_result` button, and what came of it. Only blocks
Slackbot renders (section, context, actions, header, divider), at most a handful, https links only; a button's
`action_id` is `tool:<tool>` and its `value` that tool's arguments as a JSON object string: Slackbot calls the
tool when it is clicked and shows the blocks it returns instead."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.slack.blocks.text import Block, context_block, mrkdwn, people_refs, plain, safe, tool_label, untrusted

RESULT_TOOL = "approval_result"  # the tool Slackbot calls when its button is clicked
STATUS_WORDS = {
    "pending": "waits for a decision", "approved": "was approved", "rejected": "was rejected",
    "revised": "was sent back with feedback", "timed_out": "timed out", "cancelled": "was withdrawn",
}


def result_button(approval_id: str, *, label: str = "Get the result") -> Block:
    """The actions block whose button makes Slackbot call `approval_result` for `approval_id`."""
    value = json.dumps({"approval_id": approval_id}, separators=(",", ":"))
    return {"type": "actions", "elements": [{
        "type": "button", "action_id": f"tool:{RESULT_TOOL}", "text": plain(label, 75), "value": value}]}


def card_link(url: str) -> str:
    """`<url|its card>` for an https card address (Slackbot opens public https links only), else the words."""
    return f"<{url}|its card>" if url.startswith("https://") and "|" not in url and ">" not in url else "its card"


def build_waiting_blocks(view: Mapping[str, Any], *, approvers: Sequence[str], needed: int) -> list[Block]:
    """A call that waits for people: the tool, who may decide (`approvers`: anyone but the requester when none
    are named), how many approvals it needs, where its card is, and the button that fetches the result."""
    who = people_refs(list(approvers)) if approvers else "an approver other than you"
    count = f"{needed} approvals" if needed > 1 else "one approval"
    lines = [f":hourglass_flowing_sand: *{tool_label(str(view.get('tool', '')))} waits for a decision* before it runs.",
             f"It needs {count} from {who} ({card_link(str(view.get('card_url', '')))}). You cannot approve it"
             " yourself; you will get the outcome by direct message."]
    return [
        {"type": "section", "text": mrkdwn("\n".join(lines))},
        context_block(f"Approval `{safe(str(view.get('id', '')), 40)}`: {safe(str(view.get('title', '')), 200)}"),
        result_button(str(view.get("id", ""))),
    ]


def build_outcome_blocks(view: Mapping[str, Any], *, result_text: str = "", ran: bool = False) -> list[Block]:
    """What came of a call: not approved (who said so and why), or approved and run (its result, inert), or
    approved and not run yet (the button again)."""
    status = str(view.get("status", ""))
    tool = tool_label(str(view.get("tool", "")))
    words = STATUS_WORDS.get(status, status)
    who = str(view.get("who") or "")
    head = f"*{tool} {words}*" + (f" ({safe(who, 200)})" if who else "") + "."
    blocks: list[Block] = [{"type": "section", "text": mrkdwn(head)}]
    reason = str(view.get("reason") or "")
    if reason and status != "approved":
        blocks.append({"type": "section", "text": untrusted(reason, label="Reason")})
    if ran:
        blocks.append({"type": "section", "text": untrusted(result_text, label="Result")})
    elif status == "pending" or (status == "approved" and not ran):
        blocks.append(result_button(str(view.get("id", "")), label="Check again"))
    return blocks


def build_outcome_text(text: str) -> str:
    """The direct message that tells the requester what came of their call (the upstream's words made inert)."""
    return ":robot_face: Your Slackbot request: " + safe(text, 2900)


def build_refused_blocks(text: str) -> list[Block]:
    """A call refused before anyone was asked (bad arguments, a refusal of the bot): why, inert."""
    return [{"type": "section", "text": untrusted(text)}]
