"""Temporal: a workflow waits for people in Slack, with nothing running while they decide (extra `temporal`).

In a workflow that inherits `ApprovalsWorkflow`, ask and act on exactly what comes back::

    with workflow.unsafe.imports_passed_through():
        from agent_approvals.durable.temporal import ApprovalsWorkflow, approval, tool_call

    @workflow.defn
    class Refund(ApprovalsWorkflow):
        @workflow.run
        async def run(self, order: str, cents: int) -> str:
            decision = await approval(tool_call("refund", {"order": order, "amount_cents": cents}, schema=SCHEMA))
            if not decision.approved:
                return decision.refusal  # who refused it and why, a timeout, a cancellation
            await workflow.execute_activity(refund, decision.arguments, start_to_close_timeout=timedelta(minutes=1))
            return "refunded"

and register the approval activities on the worker beside the workflow's own:
`Worker(client, task_queue=..., workflows=[Refund], activities=[refund, *ApprovalActivities(approvals,
relay_url=...).all()])` (`activities.py`).

How it goes: the ask is an activity (`agent_approvals.ask`) whose idempotency key is made of the workflow id, its
run id and the call's place in the workflow, so a retried or replayed ask finds the same approval, never a second
card. While a person decides nothing runs: no activity, no poller; the workflow waits for its own Update,
`agent_approvals.decide`, declared on `ApprovalsWorkflow` (a handler declared on the class survives a worker's
restart). The decision arrives as that Update, sent by the relay (`durable.relay`) when the bot's webhook
reaches it, with the approval id as the Update's id: Temporal itself drops a repeat, and the validator refuses an
approval this workflow never asked and a decision of one it has settled. The Update only wakes the workflow: what
it acts on is read from the bot by one more activity (`agent_approvals.settle`, run as a local activity: in the
worker, in the workflow task the Update woke, with no round trip through the server's activity queue), which also
uses an approved call once (its token is the ask's key: a retried activity is the same use), so an Update the
plane never sent (anyone's with access to Temporal) runs nothing, and the decision's own Update, come while that
read was on its way, is read next. An approval already used elsewhere is asked about again, as a call that may
have run (only a person may approve it); a Revise that edits the arguments is asked about again
as the edited call, and the decision then carries them. A workflow cancelled while it waits withdraws its card.

The routing (engine, namespace, workflow id) travels in the callback URL the ask gives the bot; the card's agent
is the workflow type ("Refund (Temporal)") and its run the workflow id ("This run only" rules cover its asks).

    activities.py  `ApprovalActivities`: ask, settle (read and use once), withdraw, through `ApprovalsClient`
    delivery.py    `TemporalDelivery`: the relay's way into Temporal (the Update, and what its refusals mean)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from agent_approvals._extras import missing_extra
from agent_approvals.durable.core import Ask, WorkflowDecision, message, tool_call, until_decided

try:
    from temporalio import workflow
    from temporalio.common import RetryPolicy
    from temporalio.exceptions import ApplicationError, is_cancelled_exception
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "temporal", exc) from exc

ASK = "agent_approvals.ask"
SETTLE = "agent_approvals.settle"
WITHDRAW = "agent_approvals.withdraw"
WAIT = "agent_approvals.wait"  # poll mode: one activity that long-polls, with heartbeats
DECIDE = "agent_approvals.decide"  # the Update a decision comes in as
SETTLE_LOCALLY = "agent_approvals.settle-local"  # the patch that made the settle activity a local one
NOT_ASKED = "NotAsked"  # the validator's refusals (`ApplicationError.type`), which the relay tells apart
DECIDED = "AlreadyDecided"
__all__ = ["ApprovalsWorkflow", "Ask", "WorkflowDecision", "approval", "message", "tool_call"]
TIMEOUT = timedelta(seconds=30)  # one try of an approval activity (a worker that died in it: tried again then)
POLL_FOR = timedelta(days=8)  # poll mode: longer than any approval waits (the API's timeouts end within 7 days)
BEAT = timedelta(minutes=2)
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))  # until the bot answers; its refusals are not retried


@dataclass
class AskRequest:
    """The ask activity's input: the ask, its idempotency key, and whether its call may have run already."""

    ask: Ask
    key: str
    may_have_run: bool = False


@dataclass
class Settle:
    """The settle activity's input: the approval, and the token of its one use (the ask's key)."""

    approval_id: str
    token: str


@dataclass
class _Asked:
    """An approval's state in this workflow: how many Updates woke its wait (each makes it read the bot's decision
    again: one that came while the last read was on its way is never lost), and whether it is settled."""

    wakes: int = 0
    settled: bool = False


class ApprovalsWorkflow:
    """Inherit it to `await approval(...)` in a workflow: it declares the Update a decision comes in as."""

    _agent_approvals: dict[str, _Asked]
    _agent_approvals_calls: int

    @workflow.update(name=DECIDE)
    async def agent_approvals_decide(self, approval: dict[str, Any]) -> str:
        """A decision arrived (the relay sends the bot's webhook body): wake the wait for it."""
        _state(self)[str(approval["id"])].wakes += 1
        return "delivered"

    @agent_approvals_decide.validator
    def agent_approvals_check(self, approval: dict[str, Any]) -> None:
        approval_id = approval.get("id") if isinstance(approval, dict) else None
        asked = _state(self).get(approval_id) if isinstance(approval_id, str) else None
        if asked is None:
            raise ApplicationError(f"this workflow has not asked approval {approval_id!r}", type=NOT_ASKED)
        if asked.settled:
            raise ApplicationError(f"approval {approval_id} was decided already", type=DECIDED)
        if approval.get("status") in (None, "pending"):
            raise ApplicationError(f"approval {approval_id} is not decided", type=NOT_ASKED)


def _state(instance: Any) -> dict[str, _Asked]:
    if not isinstance(instance, ApprovalsWorkflow):
        raise TypeError("approval() needs a workflow class that inherits agent_approvals.temporal.ApprovalsWorkflow")
    if "_agent_approvals" not in instance.__dict__:
        instance._agent_approvals, instance._agent_approvals_calls = {}, 0
    return instance._agent_approvals


async def approval(ask: Ask, *, poll: bool = False) -> WorkflowDecision:
    """The decision on `ask`, in a workflow that inherits `ApprovalsWorkflow` (see the module docstring). `poll`:
    where no webhook can reach a relay, one activity long-polls the bot for the decision (with heartbeats: a
    worker that dies in it is replaced after two minutes) instead of the workflow waiting for its Update."""
    instance = workflow.instance()
    asked = _state(instance)
    instance._agent_approvals_calls += 1
    info = workflow.info()
    place = f"temporal-{info.workflow_id}-{info.run_id}-{instance._agent_approvals_calls}"

    async def asked_once(ask: Ask, edit: int, generation: int, may_have_run: bool) -> WorkflowDecision:
        key = f"{place}-{edit}" if not generation else f"{place}-{edit}-again{generation}"
        request = AskRequest(ask, key, may_have_run)
        try:
            view = await _activity(ASK, request)
        except BaseException as exc:  # cancelled while asking: the ask may have reached the bot; its key finds it
            if is_cancelled_exception(exc):
                await _activity(WITHDRAW, (await _activity(ASK, request)).approval_id)
            raise
        asked.setdefault(view.approval_id, _Asked())
        return await _settled(asked, view, key, poll)

    return await until_decided(ask, asked_once)


async def _settled(asked: dict[str, _Asked], view: WorkflowDecision, token: str, poll: bool) -> WorkflowDecision:
    """The approval once decided, as the bot has it (used once when approved). A wake-up whose approval the bot
    still has pending (an early or forged Update) is waited past; the decision's own Update, come meanwhile, is
    read at once."""
    state = asked[view.approval_id]
    read = 0  # the wakes the last read of the bot's decision came after
    while True:
        if view.status == "pending":
            try:
                if poll:
                    await workflow.execute_activity(WAIT, view.approval_id, result_type=WorkflowDecision,
                                                    start_to_close_timeout=POLL_FOR, heartbeat_timeout=BEAT,
                                                    retry_policy=RETRY)
                else:
                    await workflow.wait_condition(_woken_after(state, read))
            except BaseException as exc:  # the workflow is cancelled: its card says so
                if is_cancelled_exception(exc):
                    await _activity(WITHDRAW, view.approval_id)
                raise
        read = state.wakes
        view = await _settle(Settle(view.approval_id, token))
        if view.status != "pending":
            state.settled = True
            return view


def _woken_after(state: _Asked, read: int) -> Callable[[], bool]:
    return lambda: state.wakes > read


async def _settle(request: Settle) -> WorkflowDecision:
    """The settle activity, run as a local activity (in the worker, within the workflow task the decision's Update
    woke: no round trip through the server's activity queue between the decision and what the workflow does next).
    A worker that dies in it runs it again on replay, which is the same use (its token is the ask's key). Histories
    made before it ran locally replay as they were made (`workflow.patched`)."""
    if not workflow.patched(SETTLE_LOCALLY):
        return await _activity(SETTLE, request)
    answer: WorkflowDecision = await workflow.execute_local_activity(
        SETTLE, request, result_type=WorkflowDecision, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
    )
    return answer


async def _activity(name: str, arg: Any) -> WorkflowDecision:
    answer: WorkflowDecision = await workflow.execute_activity(
        name, arg, result_type=WorkflowDecision, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
    )
    return answer
