"""The decision order, one chain: what decides a request before a person, walked once per request by the one way an
approval is opened (`ApprovalService.open_request`), for the bot's own runs and programs' asks alike::

    policies     deny > ask > allow (bot/policy/: the walk's one evaluation); an ask goes to a person, routed
    mode         the input mode: a run's gate's verdict (with its count of automatic steps, `agent_approvals.modes`)
                 or the channel's mode on a program's ask; its risk words asked about by the shipped default policy
    rules        a live "always allow" rule: an answer a person gave in advance, so read only where a person would
                 be asked (a mode's refusal stands; an ask policy's routing too)
    person       stored pending and its card posted (the last link, `ApprovalService`'s)

A link decides (the approval stored decided at once by the store's one open step, `Approvals.open`: used once, like
a person's decision, `Opened`), sends the request to a person (`Step.to_person`, the approval routed), or passes it
on. A walk decides under the worker's copy of the channel's settings (`settings_of`: no read when it has one); a
policy window whose total changed under the walk (the store answers "stale") or settings changed since that copy
was read ("unsettled": read them now) have the walk start again: one loop, one evaluation per walk. What a
person's decision will need is added to the approval, not by a branch of its own: approvers and a quorum by the
link that asks for them, and step-up (each approving vote confirmed by the voter's passkey, bot/stepup/: an ask
policy's @step_up or the channel's `step_up`) as the walk begins, so that no link but a person decides what needs
it (a rule, a person's answer given in advance, does not).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from agent_approvals.approver import POLICY, ApprovalRequest, Decision, Outcome
from agent_approvals.modes import Verdict

from bot.approvals.opening import (
    Opened,
    OpenRefused,
    ProgramAsk,
    automatic_entry,
    new_approval,
    policy_claim,
    policy_request,
    program_mode,
    routed,
    rule_entry,
    rule_may_decide,
    step_up_of,
)
from bot.approvals.run_thread import RunThreads
from bot.core.allow_rules import Rule
from bot.core.records import ApprovalRecord, ChannelSettings, RunRecord
from bot.core.tasks import Background
from bot.policy.engine import Judged, PolicyEngine, shadow_entry
from bot.slack.blocks.rules import rule_used_line
from bot.store import Fence, Store, StoreUnavailable, persistently
from bot.store.channel_settings import ReadSettings

MAX_STALE = 200  # walks while other asks keep changing a policy window's total


@dataclass(frozen=True, slots=True)
class Ask:
    """One request on its way to a decision: whose (`run`, asked by `owner`), under which channel `settings` (read
    from what their hash held, `settings_held`: the open step compares the hash with it; None: not compared) and
    `rules`, with the run's gate's `mode` verdict (None: a program's ask, the channel's mode read here), the run's
    `fence` and what a `program` adds to its ask."""

    request: ApprovalRequest
    run: RunRecord
    owner: str
    settings: ChannelSettings
    settings_held: tuple[str, ...] | None = None
    rules: Sequence[Rule] = ()
    mode: Verdict | None = None
    fence: Fence | None = None
    program: ProgramAsk | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """An `Ask` in one walk: the approval it becomes, the policies' verdict on it, whether a person decides and the
    ids of the policies that sent it to them (`routed_by`)."""

    ask: Ask
    approval: ApprovalRecord
    judged: Judged
    to_person: bool = False
    routed_by: tuple[str, ...] = ()

    @property
    def windows(self) -> list[dict[str, Any]]:
        """The policy windows the open step checks (and counts the call in)."""
        return self.judged.windows_arg(self.approval.id)


Link = Callable[[Step], Awaitable["Opened | Step"]]
Person = Callable[[Step], Awaitable[Opened]]


class DecisionChain:
    """The decision order (the module docstring) for one worker's approvals; `person` is the last link."""

    def __init__(self, *, store: Store, threads: RunThreads, background: Background, policies: PolicyEngine,
                 approvals_channel: str, admin_users: Sequence[str], default_timeout: int, person: Person) -> None:
        self.store = store
        self.default_timeout = default_timeout  # APPROVAL_TIMEOUT, where a channel's settings set none
        self.policies = policies
        self.admin_users = tuple(admin_users)  # ADMIN_USERS: named admins of every channel
        self._threads = threads
        self._background = background
        self._approvals_channel = approvals_channel
        self._person = person
        self.links: tuple[Link, ...] = (self.by_policy, self.by_mode, self.by_rule)

    async def walk(self, ask: Ask) -> Opened:
        """Decide `ask`: each link in order until one decides or sends it to a person (the module docstring).
        Raises `Fenced` or `OpenRefused` from the store's open step."""
        for _ in range(MAX_STALE):
            opened = await self._walk_once(ask)
            if opened.status == "unsettled":  # the channel's settings changed since this worker read them
                read = await self.settings_of(ask.run.channel, fresh=True)
                ask = replace(ask, settings=read.settings, settings_held=read.held)
            elif opened.status != "stale":
                return opened
        raise StoreUnavailable(f"approval {ask.request.approval_id}: policy windows or settings kept changing;"
                               " try again")

    async def settings_of(self, channel: str, *, fresh: bool = False) -> ReadSettings:
        """The channel's settings a walk decides under: the worker's copy, or (`fresh`) read now (through a Redis
        blip)."""
        read = self.store.settings.read if fresh else self.store.settings.copy
        return await persistently(lambda: read(channel, default_timeout=self.default_timeout),
                                  what=f"reading the settings of {channel}")

    async def _walk_once(self, ask: Ask) -> Opened:
        approval = new_approval(ask.request, run=ask.run, owner=ask.owner, settings=ask.settings,
                                default_channel=self._approvals_channel, program=ask.program)
        judged = await self.judge(ask, approval)
        needs = step_up_of(judged.verdict, ask.settings)
        step = Step(ask, replace(approval, policy=policy_claim(judged), step_up=needs), judged)
        for link in self.links:
            went = await link(step)
            if isinstance(went, Opened):
                return went
            step = went
            if step.to_person:
                break
        return await self._person(step)

    async def judge(self, ask: Ask, approval: ApprovalRecord) -> Judged:
        """The policies' verdict on the request (the one evaluation, for every way in); what shadow policies would
        have changed is audited once per approval (`policy_shadow`), in the background."""
        asked = policy_request(ask.request, run=ask.run, settings=ask.settings, program=ask.program)
        judged = await self.policies.judge(asked)
        shadow = shadow_entry(judged, approval=approval.id, request=asked)
        if shadow is not None:
            self._background.spawn(self._audit_shadow(approval.id, shadow), name=f"shadow-{approval.id}")
        return judged

    async def _audit_shadow(self, approval_id: str, entry: dict[str, str]) -> None:
        claim = self.store.keys.claim(f"policy-shadow:{approval_id}")
        await persistently(lambda: self.store.audit.append_once(claim, "policy_shadow", entry, body_digest="",
                                                                answer="", ttl=3600), what="auditing a shadow policy")

    # the links ------------------------------------------------------------------------------------------------
    async def by_policy(self, step: Step) -> Opened | Step:
        """The policies: deny or allow at once (no card), or an ask that routes the approval to a person."""
        ruling, approval, ask = step.judged.verdict, step.approval, step.ask
        if ruling.outcome == "ask":
            admins = (*ask.settings.admins, *self.admin_users)
            return replace(step, approval=routed(approval, ruling, admins=admins, floor=True), to_person=True,
                           routed_by=tuple(ruling.ids))
        if ruling.outcome not in ("deny", "allow"):
            return step
        outcome: Outcome = "approved" if ruling.outcome == "allow" else "rejected"
        decision = Decision(approval.id, outcome, decided_by=POLICY, feedback=ruling.reason, digest=approval.digest)
        entry = automatic_entry(approval, decision, rule=f"policy {', '.join(ruling.ids)}: {ruling.reason}",
                                run=ask.run)
        entry["by"] = POLICY
        return await self.decided(step, decision, audit=entry, policy=step.judged)

    async def by_rule(self, step: Step) -> Opened | Step:
        """The first live "always allow" rule (oldest first) that matches this tool call approves it, bound to its
        digest like a person's approval: stored decided, its use counted and audited (`auto_approved` naming the
        rule) in the open step, and said in the run's thread. One revoked or expired a moment ago does not, and none
        approves what needs step-up (only a person's vote confirmed by their passkey does)."""
        ask = step.ask
        if step.approval.step_up:
            return step
        for rule in self._matching(ask):
            decision = Decision(ask.request.approval_id, "approved", decided_by=f"rule {rule.id}",
                                feedback=f"auto-approved by rule {rule.id}", digest=ask.request.digest)
            opened = await self.decided(step, decision, audit=rule_entry(step.approval, rule, run=ask.run), rule=rule)
            if opened.status != "gone":
                if opened.status == "ok":
                    self._threads.post(ask.run, text=rule_used_line(rule))
                return opened
        return step

    async def by_mode(self, step: Step) -> Opened | Step:
        """The input mode: a run's gate's verdict, or the channel's mode on a program's ask. Decided (approved,
        refused, a user proxy's turn answered "continue"): stored like every decision made at once. Else a person
        would be asked: the card says the mode's reason (a checkpoint...), and the step goes on to the rules. The
        mode's risk words are asked about by the shipped default policy (the policies' `fallback`, read only when
        the bundle's own policies have no opinion): it routes the approval and gives the card its reason."""
        ask, approval = step.ask, step.approval
        fallback = step.judged.verdict.fallback
        if fallback is not None:
            approval = replace(approval, policy=policy_claim(step.judged, fallback.ids))
            return replace(step, approval=routed(approval, fallback), routed_by=tuple(fallback.ids))
        mode = ask.mode if ask.mode is not None else program_mode(ask.request, ask.settings)
        if mode.decision is None:
            if not mode.rule or mode.rule in approval.why:
                return step
            why = f"{approval.why}\n{mode.rule}" if approval.why else mode.rule
            return replace(step, approval=replace(approval, why=why))
        decision = replace(mode.decision, approval_id=approval.id)
        named = ask.run.mode or ask.settings.mode if ask.program is None else ask.settings.mode
        return await self.decided(step, decision, mode=named,
                                  audit=automatic_entry(approval, decision, rule=mode.rule, run=ask.run))

    # storing what was decided at once ----------------------------------------------------------------------------
    async def decided(
        self, step: Step, decision: Decision, *, audit: dict[str, str], rule: Rule | None = None, mode: str = "",
        policy: Judged | None = None,
    ) -> Opened:
        """Store the approval as `decision` decided it at once (the input `mode`, `rule` while it stands, or the
        `policy` verdict), counted in its policy windows unless rejected. A run's own step is used at once by the
        run that asked (stored used: a worker that takes the run over later starts from the checkpoint before it);
        a program's waits for the program to use it."""
        ask, now = step.ask, time.time()
        used = ask.program is None and ask.fence is not None
        decided = replace(step.approval, status=decision.outcome, decided_by=decision.decided_by, decided_at=now,
                          feedback=decision.feedback, rule_id=rule.id if rule else "", decided_by_mode=mode,
                          deadline=0.0, policy_reason=policy.verdict.reason if policy else "",
                          consumed=int(used), consumed_by=":".join(map(str, ask.fence)) if used and ask.fence else "")
        status, approval_id = await persistently(
            partial(self.store.approvals.open, decided, once=ask.program.once if ask.program else None, audit=audit,
                    rule=(rule.channel, rule.id) if rule else ("", ""), now=now, windows=step.windows,
                    policy=policy.verdict.ids if policy else (),
                    policy_bundle=policy.bundle.hash if policy else "",
                    settings=(ask.run.channel, ask.settings_held)),
            what=f"opening approval {decided.id}",
        )
        if status == "conflict":
            raise OpenRefused(status)
        return Opened(status, approval_id, decided=decision if status in ("ok", "exists") else None)

    def _matching(self, ask: Ask) -> list[Rule]:
        """The live rules that match this tool call, oldest first (pure: nothing is used yet)."""
        if not ask.rules or not rule_may_decide(ask.request):  # (most channels: nothing to parse or match)
            return []
        try:
            arguments = json.loads(ask.request.arguments)
        except ValueError:
            return []
        now, request = time.time(), ask.request
        return [rule for rule in ask.rules
                if rule.approves(run=ask.run.id, tool=request.tool_name, arguments=arguments, digest=request.digest,
                                 now=now)]

    async def rules_of(self, channel: str) -> list[Rule]:
        """The channel's rules, as stored (one Redis command; read again through a Redis blip)."""
        return await persistently(lambda: self.store.rules.candidates(channel), what=f"reading the rules of {channel}")
