"""Reveal: a reviewer who may decide an approval sees its hidden values on the bot's page, never in Slack. "Show
hidden values" (button action `reveal`) answers them, ephemerally, with a one-time link to `/reveal/<token>` (5
minutes, for them and that approval); the page, after Sign in with Slack as them, checks again that they may decide
it (the same rights check as a click: the decide step's dry run) and shows each hidden value (where, what kind, the
value) once: the link is used up as it is shown, and every reveal is audited (`revealed`: who, which approval, which
fields) and shown on the card ("Hidden values seen by @bob"). Where the approval needs step-up (its channel's
`step_up`, a policy's @step_up), the page first asks for the person's passkey, its challenge bound to the approval,
"reveal", its arguments' digest and the link (the `revealed` entry then carries `amr`).

The hidden values are those found when the approval was opened (its schema, the policy's `redact:`, the detectors of
REDACT_DETECTORS: bot/redaction/hiding.py), read sealed from the store (`store.hidden`): none once it ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from bot.approvals import ApprovalService
from bot.core.passkeys import CREDENTIAL_ID, Assurance, Passkey, RelyingParty, challenge_for
from bot.core.records import ApprovalRecord
from bot.redaction.hiding import Hiding
from bot.stepup.enrolment import StepUpError, options_for, required, usable
from bot.stepup.votes import asserted
from bot.store import Store

REVEAL: Final = "reveal"
REVEAL_SECONDS: Final = 300  # a link works this long
SHOWN_SECONDS: Final = 60  # the page hides the values after this
GONE: Final = "This link is unknown, expired or already used: click “Show hidden values” on the card again."
NOT_YOURS: Final = "You may not decide this approval, so its hidden values are not shown to you."
NO_PASSKEY: Final = ("This approval needs your passkey to show its hidden values, and you have none yet: set one up"
                     " from your Home (Passkeys), then click “Show hidden values” again.")


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

    def __init__(self, store: Store, approvals: ApprovalService, rp: RelyingParty | None, *,
                 cooloff: float = 0.0) -> None:
        self._store = store
        self._approvals = approvals
        self.rp = rp
        self.cooloff = cooloff  # STEP_UP_NEW_PASSKEY_COOLOFF, as for votes

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

    async def needs_passkey(self, token: str) -> bool:
        """Whether the link's approval needs step-up (its channel's `step_up`, a policy's @step_up): then its values
        are shown only once the person's passkey confirmed this reveal (`options`, then `show` with `credential`)."""
        _, approval_id = await self.usable(token)
        approval = await self._store.approvals.get(approval_id)
        return approval is None or bool(approval.step_up)  # (gone: `show` refuses it)

    async def options(self, token: str) -> dict[str, Any]:
        """The authentication options of this reveal (its challenge bound to the approval, "reveal", its arguments'
        digest and the link), for the person's passkeys; 409 when they have none."""
        rp = required(self.rp)
        user, approval_id = await self.usable(token)
        approval = await self._may_see(user, approval_id)
        passkeys = await self._store.passkeys.of(user)
        if not passkeys:
            raise StepUpError(409, NO_PASSKEY)
        return options_for(rp, passkeys, challenge_for(approval.id, REVEAL, approval.digest, token))

    async def show(self, token: str, *, credential: object = None) -> Revealed:
        """The link's values, once (the link is used up), audited; checked again that its person may decide. Where
        the approval needs step-up, only with `credential`: the person's passkey's answer to `options`."""
        found = await usable(self._store, token, REVEAL, GONE)
        user, approval_id = found.user, found.approval
        approval = await self._may_see(user, approval_id)
        values = await hidden_values(approval, hiding=self._approvals.chain.hiding)
        amr = ""
        if approval.step_up:
            assurance, passkey = await self._confirmed(user, approval, token, credential)
            if not await self._store.passkeys.voted(found, passkey):  # the link taken, the sign count kept
                raise StepUpError(410, GONE)
            amr = f"passkey:{assurance.passkey}"
        elif not await self._store.passkeys.take_token(token):
            raise StepUpError(410, GONE)
        await self._store.audit.append("revealed", by=user, approval=approval.id,
                                       fields=",".join(v.where for v in values)[:500], **({"amr": amr} if amr else {}))
        if await self._store.approvals.note_reveal(approval.id, user):  # the card says who saw them
            noted = await self._store.approvals.get(approval.id)
            if noted is not None:
                self._approvals.cards.schedule(noted)
        return Revealed(approval=approval, values=values)

    async def _confirmed(self, user: str, approval: ApprovalRecord, token: str,
                         credential: object) -> tuple[Assurance, Passkey]:
        """The assurance of the person's passkey confirming this reveal; `StepUpError` (audited) otherwise."""
        rp = required(self.rp)
        credential_id = credential.get("id") if isinstance(credential, dict) else None
        if not isinstance(credential, dict) or not isinstance(credential_id, str) \
                or not CREDENTIAL_ID.fullmatch(credential_id):
            raise StepUpError(400, "This approval needs your passkey to show its hidden values: confirm with it.")
        try:
            return await asserted(self._store, rp, user, credential_id, credential, what="shown",
                                  challenge=challenge_for(approval.id, REVEAL, approval.digest, token),
                                  cooloff=self.cooloff)
        except StepUpError as exc:
            await self._store.audit.append("refused", by=user, approval=approval.id,
                                           reason=f"reveal: step-up: {exc.message}"[:300])
            raise

    async def _may_see(self, user: str, approval_id: str) -> ApprovalRecord:
        own = self._approvals.people.surface(user)  # (a page: the person's own surface)
        result = await self._approvals.decisions.may_decide(user, own, "approve", approval_id=approval_id)
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
