"""The policies' link: the walk's one evaluation (`PolicyEngine.judge`, bot/policy/), with the request as the
policies see it (`policy_request`: the input mode and the first risk word it matches, read once here, for the
shipped default policy), then deny or allow at once, or an ask that routes the approval to a person (`routed`: a
policy is a floor no channel setting lowers). The shipped default policy (the `policy` mode's risk words) has no
opinion of its own over the bundle's: when it asks, the approval is routed by it and goes on to the rules (a rule,
an answer given in advance, may still approve it); the mode does not decide it. An ask whose policies say
`@triage("model")` is read by that model first (bot/approvals/triage.py): decided by it only where they let it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from agent_approvals.approver import POLICY, ApprovalRequest, Decision, Outcome
from agent_approvals.modes import matched_risk_word, parse_mode

from bot.approvals.chain import Decided, Step
from bot.approvals.deciders.mode import automatic_entry
from bot.approvals.opening import ProgramAsk, with_policy_sla
from bot.approvals.triage import Triage
from bot.core.attestations import needed
from bot.core.records import ApprovalRecord, ChannelSettings, RunRecord
from bot.core.tasks import Background
from bot.policy.decide import PolicyRequest, PolicyVerdict, workflow_of
from bot.policy.engine import Judged, PolicyEngine, shadow_entry
from bot.store import Store, persistently


class Policies:
    """The policies' link (the module docstring). `admin_users`: ADMIN_USERS, named admins of every channel (who
    decides an ask a policy that could not be evaluated routes to nobody)."""

    def __init__(self, engine: PolicyEngine, *, store: Store, background: Background,
                 admin_users: Sequence[str] = (), triage: Triage | None = None) -> None:
        self.engine = engine
        self.triage = triage  # the triage model of an ask whose policies say @triage (bot/approvals/triage.py)
        self.admin_users = tuple(admin_users)
        self._store = store
        self._background = background

    async def decide(self, step: Step) -> Step | Decided:
        """Deny or allow at once (no card), an ask routed to a person, or the step passed on with the verdict."""
        judged = await self.judge(step)
        ruling, ask = judged.verdict, step.ask
        approval = replace(step.approval, policy=policy_claim(judged), step_up=step_up_of(ruling, ask.settings),
                           attest=tuple(dict.fromkeys((*needed(policies=ruling.attestations), *step.approval.attest))),
                           require_details="policy" if ruling.outcome == "ask" and ruling.require_details else "")
        step = replace(step, approval=approval, judged=judged)
        if ruling.outcome == "ask":
            admins = (*ask.settings.admins, *self.admin_users)
            approval = with_policy_sla(routed(approval, ruling, admins=admins, floor=True), ruling.sla, ask.settings)
            step = replace(step, approval=approval, to_person=True, routed_by=tuple(ruling.ids))
            if self.triage is not None and ruling.triage and not (ask.quiet or ask.listed):
                return await self.triage.read(step, judged)  # (a walk opening nothing is not read: `Ask.quiet`)
            return step
        if ruling.outcome in ("deny", "allow"):
            outcome: Outcome = "approved" if ruling.outcome == "allow" else "rejected"
            approval = replace(approval, policy_reason=ruling.reason)  # (the chain hides it with the others)
            step = replace(step, approval=approval)
            decision = Decision(approval.id, outcome, decided_by=POLICY, feedback=ruling.reason,
                                digest=approval.digest)
            entry = automatic_entry(approval, decision, rule=f"policy {', '.join(ruling.ids)}: {ruling.reason}",
                                    run=ask.run)
            return Decided(step, decision, {**entry, "by": POLICY}, policy=judged)
        fallback = ruling.fallback  # the shipped default policy asks (a risk word): routed, the rules come next
        if fallback is None:
            return step
        approval = replace(approval, policy=policy_claim(judged, fallback.ids))
        return replace(step, approval=routed(approval, fallback), routed_by=tuple(fallback.ids))

    async def judge(self, step: Step) -> Judged:
        """The policies' verdict on the request (the one evaluation, for every way in); what shadow policies would
        have changed is audited once per approval (`policy_shadow`), in the background."""
        ask, approval_id = step.ask, step.approval.id
        asked = policy_request(ask.request, run=ask.run, settings=ask.settings, program=ask.program)
        judged = await self.engine.judge(asked)
        shadow = shadow_entry(judged, approval=approval_id, request=asked)
        if shadow is not None:
            self._background.spawn(self._audit_shadow(approval_id, shadow), name=f"shadow-{approval_id}")
        return judged

    async def _audit_shadow(self, approval_id: str, entry: dict[str, str]) -> None:
        claim = self._store.keys.claim(f"policy-shadow:{approval_id}")
        await persistently(lambda: self._store.audit.append_once(claim, "policy_shadow", entry, body_digest="",
                                                                 answer="", ttl=3600), what="auditing a shadow policy")


def policy_request(
    request: ApprovalRequest, *, run: RunRecord, settings: ChannelSettings, program: ProgramAsk | None
) -> PolicyRequest:
    """`request` as the policies see it (bot/policy/decide.py): a program's key (`Agent`) or the bot's own run
    (`Run`, with its requester), the tool (or "message", "code"), the channel, the call's arguments, and the
    first of the channel's risk words it matches when the mode is `policy` (the default policy reads it: the one
    place a step's risk words are matched)."""
    tool_call = request.kind == "tool_call"
    try:
        args = json.loads(request.arguments) if tool_call and request.arguments else {}
    except ValueError:
        args = {}
    mode = settings.mode if program is not None else (run.mode or settings.mode)
    text = f"{request.tool_name} {request.arguments}" if tool_call else request.proposal
    word = matched_risk_word(text, settings.risk_words) if parse_mode(mode) == "policy" else None
    return PolicyRequest(
        principal_type="Agent" if program is not None else "Run",
        principal=program.key.name if program is not None else run.id,
        action=(request.tool_name or "tool") if tool_call else request.kind,
        channel=run.channel, kind=request.kind, args=args,
        requester=program.requester if program is not None else run.requester,
        mode=parse_mode(mode), risk_word=word or "",
        workflow=workflow_of(program.workflow if program is not None else ""),
        team=program.key.team if program is not None else run.team,
        enterprise=program.key.enterprise if program is not None else run.enterprise,
    )


def policy_claim(judged: Judged, ids: Sequence[str] | None = None) -> str:
    """The approval's `policy` field: `{bundle, ids}` of the policies that decided or routed it (`ids`: others
    than the verdict's own)."""
    claim = judged.claim if ids is None else judged.bundle.claim(tuple(ids))
    return json.dumps(claim, separators=(",", ":"))


def step_up_of(ruling: PolicyVerdict, settings: ChannelSettings) -> Literal["", "policy", "channel"]:
    """What makes a person's Approve of this request need their passkey (bot/stepup/), if anything: an ask policy's
    @step_up, whatever the channel says (a policy is a floor: `step_up never` does not lower it), else the channel's
    `step_up always` (`high-risk`: the policies decide; `never`: only they do)."""
    if ruling.outcome == "ask" and ruling.step_up:
        return "policy"
    return "channel" if settings.step_up == "always" else ""


def routed(
    approval: ApprovalRecord, ruling: PolicyVerdict, *, admins: Sequence[str] = (), floor: bool = False
) -> ApprovalRecord:
    """A pending approval as an ask policy routes it: its approvers, quorum, channel and timeout (each where the
    policy names one), and its reason, shown on the card. A policy's timeout only ever rejects. A policy that could
    not be evaluated routes as it names (the verdict carries its routing); naming no approvers, it goes to the
    channel's named `admins` (the channel's approvers only when there are none).

    `floor` (an operator's policy, POLICY_DIR, asked): what the policy requires is a floor no channel setting
    lowers: its approvers only (no escalation of the channel's lets others in), the larger of its quorum and the
    channel's, a person's decision (a timeout rejects, whatever the channel's `timeout_outcome`), and never the
    requester (the channel's `allow_self_approval` does not apply). The decide step reads these from the record,
    so a channel setting changed later does not lower them either."""
    changes: dict[str, object] = {"policy_reason": ruling.reason}
    if ruling.approvers:
        changes["approvers"] = ruling.approvers
    elif ruling.error and admins:
        changes["approvers"] = tuple(dict.fromkeys(admins))
    if ruling.quorum:
        changes["required_approvals"] = max(ruling.quorum, approval.required_approvals) if floor else ruling.quorum
    if floor:
        changes.update(allow_self_approval=0, timeout_outcome="reject")
        if ruling.approvers:
            changes.update(escalate_after=0, escalate_to=())
    if ruling.channel:
        changes["card_channel"] = ruling.channel
    if ruling.ticket:  # its change ticket's system (bot/tickets/), whatever the channel's `ticket`
        changes["ticket_route"] = ruling.ticket
    if ruling.reach:  # its route across surfaces (bot/approvals/reach.py), whatever the channel's `reach`
        changes["reach_route"] = ruling.reach
    if ruling.timeout is not None:
        changes.update(deadline=approval.created_at + ruling.timeout, timeout_seconds=ruling.timeout,
                       timeout_outcome="reject")
    return replace(approval, **changes)  # type: ignore[arg-type]
