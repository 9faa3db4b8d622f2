"""Reveal: a reviewer who may decide an approval sees its hidden values on the bot's page, never in Slack. "Show
hidden values" (button action `reveal`) answers them, ephemerally, with a one-time link to `/reveal/<token>` (5
minutes, for them and that approval); the page, after Sign in with Slack as them, checks again that they may decide
it (the same rights check as a click: the decide step's dry run) and shows each hidden value (where, what kind, the
value) once: the link is used up as it is shown, and every reveal is audited (`revealed`: who, which approval, which
fields) and shown on the card ("Hidden values seen by @bob").

The hidden values are those found when the approval was opened (its schema, the policy's `redact:`, the detectors of
REDACT_DETECTORS: bot/approvals/hiding.py), read sealed from the store (`store.hidden`): none once it ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.approvals.hiding import Hiding
from bot.approvals.service import ApprovalService
from bot.core.passkeys import RelyingParty
from bot.core.records import ApprovalRecord
from bot.stepup.enrolment import StepUpError, required, usable
from bot.store import Store

REVEAL: Final = "reveal"
REVEAL_SECONDS: Final = 300  # a link works this long
SHOWN_SECONDS: Final = 60  # the page hides the values after this
GONE: Final = "This link is unknown, expired or already used: click “Show hidden values” on the card again."
NOT_YOURS: Final = "You may not decide this approval, so its hidden values are not shown to you."


@dataclass(frozen=True)
class Shown:
    """One hidden value as the page shows it."""

    where: str
    kind: str
    value: str


@dataclass(frozen=True)
class Revealed:
    """What a reveal's page shows: the approval and its hidden values."""

    approval: ApprovalRecord
    values: tuple[Shown, ...]


class Reveal:
    """Reveal links and pages."""

    def __init__(self, store: Store, approvals: ApprovalService, rp: RelyingParty | None) -> None:
        self._store = store
        self._approvals = approvals
        self.rp = rp

    async def link(self, user: str, approval_id: str) -> str:
        """A new one-time link for `user` to see `approval_id`'s hidden values; `StepUpError` when they may not
        decide it (403), it has none (409) or the bot has no pages URL (503)."""
        origin = required(self.rp).origin
        approval = await self._may_see(user, approval_id)
        token = await self._store.passkeys.issue_token(user, purpose=REVEAL, seconds=REVEAL_SECONDS,
                                                       approval=approval.id)
        return f"{origin}/reveal/{token}"

    async def usable(self, token: str) -> tuple[str, str]:
        """(whose, which approval) of the link; `StepUpError` (410) when it cannot be used."""
        found = await usable(self._store, token, REVEAL, GONE)
        return found.user, found.approval

    async def show(self, token: str) -> Revealed:
        """The link's values, once (the link is used up), audited; checked again that its person may decide."""
        user, approval_id = await self.usable(token)
        approval = await self._may_see(user, approval_id)
        values = await hidden_values(approval, hiding=self._approvals.chain.hiding)
        if not await self._store.passkeys.take_token(token):
            raise StepUpError(410, GONE)
        await self._store.audit.append("revealed", by=user, approval=approval.id,
                                       fields=",".join(v.where for v in values)[:500])
        if await self._store.approvals.note_reveal(approval.id, user):  # the card says who saw them
            noted = await self._store.approvals.get(approval.id)
            if noted is not None:
                self._approvals.cards.schedule(noted)
        return Revealed(approval=approval, values=values)

    async def _may_see(self, user: str, approval_id: str) -> ApprovalRecord:
        result = await self._approvals.may_decide(approval_id, outcome="approved", user=user, card=None)
        approval = result.approval
        if approval is None or result.status != "allowed":
            await self._store.audit.append("refused", by=user, approval=approval_id, reason=f"reveal: {result.status}")
            raise StepUpError(403, NOT_YOURS)
        if not await hidden_values(approval, hiding=self._approvals.chain.hiding):
            raise StepUpError(409, "This approval has no hidden values.")
        return approval


async def hidden_values(approval: ApprovalRecord, *, hiding: Hiding) -> tuple[Shown, ...]:
    """The hidden values of `approval`'s arguments, in document order: what its record says was hidden (the tool's
    schema, policy.yaml's `redact:`, the detectors), each value as sealed when it was opened (`store.hidden`);
    none when they are not kept (no SECRETS_KEY) or its approval ended."""
    kept = await hiding.kept(approval.id) if approval.hidden else None
    values = (kept or {}).get("values")
    items = approval.hidden_items
    if not isinstance(values, list) or len(values) != len(items):
        return ()
    return tuple(Shown(where=str(item.get("path", "")), kind=str(item.get("kind", "")), value=str(value))
                 for item, value in zip(items, values, strict=True))
