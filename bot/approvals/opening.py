"""What opening an approval decides before anything is stored, pure: the approval a request becomes under its
channel's settings (`new_approval`, also as a program asked it: `ProgramAsk`), the input mode's verdict on a
program's ask (`program_mode`), how the policies see a request and route it, and the audit entries of what was
decided at once. The decision chain (bot/approvals/chain.py) puts them together with the store's one open step."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from agent_approvals.approver import ApprovalRequest, Decision
from agent_approvals.modes import InputPolicy, Verdict, matched_risk_word, parse_mode
from agent_approvals.modes import verdict as mode_verdict

from bot.core.allow_rules import Rule
from bot.core.durations import format_duration
from bot.core.records import ApiKey, ApprovalRecord, ChannelSettings, RunRecord
from bot.policy.decide import PolicyRequest, PolicyVerdict, workflow_of
from bot.policy.engine import Judged
from bot.slack.blocks import channel_ref, people_refs
from bot.slack.blocks.text import message_link
from bot.store import Once


class OpenRefused(Exception):
    """A program's ask the store refused in its open step: "full" (its key's `max_pending` approvals are pending)
    or "conflict" (its Idempotency-Key was used with another body)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True, slots=True)
class ProgramAsk:
    """What a program's ask (the Approvals API, with `key`) adds to its request: its title, requester, links, its
    own shorter wait (`timeout`), the idempotency of the ask (`once`) and the key's limit of pending approvals."""

    key: ApiKey
    title: str
    requester: str = ""
    context_url: str = ""
    callback_url: str = ""
    timeout: int | None = None
    once: Once | None = None
    workflow: str = ""  # JSON {engine, id, type, namespace, url}: the durable workflow that asks

    @property
    def max_pending(self) -> int:
        return self.key.max_pending


@dataclass(frozen=True, slots=True)
class Opened:
    """What `open_request` did: `status` (the store's: "ok", "exists"), the approval's id, the `decided` decision
    when the input mode or a rule decided at once, else the card posted (channel, ts; none for a program's retry)
    and the people its copies went to."""

    status: str
    approval_id: str
    decided: Decision | None = None
    settings: ChannelSettings | None = None
    card: tuple[str, str] = ("", "")
    dms: tuple[str, ...] = ()

    def waiting_line(self, card_url: str = "") -> str:
        """What the run's thread says while it waits for this approval: where, with a link to the card itself
        (`card_url`, its permalink, when known)."""
        channel = self.card[0]
        where = channel_ref(channel) if channel and not channel.startswith("D") else ""
        if where and card_url:
            where = f"{message_link(card_url, 'its card')} in {where}"
        if self.dms:
            where = (where + " and " if where else "") + f"direct messages to {people_refs(list(self.dms))}"
        timeout = self.settings.timeout if self.settings is not None else 0
        expiry = f"times out after {format_duration(timeout)}" if timeout else "never times out"
        on = "on " if where.startswith("<http") else "in "
        return f"Waiting for approval {on}{where} ({expiry})"


def program_mode(request: ApprovalRequest, settings: ChannelSettings) -> Verdict:
    """The channel's input mode on a program's ask (pure): approved or rejected at once, or a person asked. The
    table is the agent side's (`agent_approvals.modes.verdict`, which a run's own gate applies too), read for a
    program's ask: no turns, no count."""
    policy = InputPolicy(mode=parse_mode(settings.mode), risk_words=settings.risk_words)
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


def request_record(request: ApprovalRequest, *, run: RunRecord) -> ApprovalRecord:
    """`request` as a bare record of `run` (no channel settings applied): what an audit entry describes."""
    return ApprovalRecord(id=request.approval_id, run_id=run.id, owner="", requester=run.requester,
                          origin_channel=run.channel, card_channel="", task=run.task, proposal=request.proposal,
                          author=request.author, created_at=time.time(), deadline=0.0, timeout_seconds=0,
                          kind=request.kind, tool_name=request.tool_name, arguments=request.arguments,
                          digest=request.digest)


def new_approval(
    request: ApprovalRequest,
    *,
    run: RunRecord,
    owner: str,
    settings: ChannelSettings,
    default_channel: str,
    program: ProgramAsk | None = None,
) -> ApprovalRecord:
    """A pending approval for `request` in `run`, under the run's channel's settings (timeout, who may
    decide, where the card goes: `default_channel` unless they name another), and as a `program` asked it.
    A program may end its own wait sooner than the channel's timeout, but only as not approved: an approval by
    timeout never comes sooner than the channel's own timeout."""
    now = time.time()
    timeout = settings.timeout
    # a timeout approves tool calls and code only where the channel says so explicitly
    outcome = settings.timeout_outcome if request.kind == "message" or settings.timeout_approves_tools else "reject"
    if program is not None and program.timeout is not None and (timeout <= 0 or program.timeout < timeout):
        timeout, outcome = program.timeout, "reject"
    return ApprovalRecord(
        id=request.approval_id,
        run_id=run.id,
        owner=owner,
        requester=program.requester if program is not None else run.requester,
        origin_channel=run.channel,
        card_channel=settings.approvals_channel or default_channel,
        task=program.title if program is not None else run.task,
        proposal=request.proposal,
        author=request.author,
        created_at=now,
        deadline=now + timeout if timeout > 0 else 0.0,  # 0: it never times out
        timeout_seconds=timeout,
        timeout_outcome=outcome,
        required_approvals=settings.required_approvals,
        approvers=settings.approvers,
        allow_self_approval=int(settings.allow_self_approval),
        kind=request.kind,
        tool_name=request.tool_name,
        arguments=request.arguments,
        arguments_schema=request.arguments_schema,
        digest=request.digest,
        schema_error=request.schema_error,
        why=request.why,
        edited_by=request.edited_by,
        fixed_arguments=int(request.fixed_arguments),
        remind=tuple(str(seconds) for seconds in settings.remind),
        escalate_after=settings.escalate_after if settings.escalate_to else 0,
        escalate_to=settings.escalate_to,
        asked_by=program.key.name if program is not None else "",
        key_id=program.key.id if program is not None else "",
        context_url=program.context_url if program is not None else "",
        callback_url=program.callback_url if program is not None else "",
        webhook=int(bool(program is not None and program.callback_url)),
        workflow=program.workflow if program is not None else "",
    )


EDIT_KEPT = 600  # seconds an edit's note waits for the agent to ask about the edited call
FIELD_CHANGES = 20  # changed arguments listed, at most
CHANGE_SHOWN = 120  # characters of each old and new value in the list


def changes_line(changes: Sequence[Sequence[str]], why: str = "") -> str:
    """What an edit changed, for the card of the edited call (untrusted text, shown inert there):
    "Changed: to: bob@example.com → carol@example.com; count: 3 → 4"."""
    def short(text: str) -> str:
        text = " ".join(text.split())
        return (text[: CHANGE_SHOWN - 1] + "…" if len(text) > CHANGE_SHOWN else text) or "(none)"

    parts = [f"{short(name)}: {short(old)} → {short(new)}" for name, old, new in changes]
    line = "Changed: " + "; ".join(parts)
    return f"{line}\n{why}" if why else line


def rule_may_decide(request: ApprovalRequest) -> bool:
    """Whether an "always allow" rule may decide this request: a tool call whose arguments pass the tool's
    schema, and not one that may have run already (only a person approves that again)."""
    if request.kind != "tool_call" or not request.arguments:
        return False
    return not request.schema_error and not request.maybe_ran


def policy_request(
    request: ApprovalRequest, *, run: RunRecord, settings: ChannelSettings, program: ProgramAsk | None
) -> PolicyRequest:
    """`request` as the policies see it (bot/policy/decide.py): a program's key (`Agent`) or the bot's own run
    (`Run`, with its requester), the tool (or "message", "code"), the channel, the call's arguments, and the
    first of the channel's risk words it matches when the mode is `policy` (the default policy reads it)."""
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
    if ruling.timeout is not None:
        changes.update(deadline=approval.created_at + ruling.timeout, timeout_seconds=ruling.timeout,
                       timeout_outcome="reject")
    return replace(approval, **changes)  # type: ignore[arg-type]
