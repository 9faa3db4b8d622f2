"""The decision order, one chain: the deciders that decide a request before a person, as objects the composition root
(bot/root.py) lists, walked once per request by every way in (a run's step, a program's ask, a call a program's
allow-list let through), for the bot's own runs and programs alike::

    DecisionChain(links=[Freeze(...), Policies(...), Mode(), Rules(...)], end=Person(...))

    freeze       a frozen scope (`/agent freeze`, bot/store/freezes.py) refuses every new ask in it at once, before
                 anything else is read (deciders/freeze.py)
    policies     deny > ask > allow (bot/policy/: the walk's one evaluation, the shipped default policy too: the
                 input mode's risk words); an ask goes to a person, routed (bot/approvals/deciders/policies.py)
    mode         the input mode: a run's gate's verdict (with its count of automatic steps, `agent_approvals.modes`)
                 or the channel's mode on a program's ask (deciders/mode.py)
    rules        a live "always allow" rule: an answer a person gave in advance, so read only where a person would
                 be asked (a mode's refusal stands; an ask policy's routing too) (deciders/rules.py)
    end          where the walk ends: `Person` (deciders/person.py) opens the approval (the store's one open step,
                 `Approvals.open`): stored decided at once by a link (used once, like a person's decision), or
                 pending with its card (a person decides); `POST /api/v1/audit/allowed` walks the same links to
                 another end, the call recorded as allowed (bot/api/allowed.py), counted in the windows it read

A link (a `Decider`) decides (`Decided`: the end stores it), sends the request to a person (`Step.to_person`, the
approval routed: the links after it are passed), or passes it on (`Step`). A new decider (a risk score, a per-key
budget) is one module in bot/approvals/deciders/ and one line in bot/root.py.

A walk decides under the worker's copy of the channel's settings (`settings_of`: no read when it has one); a policy
window whose total changed under the walk (the store answers "stale"), settings changed since that copy was read
("unsettled": read them now) or a rule revoked a moment ago ("gone") have the walk start again: one loop, one
evaluation per walk. What a person's decision will need is added to the approval, not by a branch of its own:
approvers and a quorum by the link that asks for them, and step-up (each approving vote confirmed by the voter's
passkey, bot/stepup/: the channel's `step_up` as the walk begins, an ask policy's @step_up by the policies), so that
no link but a person decides what needs it (a rule, a person's answer given in advance, does not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from agent_approvals.approver import ApprovalRequest, Decision
from agent_approvals.modes import Verdict

from bot.approvals.opening import Opened, ProgramAsk, new_approval
from bot.core.allow_rules import Rule
from bot.core.attestations import needed
from bot.core.records import ApprovalRecord, ChannelSettings, RunRecord
from bot.core.tracing import annotate, span
from bot.policy.engine import Judged
from bot.redaction import Hiding
from bot.store import Fence, Store, StoreUnavailable, persistently
from bot.store.channel_settings import ReadSettings

MAX_STALE = 200  # walks while other asks keep changing a policy window's total
AUDITED_WORDS = ("rule", "reason", "feedback", "title", "task")  # free text a link's audit entry may carry


@dataclass(frozen=True, slots=True)
class Ask:
    """One request on its way to a decision: whose (`run`, asked by `owner`), under which channel `settings` (read
    from what their hash held, `settings_held`: the open step compares the hash with it; None: not compared), with
    the run's gate's `mode` verdict (None: a program's ask, the channel's mode read by the mode decider), the run's
    `fence`, what a `program` adds to its ask and, for a call a program's own allow-list let through, what in it did
    (`listed`: an answer given in advance, as a rule is, so neither the input mode nor the channel's rules are read).
A `quiet` walk, or a `listed` one, opens no approval for people: the triage model does not read it (it reads the ask
that a person is then asked through, once)."""

    request: ApprovalRequest
    run: RunRecord
    owner: str
    settings: ChannelSettings
    settings_held: tuple[str, ...] | None = None
    mode: Verdict | None = None
    fence: Fence | None = None
    program: ProgramAsk | None = None
    listed: str = ""
    quiet: bool = False  # a walk that opens nothing (an AuthZEN evaluation's): no triage model reads it


@dataclass(frozen=True, slots=True)
class Step:
    """An `Ask` in one walk: the approval it becomes, the policies' verdict on it (set by the policies decider),
    whether a person decides and the ids of the policies that routed it (`routed_by`)."""

    ask: Ask
    approval: ApprovalRecord
    judged: Judged | None = None
    to_person: bool = False
    routed_by: tuple[str, ...] = ()

    @property
    def windows(self) -> list[dict[str, Any]]:
        """The policy windows the store's step checks (and counts the call in)."""
        return self.judged.windows_arg(self.approval.id) if self.judged is not None else []


@dataclass(frozen=True, slots=True)
class Decided:
    """What a link decided at once, for the end to store: the `step` as the link left it, the `decision`, its audit
    entry, and what decided it (the `rule`, only while it stands; the input `mode`, named; the `policy` verdict);
    `line`: what the run's thread says once it is stored."""

    step: Step
    decision: Decision
    audit: dict[str, str]
    rule: Rule | None = None
    mode: str = ""
    policy: Judged | None = None
    line: str = ""


class Decider(Protocol):
    """One link of the chain: decides the step at once (`Decided`), or passes it on (the `Step`, maybe routed to a
    person or with more said on its card)."""

    async def decide(self, step: Step) -> Step | Decided: ...


class End(Protocol):
    """Where a walk ends: what a link decided at once stored (`settle`), or the step nobody decided (`decide`)."""

    async def decide(self, step: Step) -> Opened: ...

    async def settle(self, decided: Decided) -> Opened: ...


class DecisionChain:
    """The decision order (the module docstring) for one worker's approvals: `links` walked in order, then `end`."""

    def __init__(self, *, store: Store, links: Sequence[Decider], end: End, approvals_channel: str,
                 default_timeout: int, hiding: Hiding) -> None:
        self.store = store
        self.hiding = hiding  # what the end stores: the arguments redacted (the root's: the core builds none)
        self.links = tuple(links)
        self.end = end
        self.default_timeout = default_timeout  # APPROVAL_TIMEOUT, where a channel's settings set none
        self._approvals_channel = approvals_channel  # "" (another tenant than home): the ask's own channel

    async def walk(self, ask: Ask, *, end: End | None = None) -> Opened:
        """Decide `ask`: each link in order until one decides or sends it to a person, then the chain's end (or
        `end`, in its place) (the module docstring). Raises `Fenced` or `OpenRefused` from the store's open step."""
        request = ask.request
        with span("decision chain", approval_id=request.approval_id, channel=ask.run.channel,
                  tool=request.tool_name, run_id=ask.run.id) as current:
            opened = await self._walk(ask, end=end)
            annotate(current, outcome=opened.status if opened.decided is None else opened.decided.outcome)
            return opened

    async def _walk(self, ask: Ask, *, end: End | None) -> Opened:
        for _ in range(MAX_STALE):
            opened = await self._walk_once(ask, end or self.end)
            if opened.status == "unsettled":  # the channel's settings changed since this worker read them
                read = await self.settings_of(ask.run.channel, fresh=True)
                ask = replace(ask, settings=read.settings, settings_held=read.held)
            elif opened.status not in ("stale", "gone"):
                return opened
        raise StoreUnavailable(f"approval {ask.request.approval_id}: policy windows or settings kept changing;"
                               " try again")

    async def settings_of(self, channel: str, *, fresh: bool = False) -> ReadSettings:
        """The channel's settings a walk decides under: the worker's copy, or (`fresh`) read now (through a Redis
        blip)."""
        read = self.store.settings.read if fresh else self.store.settings.copy
        return await persistently(lambda: read(channel, default_timeout=self.default_timeout),
                                  what=f"reading the settings of {channel}")

    async def _walk_once(self, ask: Ask, end: End) -> Opened:
        approval = new_approval(ask.request, run=ask.run, owner=ask.owner, settings=ask.settings,
                                default_channel=self._approvals_channel or ask.run.channel, program=ask.program)
        step = Step(ask, replace(approval, step_up="channel" if ask.settings.step_up == "always" else "",
                                 attest=needed(channel=ask.run.channel,
                                               channel_requires=ask.settings.require_attestation)))
        for link in self.links:
            went = await link.decide(step)
            if isinstance(went, Decided):
                went = await self._hidden_decided(went, keep=end is self.end)
                opened = await self._stored(end.settle, went)
                if opened.status == "ok" and went.line:  # (the run's thread says it: `events.Opened`)
                    opened = replace(opened, line=went.line)
                return opened
            step = went
            if step.to_person:
                break
        return await self._stored(end.decide, await self._hidden(step, keep=end is self.end))

    async def _hidden(self, step: Step, *, keep: bool) -> Step:
        """The step as the end stores it: the deciders saw the full arguments; the record keeps them redacted,
        their hidden values sealed apart (bot/redaction/hiding.py) where an approval is opened (`keep`; another
        end, a call recorded as allowed, needs none)."""
        return replace(step, approval=await self.hiding.hide(step.approval, keep=keep))

    async def _hidden_decided(self, went: Decided, *, keep: bool) -> Decided:
        """What a link decided, as the end stores it: the step hidden (`_hidden`), and what the link said of it (the
        decision's feedback, a policy's reason, its audit entry's words, the run's line) through the one door of
        free text, the values hidden in the arguments replaced there too."""
        approval, known = await self.hiding.hidden(went.step.approval, keep=keep)

        def said(text: str) -> str:
            return self.hiding.text(text, known=known)

        audit = {name: said(value) if name in AUDITED_WORDS else value for name, value in went.audit.items()}
        return replace(went, step=replace(went.step, approval=approval), audit=audit, line=said(went.line),
                       decision=replace(went.decision, feedback=said(went.decision.feedback)))

    async def _stored(self, store: Any, given: Any) -> Opened:
        """`store(given)` (the end's `settle` or `decide`); the hidden values sealed for it dropped when another
        approval answers (a program's retry) or nothing was stored."""
        approval = given.step.approval if isinstance(given, Decided) else given.approval
        try:
            opened: Opened = await store(given)
        except BaseException:
            if approval.hidden:
                await self.hiding.drop(approval.id)
            raise
        if approval.hidden and opened.approval_id != approval.id:
            await self.hiding.drop(approval.id)
        return opened
