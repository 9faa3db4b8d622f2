"""A decision in words, said once for every client: who decided (`who_decided`) and what an agent's model reads when
its call does not run (`refusal_of`; `used_already` when another process used its approval). The Approvals API
sends both with every approval (`who`, `refusal`: bot/api/service.py `view`), and the bot's own runs give them to
their tools with each `Decision` (`worded`): no client composes them. Pure.
"""

from __future__ import annotations

import dataclasses
import json

from agent_approvals.approver import AUTO, Decision, parse_revision

FROZEN_BY = "freeze"  # the `decided_by` of an ask a frozen scope refused (bot/approvals/deciders/freeze.py)


def who_decided(decision: Decision, *, name: str = "") -> str:
    """Who decided, in words: "@bob" (the reviewer's display `name`; their user id while none is known), "rule R1",
    "the input mode", "policy", "timeout", "the bot"."""
    by = decision.decided_by
    kind, _, rule_id = by.partition(" ")
    if kind == "rule" and rule_id.strip():
        return f"rule {rule_id.strip()}"
    if by == AUTO:
        return "the input mode"
    if by == "timeout" or (decision.outcome == "timed_out" and not by):
        return "timeout"
    if by == "system":
        return "the bot"
    if by == FROZEN_BY:
        return "the freeze"
    name = name.strip().lstrip("@")
    return f"@{name}" if name else by


def refusal_of(decision: Decision, *, who: str) -> str | None:
    """What an agent's model reads when its call does not run on `decision` (the one wording of every integration,
    the MCP gateway and AutoGen's tools alike): who refused it and why, that nobody decided in time, that it was
    cancelled, or the revision asked for (quoting edited arguments, so the model may call again with them: that call
    is asked about again). None when the call may run."""
    if decision.approves:
        return None
    who = who or "a reviewer"
    said = decision.feedback.strip()
    if decision.outcome == "timed_out":
        return f"Not run: nobody decided in time ({said or 'timed out'})."
    if decision.outcome == "cancelled":
        return f"Not run: cancelled ({said or 'cancelled'})."
    if decision.outcome == "revised":
        revision = parse_revision(decision.feedback)
        edit = f" Edited arguments to use instead: {json.dumps(revision[0])}." if revision is not None else ""
        note = revision[1].strip() if revision is not None else said
        return f"Not run: {who} asked for a revision.{f' {note}' if note else ''}{edit}"
    if decision.decided_by == FROZEN_BY:  # the freeze's own words: "frozen: <reason> (scope …, by …)"
        return f"Not run: {said or 'frozen'}"
    return f"Not run: rejected by {who}: {said or 'no reason given'}"


def used_already(approval_id: str) -> str:
    """What a model reads when the approval of its call was used by another process (which may have run it)."""
    return f"Not run: approval {approval_id} was used already (the call may have run); call again to be asked again."


def worded(decision: Decision, *, name: str = "") -> Decision:
    """`decision` carrying its words (`Decision.who`, `Decision.refusal`), as an agent's tools print them."""
    who = who_decided(decision, name=name)
    return dataclasses.replace(decision, who=who, refusal=refusal_of(decision, who=who))
