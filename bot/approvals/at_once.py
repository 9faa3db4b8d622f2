"""What is decided before anyone is asked, stored by the store's one open step as an approval used once: the
policies' verdict (bot/policy/, `judge`: the one evaluation, for every way in), a live "always allow" rule
(`by_rule`) and the input mode (`decided`). `ApprovalService.open_request` (bot/approvals/service.py) runs them in
the issue's order: deny > ask > allow (a policy or a rule) > the channel's mode."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from agent_approvals.approver import ApprovalRequest, Decision, Outcome

from bot.approvals.opening import (
    POLICY,
    Opened,
    OpenRefused,
    ProgramAsk,
    automatic_entry,
    policy_request,
    request_record,
    rule_entry,
)
from bot.approvals.run_thread import RunThreads
from bot.core.allow_rules import Rule
from bot.core.records import ApprovalRecord, ChannelSettings, RunRecord
from bot.core.tasks import Background
from bot.policy.engine import Judged, PolicyEngine, shadow_entry
from bot.slack.blocks.rules import rule_used_line
from bot.store import Store, persistently


class AtOnce:
    """The decisions made at once for one worker's approvals (module docstring)."""

    def __init__(self, *, store: Store, threads: RunThreads, background: Background, policies: PolicyEngine) -> None:
        self.store = store
        self.policies = policies
        self._threads = threads
        self._background = background

    async def judge(
        self, request: ApprovalRequest, *, run: RunRecord, settings: ChannelSettings, program: ProgramAsk | None,
        approval: ApprovalRecord,
    ) -> Judged:
        """The policies' verdict on `request` (the one evaluation, for every way in); what shadow policies would
        have changed is audited once per approval (`policy_shadow`), in the background."""
        asked = policy_request(request, run=run, settings=settings, program=program)
        judged = await self.policies.judge(asked)
        shadow = shadow_entry(judged, approval=approval.id, request=asked)
        if shadow is not None:
            self._background.spawn(self._audit_shadow(approval.id, shadow), name=f"shadow-{approval.id}")
        return judged

    async def _audit_shadow(self, approval_id: str, entry: dict[str, str]) -> None:
        claim = self.store.keys.claim(f"policy-shadow:{approval_id}")
        await persistently(lambda: self.store.audit.append_once(claim, "policy_shadow", entry, body_digest="",
                                                                answer="", ttl=3600), what="auditing a shadow policy")

    async def by_policy(
        self, approval: ApprovalRecord, judged: Judged, *, run: RunRecord, program: ProgramAsk | None
    ) -> Opened:
        """Store `approval` as the policies allowed or refused it, at once (no card): an approval used once."""
        ruling = judged.verdict
        outcome: Outcome = "approved" if ruling.outcome == "allow" else "rejected"
        decision = Decision(approval.id, outcome, decided_by=POLICY, feedback=ruling.reason, digest=approval.digest)
        entry = automatic_entry(approval, decision, rule=f"policy {', '.join(ruling.ids)}: {ruling.reason}", run=run)
        entry["by"] = POLICY
        return await self.decided(approval, decision, run=run, program=program, audit=entry,
                                  windows=judged.windows_arg(approval.id), policy=judged)

    async def by_rule(
        self,
        request: ApprovalRequest,
        *,
        run: RunRecord,
        rules: Sequence[Rule],
        approval: ApprovalRecord | None = None,
        program: ProgramAsk | None = None,
        windows: Sequence[dict[str, Any]] = (),
    ) -> Opened | None:
        """The approval the first live rule (oldest first) that matches this tool call gives, bound to its digest
        like a person's: stored decided, its use counted and audited (`auto_approved` naming the rule) in the open
        step, and said in the run's thread. None when no rule approves it (one revoked or expired a moment ago
        does not)."""
        for rule in self._matching(request, run=run, rules=rules):
            record = approval if approval is not None else request_record(request, run=run)
            decision = Decision(request.approval_id, "approved", decided_by=f"rule {rule.id}",
                                feedback=f"auto-approved by rule {rule.id}", digest=request.digest)
            opened = await self.decided(record, decision, run=run, program=program,
                                        audit=rule_entry(record, rule, run=run), rule=rule, windows=windows)
            if opened.status != "gone":
                if opened.status == "ok":
                    self._threads.post(run, text=rule_used_line(rule))
                return opened
        return None

    async def decided(
        self,
        approval: ApprovalRecord,
        decision: Decision,
        *,
        run: RunRecord,
        program: ProgramAsk | None,
        audit: dict[str, str],
        rule: Rule | None = None,
        mode: str = "",
        windows: Sequence[dict[str, Any]] = (),
        policy: Judged | None = None,
    ) -> Opened:
        """Store `approval` as `decision` decided it at once (the input `mode`, `rule` while it stands, or the
        `policy` verdict), counted in its policy `windows` unless rejected."""
        now = time.time()
        decided = replace(approval, status=decision.outcome, decided_by=decision.decided_by, decided_at=now,
                          feedback=decision.feedback, rule_id=rule.id if rule else "", decided_by_mode=mode,
                          deadline=0.0, policy_reason=policy.verdict.reason if policy else "")
        status, approval_id = await persistently(
            partial(self.store.approvals.open, decided, once=program.once if program else None, audit=audit,
                    rule=(rule.channel, rule.id) if rule else ("", ""), now=now, windows=windows,
                    policy=policy.verdict.ids if policy else (),
                    policy_bundle=policy.bundle.hash if policy else ""),
            what=f"opening approval {approval.id}",
        )
        if status == "conflict":
            raise OpenRefused(status)
        return Opened(status, approval_id, decided=decision if status in ("ok", "exists") else None)

    def _matching(self, request: ApprovalRequest, *, run: RunRecord, rules: Sequence[Rule]) -> list[Rule]:
        """The live rules that match this tool call, oldest first (pure: nothing is used yet)."""
        if not rules:  # (most channels: nothing to parse or match)
            return []
        try:
            arguments = json.loads(request.arguments)
        except ValueError:
            return []
        now = time.time()
        return [rule for rule in rules
                if rule.approves(run=run.id, tool=request.tool_name, arguments=arguments, digest=request.digest,
                                 now=now)]

    async def rules_of(self, channel: str) -> list[Rule]:
        """The channel's rules, as stored (one Redis command; read again through a Redis blip)."""
        return await persistently(lambda: self.store.rules.candidates(channel), what=f"reading the rules of {channel}")
