"""What opening an approval starts from, pure: the approval a request becomes under its channel's settings
(`new_approval`, also as a program asked it: `ProgramAsk`), what an open answers (`Opened`, `OpenRefused`) and what an
edit changed (`changes_line`). The decision chain (bot/approvals/chain.py) walks the deciders from it
(bot/approvals/deciders/: each holds its own helpers and audit entries)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from agent_approvals.approver import ApprovalRequest, Decision

from bot.core.key_records import ApiKey
from bot.core.records import ApprovalRecord, ChannelSettings, RunRecord
from bot.core.service_levels import effective_sla, escalate_after
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
    way: str = "api"  # the way in it came by (api, mcp, claude_code; a workflow's is `workflow`): the metrics' label
    never_self: bool = False  # its requester never decides it, whatever the channel allows (Slackbot's asks)
    notify: tuple[str, ...] = ()  # people told the decision (`email:<address>`), whoever decides it, on any surface

    @property
    def max_pending(self) -> int:
        return self.key.max_pending


@dataclass(frozen=True, slots=True)
class Opened:
    """What `open_request` did: `status` (the store's: "ok", "exists"), the approval's id, the `decided` decision
    when the input mode or a rule decided at once (`line`: what the deciding link said for the run's thread), else
    the card posted (channel, ts; none for a program's retry) and the people its copies went to (the run's thread
    says where it waits: Slack's `waiting_line`, bot/slack/blocks/runs.py)."""

    status: str
    approval_id: str
    decided: Decision | None = None
    settings: ChannelSettings | None = None
    card: tuple[str, str] = ("", "")
    dms: tuple[str, ...] = ()
    line: str = ""


def request_record(request: ApprovalRequest, *, run: RunRecord) -> ApprovalRecord:
    """`request` as a bare record of `run` (no channel settings applied): what an audit entry describes."""
    return ApprovalRecord(id=request.approval_id, run_id=run.id, owner="", requester=run.requester,
                          origin_channel=run.channel, card_channel="", task=run.task, proposal=request.proposal,
                          author=request.author, created_at=time.time(), deadline=0.0, timeout_seconds=0,
                          kind=request.kind, tool_name=request.tool_name, arguments=request.arguments,
                          digest=request.digest, team=run.team, enterprise=run.enterprise)


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
    timeout, outcome = _timeout(request, settings, program)
    record = ApprovalRecord(
        id=request.approval_id, run_id=run.id, owner=owner, requester=run.requester, task=run.task,
        origin_channel=run.channel, card_channel=settings.approvals_channel or default_channel, team=run.team,
        enterprise=run.enterprise,
        created_at=now, deadline=now + timeout if timeout > 0 else 0.0,  # 0: it never times out
        timeout_seconds=timeout, timeout_outcome=outcome,
        required_approvals=settings.required_approvals, approvers=settings.approvers,
        allow_self_approval=int(settings.allow_self_approval),
        remind=tuple(str(seconds) for seconds in settings.remind),
        escalate_after=escalation_after(settings, settings.sla), escalate_to=settings.escalate_to,
        sla_seconds=settings.sla,
        proposal=request.proposal, author=request.author, kind=request.kind, tool_name=request.tool_name,
        arguments=request.arguments, arguments_schema=request.arguments_schema, digest=request.digest,
        schema_error=request.schema_error, why=request.why, edited_by=request.edited_by,
        fixed_arguments=int(request.fixed_arguments), artifacts=request.artifacts, claim=request.claim,
        summary=request.summary, ticket_route="" if settings.ticket == "off" else settings.ticket,
        reach_route=settings.reach,
    )
    return record if program is None else _asked_by(record, program)


def escalation_after(settings: ChannelSettings, sla_seconds: int) -> int:
    """When the escalation of an approval of service level `sla_seconds` comes, seconds after its request (0: none):
    `escalate_after`, or when it is at risk with `escalate_at at_risk`, whichever is sooner
    (bot/core/service_levels.py)."""
    if not settings.escalate_to:
        return 0
    return escalate_after(escalate_after=settings.escalate_after, escalate_at=settings.escalate_at,
                          sla_seconds=sla_seconds)


def with_policy_sla(approval: ApprovalRecord, policy_sla: int | None, settings: ChannelSettings) -> ApprovalRecord:
    """`approval` under a policy's `@sla` too: the shorter service level wins (a policy's is a floor), and an
    escalation at risk comes with it."""
    sla_seconds = effective_sla(approval.sla_seconds, policy_sla)
    if sla_seconds == approval.sla_seconds:
        return approval
    escalate = escalation_after(settings, sla_seconds) if approval.escalate_to else 0
    return replace(approval, sla_seconds=sla_seconds, escalate_after=escalate)


def _timeout(request: ApprovalRequest, settings: ChannelSettings, program: ProgramAsk | None) -> tuple[int, str]:
    """How long the approval waits and what its timeout decides: the channel's, or the program's shorter wait (only
    as not approved)."""
    timeout = settings.timeout
    # a timeout approves tool calls and code only where the channel says so explicitly
    outcome = settings.timeout_outcome if request.kind == "message" or settings.timeout_approves_tools else "reject"
    if program is not None and program.timeout is not None and (timeout <= 0 or program.timeout < timeout):
        return program.timeout, "reject"
    return timeout, outcome


def _asked_by(record: ApprovalRecord, program: ProgramAsk) -> ApprovalRecord:
    """`record` as a program asked it: its requester and title, its key (and its sponsor), links and workflow; the
    key's workspace, whatever run it joins."""
    return replace(
        record,
        requester=program.requester,
        task=program.title,
        allow_self_approval=0 if program.never_self else record.allow_self_approval,
        asked_by=program.key.name,
        key_id=program.key.id,
        context_url=program.context_url,
        callback_url=program.callback_url,
        webhook=int(bool(program.callback_url)),
        workflow=program.workflow,
        team=program.key.team,
        enterprise=program.key.enterprise,
        sponsor=program.key.sponsor,
        notify=program.notify,
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
