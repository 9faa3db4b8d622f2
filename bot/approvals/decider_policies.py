"""Policies about who decides, at each person's vote (`Decisions.decide`, not a dry run, whatever the surface:
a Slack click or form, a Teams Execute, a Home, the step-up page's vote): the vote asked of the worker's current
bundle's decider policies (`principal is Person`: bot/policy/), as a `DeciderRequest`, before the atomic decide step,
as fitness to decide (attestations) is.

A matching forbid (or, for an Approve or Revise, one that could not be evaluated) refuses the vote: nothing changes,
the person is told `Policy <id>: <reason>` (status `policy`, in the words of bot/approvals/refusals.py, on every
surface) and it is audited `refused` naming who (`by`), the action (`vote`), the policies and the surface. A shadow
decider policy refuses nothing: what it would have refused is audited `policy_shadow`. A vote the decide step would
refuse anyway (not theirs to decide, decided already) is left to it: it says so, and audits it, as ever."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.core.records import ApprovalRecord
from bot.core.workspaces import WorkspaceRef
from bot.policy.decide import DeciderRequest, Vote
from bot.policy.engine import Judged, PolicyEngine
from bot.store import DecideResult, Store, persistently

VOTES: dict[str, Vote] = {"approved": "approve", "rejected": "reject", "revised": "revise"}
THEIRS = ("allowed", "step_up", "details", "attestation")  # the decide step would take their vote, once confirmed

Check = Callable[[], Awaitable[DecideResult]]  # the decide step asked without deciding (its checks taken again)


class DeciderPolicies:
    """The decider policies' check of a vote (module docstring), with the worker's policy engine; `quiet`: the seconds
    in which one person's refused votes of an approval are audited as one entry (a flood of replayed clicks)."""

    def __init__(self, engine: PolicyEngine, store: Store, *, quiet: int) -> None:
        self.engine = engine
        self.store = store
        self.quiet = quiet

    async def refused(self, approval_id: str, *, outcome: str, user: str, surface: str, person: WorkspaceRef | None,
                      check: Check) -> DecideResult | None:
        """The refusal of `user`'s vote (`outcome`) by a decider policy, audited; None when it may go on to the
        decide step (no decider policy refuses it, only a shadow one would, or the decide step refuses it anyway).
        `surface`: where the vote is made (the caller's word; the person's own surface when it had none)."""
        vote = VOTES.get(outcome)
        if vote is None or not self.engine.evaluator.deciders:
            return None
        approval = await self.store.approvals.get(approval_id)
        if approval is None or not approval.pending:
            return None  # the decide step says so
        request = decider_request(approval, vote=vote, user=user, surface=surface, person=person)
        judged = self.engine.judge_decider(request)
        if judged is None:
            return None
        verdict = judged.verdict
        if verdict.outcome == "none" and verdict.shadow is None:
            return None
        checked = await check()
        if checked.status not in THEIRS:
            return None  # not theirs to decide (or decided meanwhile): the decide step refuses it and audits it
        entry = {"by": user, "action": "vote", "approval": approval_id, "outcome": outcome, "vote": vote,
                 "surface": request.surface, "tool": request.action}
        if verdict.shadow is not None and verdict.shadow.outcome == "deny":
            shadow = verdict.shadow
            await persistently(lambda: self.store.audit.append(
                "policy_shadow", at=repr(time.time()), **entry, would="refuse",
                reason=shadow.reason[:500], policy=_claim(judged, shadow.ids)), what="auditing a shadow policy")
        if verdict.outcome != "deny":
            return None
        await self.store.audit.refusal(f"policy:{user}:{approval_id}:{outcome}", "refused", window=self.quiet,
                                       **entry, policy=_claim(judged, verdict.ids), policies=",".join(verdict.ids),
                                       reason=verdict.reason[:500], **({"error": verdict.error} if verdict.error
                                                                       else {}))
        return DecideResult("policy", checked.approval or approval, refused=verdict.reason)


def decider_request(approval: ApprovalRecord, *, vote: Vote, user: str, surface: str,
                    person: WorkspaceRef | None) -> DeciderRequest:
    """A vote on `approval` as the decider policies see it: the action and channel as its ask had them, its arguments
    as stored (hidden values as their masks), who asked and the ids of the policies that asked."""
    tool_call = approval.kind == "tool_call"
    try:
        args: Any = json.loads(approval.arguments) if tool_call and approval.arguments else {}
    except ValueError:
        args = {}
    try:
        claim = json.loads(approval.policy) if approval.policy else {}
    except ValueError:
        claim = {}
    ids = claim.get("ids") if isinstance(claim, dict) else None
    return DeciderRequest(
        person=user, surface=surface, action=(approval.tool_name or "tool") if tool_call else approval.kind,
        channel=approval.origin_channel, vote=vote, kind=approval.kind, args=args,
        person_team=person.team if person is not None else "",
        person_enterprise=(person.enterprise or "") if person is not None else "",
        requester=approval.requester, asker=approval.asked_by or approval.run_id,
        policies=tuple(str(i) for i in ids) if isinstance(ids, list) else (),
        team=approval.team, enterprise=approval.enterprise,
    )


def _claim(judged: Judged, ids: tuple[str, ...]) -> str:
    return json.dumps(judged.bundle.claim(ids), separators=(",", ":"))
