"""The rules' link: the first live "always allow" rule (oldest first) that matches a tool call approves it, bound to
its digest like a person's approval: stored decided, its use counted and audited (`auto_approved` naming the rule,
`rule_entry`) in the open step, and said in the run's thread. The channel's rules are read here, only where a person
would be asked (one Redis command). One revoked or expired a moment ago does not approve (the store says "gone": the
walk starts again, the rules read anew), and none approves what needs step-up (only a person's vote confirmed by
their passkey does), nor a call a program's own allow-list let through (its own rule). What the run's thread says
of a rule's use is the surface's words (`line`, given by the root: Slack's `rule_used_line`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from agent_approvals.approver import ApprovalRequest, Decision

from bot.approvals.chain import Ask, Decided, Step
from bot.core.allow_rules import Rule
from bot.core.records import ApprovalRecord, RunRecord
from bot.store import Store, persistently


class Rules:
    """The rules' link (the module docstring)."""

    def __init__(self, store: Store, *, line: Callable[[Rule], str]) -> None:
        self._store = store
        self._line = line  # the run thread's line of a rule's use

    async def decide(self, step: Step) -> Step | Decided:
        ask = step.ask
        if step.approval.step_up or ask.listed or not rule_may_decide(ask.request):
            return step
        matched = self.matching(ask, await self.rules_of(ask.run.channel))
        if not matched:
            return step
        rule = matched[0]
        decision = Decision(ask.request.approval_id, "approved", decided_by=f"rule {rule.id}",
                            feedback=f"auto-approved by rule {rule.id}", digest=ask.request.digest)
        return Decided(step, decision, rule_entry(step.approval, rule, run=ask.run), rule=rule,
                       line=self._line(rule))

    async def rules_of(self, channel: str) -> list[Rule]:
        """The channel's rules, as stored (one Redis command; read again through a Redis blip)."""
        return await persistently(lambda: self._store.rules.candidates(channel),
                                  what=f"reading the rules of {channel}")

    @staticmethod
    def matching(ask: Ask, rules: list[Rule]) -> list[Rule]:
        """The live `rules` that match this tool call, oldest first (pure: nothing is used yet)."""
        if not rules:
            return []
        try:
            arguments = json.loads(ask.request.arguments)
        except ValueError:
            return []
        now, request = time.time(), ask.request
        return [rule for rule in rules
                if rule.approves(run=ask.run.id, tool=request.tool_name, arguments=arguments, digest=request.digest,
                                 now=now)]


def rule_may_decide(request: ApprovalRequest) -> bool:
    """Whether an "always allow" rule may decide this request: a tool call whose arguments pass the tool's
    schema, and not one that may have run already (only a person approves that again)."""
    if request.kind != "tool_call" or not request.arguments:
        return False
    return not request.schema_error and not request.maybe_ran


def rule_entry(approval: ApprovalRecord, rule: Rule, *, run: RunRecord) -> dict[str, str]:
    """The `auto_approved` audit entry of a call an "always allow" rule approved (its uses are added by the step)."""
    expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(rule.expires_at))
    return {
        "event": "auto_approved",
        "at": repr(time.time()),
        "approval": approval.id,
        "run": run.id,
        "by": "rule",
        "outcome": "approved",
        "rule": f"rule {rule.id} (by {rule.created_by}, expires {expires}): {rule.match.describe()}"[:500],
        "rule_id": rule.id,
        "rule_by": rule.created_by,
        "kind": approval.kind,
        "tool": approval.tool_name,
        "digest": approval.digest,
        "origin_channel": run.channel,
        "mode": run.mode or "always",
        **({"key": approval.asked_by} if approval.asked_by else {}),
    }
