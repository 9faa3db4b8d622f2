"""A call a program's own allow-list let through (`POST /api/v1/audit/allowed`), decided as every way in is: the
decision chain's links walked (bot/approvals/chain.py: the policies first; the input mode and the channel's rules
are not read, the allow-list being the program's answer given in advance, as a rule is), to its own end,
`RecordAllowed`: the call recorded as allowed, an `allowed` audit entry counted in the policy windows the policies
read for it, in one store step (`AuditLog.append_once`), so a budget counts what allow-lists let through as it
counts approvals allowed at once. A policy that refuses the call answers 403 `refused_by_policy` (audited); one that
asks a person, 409 `ask_a_person` (the program asks for an approval instead: a card)."""

from __future__ import annotations

import json
import time
from typing import Any

from agent_approvals.approver import ApprovalRequest, canonical_json, digest_of

from bot.api.requests import ApiError, CheckedAllowed
from bot.approvals import Decided, Opened, Step
from bot.core.ids import random_id
from bot.core.key_records import ApiKey
from bot.core.verdicts import FROZEN_BY
from bot.store import Store
from bot.store.opening import AUDITED_ARGUMENTS

IDEMPOTENCY_SECONDS = 24 * 3600


def new_call_id() -> str:
    """The id of a call recorded as allowed by a program's own allow-list."""
    return random_id("c-", 24)


def allowed_request(key: ApiKey, allowed: CheckedAllowed, *, call_id: str) -> ApprovalRequest:
    """The call as the chain takes it: a tool call bound to the digest of its arguments."""
    arguments = canonical_json(allowed.arguments)
    return ApprovalRequest(approval_id=call_id, proposal=f"{allowed.tool_name}({arguments})",
                           author=allowed.agent or key.name, kind="tool_call", tool_name=allowed.tool_name,
                           arguments=arguments, digest=digest_of(allowed.arguments))


class RecordAllowed:
    """The chain's end for one allow-listed call (the module docstring); `answer` once recorded."""

    def __init__(self, store: Store, key: ApiKey, allowed: CheckedAllowed, *, channel: str, requester: str,
                 idempotency_key: str = "") -> None:
        self._store = store
        self._key = key
        self._allowed = allowed
        self._channel = channel
        self._requester = requester
        self._idempotency_key = idempotency_key
        self.answer: dict[str, Any] = {}

    async def decide(self, step: Step) -> Opened:
        """Nobody decided at once: recorded as the allow-list let it through, unless a policy asks a person."""
        if step.to_person:  # (a link sent it to a person: an ask policy, routed)
            who = f"policy {', '.join(step.routed_by)}" if step.routed_by else "the decision chain"
            reason = step.approval.policy_reason or step.approval.why
            raise ApiError(409, "ask_a_person", f"{who} asks a person: {reason}. Ask for an approval"
                           " (POST /api/v1/approvals) instead of recording the call as allowed.")
        return await self._record(step, claim="")

    async def settle(self, decided: Decided) -> Opened:
        """A policy allowed the call (recorded, naming it) or refused it (403, audited)."""
        step = decided.step
        if decided.decision.outcome == "approved":
            return await self._record(step, claim=step.approval.policy if decided.policy is not None else "")
        allowed = self._allowed
        if decided.decision.decided_by == FROZEN_BY:  # a frozen scope: 423 `frozen`, with the freeze's words
            await self._store.audit.append(
                "api_refused", key=self._key.name, reason="frozen", tool=allowed.tool_name,
                digest=step.approval.digest, origin_channel=self._channel, said=decided.decision.feedback[:500])
            raise ApiError(423, "frozen", decided.decision.feedback)
        who = (f"policy {', '.join(decided.policy.verdict.ids) or '(none)'}" if decided.policy is not None
               else decided.decision.decided_by)
        await self._store.audit.append(
            "api_refused", key=self._key.name, reason="refused_by_policy", tool=allowed.tool_name,
            digest=step.approval.digest, origin_channel=self._channel, policy=step.approval.policy,
            said=f"{decided.decision.feedback} (allowed by {allowed.allowed_by}, refused by the policies first)"[:500])
        raise ApiError(403, "refused_by_policy", f"refused by {who}: {decided.decision.feedback}")

    async def _record(self, step: Step, *, claim: str) -> Opened:
        """The `allowed` entry, counted in the windows the policies read, once per Idempotency-Key."""
        key, allowed, approval = self._key, self._allowed, step.approval
        answer = {"id": approval.id, "status": "allowed", "tool": allowed.tool_name, "digest": approval.digest,
                  "allowed_by": allowed.allowed_by,
                  "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        entry: dict[str, str | float] = {
            "call": approval.id, "key": key.name, "by": "allow-list", "outcome": "allowed",
            "reason": f"not asked: the allow-list of key {key.name} ({allowed.allowed_by})"[:500],
            "rule": allowed.allowed_by, "kind": "tool_call", "tool": allowed.tool_name, "digest": approval.digest,
            "origin_channel": self._channel,
            **({"arguments": approval.arguments} if len(approval.arguments) <= AUDITED_ARGUMENTS else {}),
            **({"agent": allowed.agent} if allowed.agent else {}),
            **({"requester": self._requester} if self._requester else {}),
            **({"policy": claim} if claim else {}),
        }
        once = None
        if self._idempotency_key:  # ("/": never an ask's key)
            once = self._store.keys.api_idempotency(key.id, f"allowed/{self._idempotency_key}")
        status, said = await self._store.audit.append_once(once, "allowed", entry, body_digest=allowed.body_digest,
                                                           answer=json.dumps(answer), ttl=IDEMPOTENCY_SECONDS,
                                                           windows=step.windows)
        if status == "conflict":
            raise ApiError(409, "idempotency_conflict", "this Idempotency-Key was used with another body",
                           field="Idempotency-Key")
        if status == "stale":  # (the chain decides again)
            return Opened(status, approval.id)
        self.answer = json.loads(said)
        return Opened("ok", approval.id)
