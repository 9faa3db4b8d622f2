"""AuthZEN evaluations answered from the policies (bot/api/authzen.py says what is sent; docs/agents/authzen.md).

An evaluation is decided as every way in is: the decision chain's links walked (`ApprovalService.walk_quietly`,
bot/approvals/chain.py: a freeze, the policies, the channel's input mode, a live "always allow" rule) to an end of its
own, `Evaluate`, which records nothing: nothing is stored as allowed, nothing counted in a policy window. What a link
decides at once is the answer (`decision` true, or false with the reason: `context.reason_user`, `reason_admin`);
where a person must decide, the approval is opened through the one way every ask is (`ApprovalsApi.ask`: its card,
approvers, timeout), unless the evaluation says `options.open_approvals: false`, and the answer is `decision` false
with a `context` naming it (provisional, after the AuthZEN access-request profile's draft: `reason`
"approval_required", `evaluation_id`, `task` {id, status, status_endpoint}, `next_action`, `retry_after`, and how to
wait: `GET /api/v1/approvals/{id}?wait=60`). The program re-evaluates with `context.approval.id` once a person
decided: an approved call of this key, bound to the same tool and arguments, is `decision` true once (it is used, as
`POST /api/v1/approvals/{id}/use` uses it: `X-Request-ID` is the use's token, so a retry of the same request is the
same use); pending: false, `next_action` "retry"; anything else: false. A retry of an evaluation with the same
`X-Request-ID` finds the approval it opened (its Idempotency-Key).

Each evaluation is audited (`authzen_evaluated`: the key, subject, tool, digest, decision and reason; an approval it
opened or used is named, and that approval is audited as any ask is).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from agent_approvals.approver import Decision, digest_of

from bot.api.authzen import Target
from bot.api.requests import IDEMPOTENCY_KEY, USE_TOKEN, ApiError, CheckedAsk
from bot.api.service import ApprovalsApi, api_request, new_approval_id, program_run
from bot.approvals import Decided, Opened, ProgramAsk, Step
from bot.core.ids import random_id
from bot.core.key_records import ApiKey
from bot.core.records import API_OWNER
from bot.core.verdicts import FROZEN_BY

MAX_WAIT_HINT = 60  # seconds a program's long-poll of the approval may wait (`GET ?wait=`)
RETRY_AFTER = 5  # seconds a re-evaluation of a pending approval is told to wait


@dataclass
class Evaluate:
    """The chain's end for an evaluation: what a link decided, or that a person must decide; nothing stored."""

    decided: Decision | None = None
    policy: str = ""
    person: Step | None = field(default=None)

    async def decide(self, step: Step) -> Opened:
        self.person = step
        return Opened("ok", step.approval.id)

    async def settle(self, decided: Decided) -> Opened:
        self.decided = decided.decision
        self.policy = ", ".join(decided.policy.verdict.ids) if decided.policy is not None else ""
        return Opened("ok", decided.step.approval.id, decided=decided.decision)


class Evaluator:
    """Answers AuthZEN evaluations for one key (the module docstring). `base`: this PDP's URL (PUBLIC_URL, or the
    request's origin), for the status endpoints it names."""

    def __init__(self, api: ApprovalsApi, key: ApiKey, *, base: str, request_id: str = "") -> None:
        self.api = api
        self.key = key
        self.base = base.rstrip("/")
        self.request_id = request_id

    async def answer(self, target: Target) -> dict[str, Any]:
        channel = target.ask.channel or self.key.default_channel
        if not self.key.allows(channel):
            raise ApiError(403, "forbidden", f"the key {self.key.name} may not ask in {channel}",
                           field="context.channel")
        if target.approval_id:
            answer = await self._reevaluated(target)
        else:
            answer = await self._walked(target, channel)
        await self._audit(target, answer)
        return answer

    async def _walked(self, target: Target, channel: str) -> dict[str, Any]:
        """The chain walked to `Evaluate`; a person's decision asked for (an approval opened) where it ends there."""
        ask, key = target.ask, self.key
        request = api_request(ask, approval_id=new_approval_id(), key=key)
        requester = await self.api.requester(ask.requester) if ask.requester else ""
        program = ProgramAsk(key=key, title=ask.title, requester=requester)
        end = Evaluate()
        await self.api.approvals.walk_quietly(request, run=program_run(key, channel), owner=API_OWNER,
                                              program=program, end=end)
        if end.decided is not None:
            return decided_answer(end.decided, policy=end.policy)
        step = end.person
        reason = (step.approval.policy_reason or step.approval.why) if step is not None else ""
        said = f"a person decides: {reason}" if reason else "a person decides"
        if not target.open_approvals:
            return {"decision": False, "context": {"reason": "approval_required", "reason_user": {"403": said}}}
        _, body = await self.api.ask(key, ask, idempotency_key=self._once(ask))
        if body.get("status") != "pending":  # decided meanwhile (a rule made since): as it was decided
            return approval_answer(body, reevaluated=False)
        return {"decision": False, "context": self._requestable(body, said)}

    def _once(self, ask: CheckedAsk) -> str:
        """The ask's Idempotency-Key: the request's `X-Request-ID` and the call, so a retry of the same request (a
        lost answer) finds the approval it opened instead of opening another; "" without one."""
        if not self.request_id or not IDEMPOTENCY_KEY.fullmatch(self.request_id):
            return ""
        return f"authzen:{self.request_id[:80]}:{ask.body_digest[:32]}"

    def _requestable(self, body: dict[str, Any], said: str) -> dict[str, Any]:
        """The context of a decision a person makes (provisional: the access-request profile's draft's words)."""
        status_endpoint = f"{self.base}/api/v1/approvals/{body['id']}"
        task: dict[str, Any] = {"id": body["id"], "status": "pending", "status_endpoint": status_endpoint}
        if body.get("card_url"):
            task["links"] = {"review": body["card_url"]}
        return {
            "reason": "approval_required", "reason_user": {"403": said}, "evaluation_id": body["id"],
            "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "task": task,
            "next_action": "retry", "retry_after": RETRY_AFTER,
            "wait": {"method": "GET", "url": f"{status_endpoint}?wait={MAX_WAIT_HINT}",
                     "then": "evaluate again with context.approval.id set to task.id"},
        }

    async def _reevaluated(self, target: Target) -> dict[str, Any]:
        """A re-evaluation naming the approval a person decided: true once for this key's approved call, bound to the
        same tool and arguments (and used); else false, saying what to do next."""
        approval_id, ask = target.approval_id, target.ask
        try:
            approval = await self.api.owned(self.key, await self.api.store.approvals.get(approval_id))
        except ApiError:
            approval = None
        if approval is None or approval.kind != "tool_call" or approval.tool_name != ask.tool_name or (
                approval.digest != digest_of(ask.arguments)):
            return refused("approval_unverifiable", "none", "the approval named is not this key's approval of this"
                           " exact call (the same tool and arguments)")
        if approval.pending:
            return {"decision": False, "context": {"reason": "approval_pending", "next_action": "retry",
                                                   "retry_after": RETRY_AFTER, "reason_user": {"403": "a person has"
                                                   " not decided yet"}}}
        if approval.status != "approved":
            return approval_answer(await self.api.view(approval), reevaluated=True)
        token = self.request_id if USE_TOKEN.fullmatch(self.request_id) else random_id("authzen-", 20)
        try:
            used = await self.api.use(self.key, approval_id, token=token)
        except ApiError as exc:  # the use refused it (revoked rule or key, frozen): not run
            return refused("approval_expired" if exc.status == 409 else "policy_denied", "none", exc.message)
        if not used.get("used"):
            return refused("approval_expired", "request", used.get("refusal") or "the approval was used already")
        return {"decision": True, "context": {"approval": {"id": approval_id}}}

    async def _audit(self, target: Target, answer: dict[str, Any]) -> None:
        context = answer.get("context", {})
        task = context.get("task", {})
        await self.api.store.audit.append(
            "authzen_evaluated", key=self.key.name, subject=target.subject[:200], tool=target.ask.tool_name,
            digest=digest_of(target.ask.arguments), decision="true" if answer["decision"] else "false",
            reason=str(context.get("reason", ""))[:200],
            approval=task.get("id") or target.approval_id)


async def evaluated_all(evaluator: Evaluator, targets: list[Target], semantic: str) -> list[dict[str, Any]]:
    """Each of `targets` evaluated in order; a short-circuit `semantic` stops at the first denial
    (`deny_on_first_deny`) or permit (`permit_on_first_permit`), the answers so far returned."""
    answers = []
    for target in targets:
        answer = await evaluator.answer(target)
        answers.append(answer)
        if (semantic == "deny_on_first_deny" and not answer["decision"]) or (
                semantic == "permit_on_first_permit" and answer["decision"]):
            break
    return answers


def refused(reason: str, next_action: str, said: str) -> dict[str, Any]:
    return {"decision": False, "context": {"reason": reason, "next_action": next_action,
                                           "reason_user": {"403": said[:500]}}}


def decided_answer(decision: Decision, *, policy: str) -> dict[str, Any]:
    """What a link decided at once, as an AuthZEN decision."""
    if decision.outcome == "approved":
        return {"decision": True}
    reason = "frozen" if decision.decided_by == FROZEN_BY else "policy_denied"
    context: dict[str, Any] = {"reason": reason, "reason_user": {"403": decision.feedback[:500] or "refused"}}
    if policy:
        context["reason_admin"] = {"403": f"refused by policy {policy}"}
    return {"decision": False, "context": context}


def approval_answer(body: dict[str, Any], *, reevaluated: bool) -> dict[str, Any]:
    """An approval decided (not by a person's approval of a re-evaluation) as a decision: refused, timed out, ..."""
    status = body.get("status", "")
    if status == "approved" and not reevaluated:  # decided at once by a rule since the walk: used on re-evaluation
        return {"decision": False, "context": {"reason": "approval_required", "next_action": "retry",
                                               "retry_after": 0, "task": {"id": body["id"], "status": "approved"}}}
    said = body.get("refusal") or body.get("reason") or f"the approval is {status}"
    return refused(f"approval_{status}" if status else "approval_unverifiable", "none", str(said))
