"""Signed receipts of approvals that allow a call, and their use by an executor.

Every API answer and webhook that shows an approval allowing a call (approved by a person, a quorum, an
"always allow" rule, the channel's input mode, or a timeout whose outcome approves) carries `receipt`: a
compact JWS (EdDSA, header typ `approval-receipt+jwt`, agent_approvals/receipts.py) signed with the
deployment's current key (bot/core/signing.py). Its claims:

    iss          RECEIPT_ISSUER, else PUBLIC_URL, else "slack-agent-approvals"
    sub          the approval's id
    aud          the id of the API key that asked (`k-…`: never another key's, unlike its name, which a revoked
                 key frees; `python -m bot keys list` shows it); its name only for an approval asked before key ids
    jti          unique ("rcpt_" and 32 hex digits): the executor spends it once
    iat, exp     issued at, and exp = iat + RECEIPT_TTL (seconds since 1970)
    tool         the tool's name (absent for a message or code)
    args_sha256  hex SHA-256 of the RFC 8785 canonical JSON of the arguments to run (the edited ones when a
                 reviewer edited them: the edited call is its own approval)
    artifacts    the digest (`agent_approvals.artifacts.artifact_sha256`) of each artefact of the ask, in its order
                 (a reviewer's edited one when revised: what `ApprovalRecord.artifacts` keeps); absent when none
    decided_by   [{"type": "person", "id", "name"}...] (each vote of a quorum), [{"type": "rule", "id"}],
                 [{"type": "mode", "mode"}] or [{"type": "timeout"}]; a person whose passkey confirmed their vote
                 (step-up, bot/stepup/) also has "amr" (["pop", "mfa"]), "passkey" (the SHA-256 of its credential id)
                 and "auth_time" (when the assertion was verified)
    quorum       {"required": n}, when more than one approval was needed
    audit        {"seq", "id"}: the audit entry of the allowing decision, when the store recorded it

One receipt per approval (bot/store/receipts.py keeps the first one signed); a new one only once it has
expired unspent. Rejected, expired, withdrawn and revised approvals have none, and nothing has one when no
signing key is configured.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from agent_approvals.receipts import TYPE, args_sha256

from bot.api.requests import ApiError
from bot.core.records import ApprovalRecord
from bot.core.signing import SigningError, SigningKey, SigningKeys
from bot.store import Store
from bot.store.audit import Announced
from bot.store.receipts import Receipts

log = logging.getLogger(__name__)

DEFAULT_ISSUER = "slack-agent-approvals"
_HEX64 = re.compile(r"[0-9a-f]{64}")
NameOf = Callable[[str], Awaitable[str | None]]


def allows(approval: ApprovalRecord) -> bool:
    """Whether the approval lets its call run: approved, or timed out with the outcome approve."""
    return approval.status == "approved" or (approval.status == "timed_out" and approval.timeout_outcome == "approve")


def issuer_of(receipt_issuer: str, public_url: str) -> str:
    return receipt_issuer or public_url or DEFAULT_ISSUER


def new_jti() -> str:
    return "rcpt_" + secrets.token_hex(16)


async def deciders(approval: ApprovalRecord, names: NameOf | None) -> list[dict[str, Any]]:
    """The `decided_by` claim: who or what let the call run."""
    if approval.status == "timed_out":
        return [{"type": "timeout"}]
    if approval.rule_id:
        return [{"type": "rule", "id": approval.rule_id}]
    if approval.decided_by == "policy":
        return [{"type": "policy", "ids": json.loads(approval.policy).get("ids", []) if approval.policy else []}]
    if approval.decided_by.startswith("model:"):  # the triage model (#92): a model decided, never a person
        return [{"type": "model", "model": approval.decided_by.removeprefix("model:")}]
    if approval.decided_by == "auto":
        return [{"type": "mode", "mode": approval.decided_by_mode or "auto"}]
    people = _people(approval)
    if names is not None:
        found = await asyncio.gather(*(names(person["id"]) for person in people), return_exceptions=True)
        for person, name in zip(people, found, strict=True):
            if isinstance(name, str) and name:
                person["name"] = name
    return people


def _people(approval: ApprovalRecord) -> list[dict[str, Any]]:
    """The people who approved: each voter of a quorum (or the one who decided), as who clicked (`id`), for whom
    (`on_behalf_of`, when away) and the passkey that confirmed their vote (step-up)."""
    voters = approval.voters if approval.required_approvals > 1 and approval.voters else [approval.decided_by]
    assured = {str(entry.get("by")): entry for entry in approval.assured}
    people: list[dict[str, Any]] = []
    for voter in voters:
        actor = approval.voted_through(voter) if len(voters) > 1 else ""
        principal = approval.on_behalf if len(voters) == 1 else (voter if actor else "")
        person: dict[str, Any] = {"type": "person", "id": actor or voter}
        if principal and principal != person["id"]:
            person["on_behalf_of"] = principal
        if (confirmed := assured.get(person["id"])) is not None:  # step-up: the vote's passkey
            person.update(amr=list(confirmed.get("amr") or ()), passkey=str(confirmed.get("passkey", "")),
                          auth_time=int(float(confirmed.get("at") or 0)))
        people.append(person)
    return people


def full_args_sha256(approval: ApprovalRecord) -> str:
    """`args_sha256` of the call's full arguments: kept on the record when values of them are hidden (its
    `arguments` are the redacted copy); ValueError when they have no RFC 8785 form (no receipt)."""
    if approval.hidden:
        if not approval.args_sha256 or approval.args_sha256 == "-":
            raise ValueError("the full arguments have no RFC 8785 form")
        return approval.args_sha256
    return args_sha256(json.loads(approval.arguments) if approval.arguments else {})


class UnboundArtifacts(ValueError):
    """An approval's artefacts whose digests cannot be read: it gets no receipt (one never binds less than was
    approved)."""


def artifact_digests(approval: ApprovalRecord) -> list[str]:
    """The `artifacts` claim: the `sha256` kept with each of the approval's artefacts (of the artefact as asked, or
    as a reviewer edited it), in order; `UnboundArtifacts` when one is unreadable."""
    try:
        kept = json.loads(approval.artifacts)
    except ValueError:
        raise UnboundArtifacts("its artefacts are not readable") from None
    items = kept if isinstance(kept, list) else []
    digests = [item.get("sha256") if isinstance(item, dict) else None for item in items]
    if not digests or not all(isinstance(digest, str) and _HEX64.fullmatch(digest) for digest in digests):
        raise UnboundArtifacts("its artefacts have no digests")
    return [str(digest) for digest in digests]


async def receipt_claims(
    approval: ApprovalRecord, *, issuer: str, ttl: int, now: float, jti: str, names: NameOf | None = None
) -> dict[str, Any]:
    """The claims of an approval's receipt (see the module docstring)."""
    iat = int(now)
    claims: dict[str, Any] = {
        "iss": issuer, "sub": approval.id, "aud": approval.key_id or approval.asked_by, "jti": jti, "iat": iat,
        "exp": iat + ttl,
    }
    if approval.kind == "tool_call":
        claims["tool"] = approval.tool_name
        claims["args_sha256"] = full_args_sha256(approval)
    if approval.artifacts:
        claims["artifacts"] = artifact_digests(approval)
    claims["decided_by"] = await deciders(approval, names)
    if approval.required_approvals > 1:
        claims["quorum"] = {"required": approval.required_approvals}
    if approval.policy:  # the policies that decided or routed it: {bundle: <sha256>, ids: [...]}
        claims["policy"] = json.loads(approval.policy)
    if approval.decided_audit_seq and approval.decided_audit_id:
        claims["audit"] = {"seq": approval.decided_audit_seq, "id": approval.decided_audit_id}
    return claims


class Announcer(Protocol):
    """What announces a signing key in the audit log before it signs (bot.audit.checkpoints.KeyAnnouncer)."""

    async def announced(self, key: SigningKey, keys: SigningKeys, *, upgrading: bool | None = None) -> Announced:
        ...


class ReceiptIssuer:
    """Signs, keeps and checks the receipts of one deployment (see the module docstring)."""

    def __init__(
        self, store: Store, keys: SigningKeys, *, issuer: str, ttl: int, announcer: Announcer,
        names: NameOf | None = None,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.ttl = ttl
        self.names = names
        self._stored = Receipts(store.shared)
        self._announcer = announcer  # a key signs no receipt before the log announces it

    async def receipt_of(self, approval: ApprovalRecord) -> str | None:
        """The approval's receipt: the one kept, or a new one (kept unless another worker kept one first);
        None when it allows no call or was not asked through the API."""
        if not allows(approval) or not approval.asked_by:
            return None
        now = time.time()
        stored = await self._stored.get(approval.id)
        if stored is not None and stored.valid(now):
            return stored.receipt
        jti = new_jti()
        try:
            claims = await receipt_claims(approval, issuer=self.issuer, ttl=self.ttl, now=now, jti=jti,
                                          names=self.names)
        except ValueError as exc:  # arguments RFC 8785 cannot encode (asked before the ask refused them), artefacts
            # without their digests: none (fail closed)
            why = exc if isinstance(exc, UnboundArtifacts) else "its arguments have no RFC 8785 form"
            log.warning("approval %s has no receipt: %s (%s)", approval.id, why, type(exc).__name__)
            return None
        kept = await self._stored.keep(approval.id, await self._signed(claims), jti=jti, exp=claims["exp"], now=now)
        return None if kept is None else kept.receipt

    async def _signed(self, claims: dict[str, Any]) -> str:
        """`claims` signed by the current key once the log announces it (a key rotated between the two: again, with
        the new one)."""
        while True:
            announced = await self._announcer.announced(self.keys.current, self.keys)
            try:
                return self.keys.sign(claims, typ=TYPE, kid=announced.kid)
            except SigningError:
                continue  # the keys file changed since the announcement: announce and sign with the new current key

    def check(self, receipt: str, approval_id: str) -> dict[str, Any]:
        """The claims of `receipt` when it is one of ours for this approval (expired ones too: the caller
        looks at `exp`); 401 invalid_receipt saying why not."""
        try:
            claims = self.keys.verify(receipt, typ=TYPE)
        except SigningError as exc:
            raise invalid(f"the receipt does not verify: {exc}") from None
        if claims.get("sub") != approval_id:
            raise invalid(f"the receipt is not approval {approval_id}'s")
        if claims.get("iss") != self.issuer:
            raise invalid("the receipt was not issued by this deployment")
        if not isinstance(claims.get("jti"), str) or not isinstance(claims.get("exp"), int):
            raise invalid("the receipt has no jti or exp")
        return claims

    async def spend(self, approval: ApprovalRecord, claims: dict[str, Any], *, token: str) -> None:
        """An executor spends an approval's receipt (its `claims`, from `check`), once (bot/store/receipts.py):
        returns when this token spent it (now or before: a retry), else raises `use_refused`'s error."""
        expired = claims["exp"] <= time.time()
        status, said = await self._stored.use(approval.id, jti=claims["jti"], token=token,
                                              origin_channel=approval.origin_channel, expired=expired)
        if status != "ok":
            raise use_refused(status, said, approval.id)


def use_refused(status: str, said: str, approval_id: str) -> ApiError:
    """The one answer to a use the store refused, whoever used it (the program with its key, `ApprovalsApi.use`,
    or an executor with a receipt): 409 used (another token used it, `said` when), 401 invalid_receipt
    (expired, or not the one issued for it), 409 not_approved, 409 rule_revoked (`said`: the rule), 409
    key_revoked (the key that asked was revoked: nothing it holds runs any more), 423 frozen (its scope is frozen,
    `/agent freeze`: nothing in it runs until unfrozen), 404."""
    if status == "frozen" and said == "unspread":  # (sharded: a freeze not yet copied into its workspace)
        return ApiError(423, "frozen", f"frozen: a freeze is still reaching approval {approval_id}'s workspace: it may"
                        " not be used until it has; try again in a moment", retry_after=5)
    if status == "frozen":
        return ApiError(423, "frozen", f"frozen: approval {approval_id} is in a frozen scope ({said}): it may not be"
                        " used until an admin unfreezes it")
    if status == "used":
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(said or 0)))
        return ApiError(409, "used", f"the receipt of approval {approval_id} was used by another executor at"
                        f" {when}: this call may not run")
    if status == "expired":
        return invalid("the receipt has expired: read the approval again for a new one")
    if status == "unknown":
        return invalid(f"the receipt is not the one issued for approval {approval_id}")
    if status == "not_approved":
        return ApiError(409, "not_approved", f"approval {approval_id} is not approved: it may not be used")
    if status == "revoked":
        return ApiError(409, "rule_revoked", f"rule {said}, which approved this call, was revoked or expired"
                        " before the call was used: ask again")
    if status == "key_revoked":
        return ApiError(409, "key_revoked", f"the API key {said} that asked for approval {approval_id} was revoked:"
                        " its approvals and receipts no longer let any call run")
    return ApiError(404, "not_found", "no such approval")


def invalid(why: str) -> ApiError:
    return ApiError(401, "invalid_receipt", why)
