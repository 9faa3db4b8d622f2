"""The input mode's link: a run's gate's verdict (with its count of automatic steps, `agent_approvals.modes`), or the
channel's mode on a program's ask (`program_mode`). Decided (approved, refused, a user proxy's turn answered
"continue"): stored like every decision made at once (`automatic_entry`). Else a person would be asked: the card says
the mode's reason (a checkpoint...), and the step goes on to the rules. The mode has no say on what a policy routed
to a person (the shipped default policy's risk words included: they are the policies', matched once there), nor on
a call a program's own allow-list let through."""

from __future__ import annotations

import time
from dataclasses import replace

from agent_approvals.approver import ApprovalRequest, Decision
from agent_approvals.modes import InputPolicy, Verdict, parse_mode
from agent_approvals.modes import verdict as mode_verdict

from bot.approvals.chain import Decided, Step
from bot.core.records import ApprovalRecord, ChannelSettings, RunRecord


class Mode:
    """The input mode's link (the module docstring)."""

    async def decide(self, step: Step) -> Step | Decided:
        ask, approval = step.ask, step.approval
        if step.routed_by or ask.listed:
            return step
        mode = ask.mode if ask.mode is not None else program_mode(ask.request, ask.settings)
        if mode.decision is None:
            if not mode.rule or mode.rule in approval.why:
                return step
            why = f"{approval.why}\n{mode.rule}" if approval.why else mode.rule
            return replace(step, approval=replace(approval, why=why))
        decision = replace(mode.decision, approval_id=approval.id)
        named = ask.run.mode or ask.settings.mode if ask.program is None else ask.settings.mode
        return Decided(step, decision, automatic_entry(approval, decision, rule=mode.rule, run=ask.run), mode=named)


def program_mode(request: ApprovalRequest, settings: ChannelSettings) -> Verdict:
    """The channel's input mode on a program's ask (pure): approved or rejected at once, or a person asked. The
    table is the agent side's (`agent_approvals.modes.verdict`, which a run's own gate applies too), read for a
    program's ask: no turns, no count, and no risk words (the policies' link matched them, for the shipped default
    policy)."""
    policy = InputPolicy(mode=parse_mode(settings.mode), risk_words=())
    return mode_verdict(request, policy, program=True)


def automatic_entry(approval: ApprovalRecord, decision: Decision, *, rule: str, run: RunRecord) -> dict[str, str]:
    """The `auto_approved` / `auto_rejected` audit entry of a step decided at once (the mode's "continue" to a user
    proxy's turn is approved: the run goes on)."""
    rejected = decision.outcome == "rejected"
    return {
        "event": "auto_rejected" if rejected else "auto_approved",
        "at": repr(time.time()),
        "approval": approval.id,
        "run": run.id,
        "by": "auto",
        "outcome": "rejected" if rejected else "approved",
        "rule": rule[:500],
        "kind": approval.kind,
        "tool": approval.tool_name,
        "origin_channel": run.channel,
        "mode": run.mode or "always",
        **({"key": approval.asked_by} if approval.asked_by else {}),
    }
