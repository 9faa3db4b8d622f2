"""Step-up votes: a person's Approve of an approval that needs step-up counts only once their passkey confirmed the
exact action, on the bot's own page (WebAuthn, by the `webauthn` package).

    link(user, approval, surface=)   -> the URL of a one-time link for `user` to confirm their Approve of `approval`
                                (5 min), bound to them, the approval, the digest of the arguments it shows and the
                                surface they clicked on (`teams`; "" for Slack); None when they have no passkey
    answer(user, approval, surface=) -> what they are told after their click: that link, or how to set up a passkey
    action(token)            -> what the page shows: the person, the approval, its tool and arguments as on the card,
                                the arguments' digest and, where a policy window sums one, the amount
    options(token)           -> the authentication options: the person's passkeys, user verification required, and
                                the challenge derived from the approval id, "approve", the digest and the link's
                                nonce (`bot.core.passkeys.challenge_for`)
    finish(token, body)      -> the person checked as a click is ("only our own people", Slack asked afresh: they
                                may have been deactivated or made a guest since their click), the browser's
                                assertion verified against that challenge, the approval's digest now and one of the
                                person's own passkeys, added at least the operator's cooling-off ago
                                (STEP_UP_NEW_PASSKEY_COOLOFF); then their Approve goes through the decide step with its
                                `Assurance` and the surface the link kept (every approver rule applies there again;
                                the vote's and the decision's audit entries name that surface, whatever the page's
                                request says), and the link is taken with the passkey's new sign count

A signature made for another approval, for "reject", for other arguments or through another link does not verify;
a replayed one finds its link taken (or its passkey's sign count past it); another person's passkey is not among
this person's. Every refusal is a `StepUpError` (400 bad input or an assertion that does not confirm this vote,
403 a person no longer one of ours or a passkey too new, 409 the approval no longer waits for this vote, 410 a link
unknown, expired or used, 503 no relying party or Slack cannot say who the person is), and changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from webauthn import verify_authentication_response
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException

from bot.approvals import ApprovalService, Writing
from bot.approvals.refusals import CANNOT_CHECK, refusal_text, step_up_text
from bot.core.durations import format_duration
from bot.core.passkeys import Assurance, Passkey, RelyingParty, challenge_for, credential_digest
from bot.core.records import ApprovalRecord
from bot.core.writing import PlainWriting
from bot.policy.decide import usd
from bot.policy.engine import PolicyEngine
from bot.slack.directory import Directory
from bot.stepup.enrolment import NOT_SET_UP, StepUpError, options_for, passkey_answer, required, usable
from bot.store import DecideResult, Store
from bot.store.passkeys import VOTE, StepUpToken

GONE = "This link is unknown, expired or already used. Click Approve on the card again for a new one."
NOT_THIS = "The passkey's answer does not confirm this approval, so nothing was approved."


@dataclass(frozen=True, slots=True)
class Action:
    """What the page shows of the vote it confirms."""

    person: str  # the person's name
    approval: ApprovalRecord
    arguments: str  # the arguments as on the card (indented JSON), or the proposal
    amounts: tuple[tuple[str, int], ...] = ()  # (the summed argument, its value) of each policy window it counts in

    @property
    def amount_lines(self) -> list[str]:
        return [f"{name} = {value:,}" + (f" ({usd(value)})" if name.endswith("cents") else "")
                for name, value in self.amounts]


class Confirmation:
    """Step-up votes for one relying party (None: step-up cannot confirm anything, and says so)."""

    def __init__(self, store: Store, approvals: ApprovalService, directory: Directory, policies: PolicyEngine,
                 rp: RelyingParty | None, *, cooloff: int = 0, counted: Callable[[str], None] | None = None) -> None:
        self._store = store
        self._counted = counted or (lambda outcome: None)  # each confirmation's outcome (the metrics)
        self._approvals = approvals
        self._directory = directory
        self._policies = policies
        self.rp = rp
        self.cooloff = cooloff  # seconds a new passkey waits before it may confirm a vote (STEP_UP_NEW_PASSKEY_COOLOFF)
        # why a person may not act here (as a click is checked, Slack asked afresh) and what they are told, or None;
        # the worker's HTTP server sets it (it knows the workspace): until then nobody's vote counts
        self.people: Callable[..., Awaitable[tuple[str, str] | None]] = _unchecked  # (user, *, said_team="")

    async def link(self, user: str, approval: ApprovalRecord, *, surface: str = "") -> str | None:
        """A new one-time link for `user` to confirm their Approve of `approval`, clicked on `surface` (`teams`; ""
        for Slack: the link keeps it, for the vote it confirms); None when they have no passkey. `StepUpError` (503)
        when the bot has no relying party (STEP_UP_URL or PUBLIC_URL)."""
        rp = self._relying_party()
        if not await self._store.passkeys.of(user):
            return None
        token = await self._store.passkeys.issue_vote_token(user, approval.id, approval.digest, surface=surface)
        return f"{rp.origin}/step-up/vote/{token}"

    async def answer(self, user: str, approval: ApprovalRecord, *, writing: Writing, surface: str = "") -> str:
        """What `user`, whose Approve of `approval` on `surface` ("" for Slack) needs their passkey, is told in that
        surface's `writing`: a new one-time link, how to set up a passkey (they have none: audited as a refusal,
        nothing changed), or that step-up is not set up here."""
        try:
            url = await self.link(user, approval, surface=surface)
        except StepUpError as exc:
            url, said = None, exc.message
        else:
            said = step_up_text(url, writing=writing)
        if url is None:
            why = "step-up: not set up" if said == NOT_SET_UP else "step-up: no passkey"
            await self._store.audit.append("refused", by=user, approval=approval.id, outcome="approved", reason=why,
                                           **_on(surface))
        return said

    async def usable(self, token: str) -> StepUpToken:
        """The link (whose it is, its approval); `StepUpError` (410) when it cannot be used."""
        return await self._token(token)

    async def action(self, token: str) -> Action:
        """What the link's page shows; `StepUpError` when it cannot be used (410) or its approval no longer waits
        (409)."""
        found = await self._token(token)
        approval = await self._waiting(found)
        name = await self._directory.name_of(found.user) or found.user
        return Action(person=name, approval=approval, arguments=_shown(approval), amounts=self._amounts(approval))

    async def options(self, token: str) -> dict[str, Any]:
        """The authentication options for the browser (JSON form): the person's passkeys, user verification
        required, and the vote's challenge."""
        rp = self._relying_party()
        found = await self._token(token)
        await self._waiting(found)
        return options_for(rp, await self._store.passkeys.of(found.user),
                           challenge_for(found.approval, "approve", found.vote.digest, found.vote.nonce))

    async def finish(self, token: str, body: object) -> DecideResult:
        """Verify the browser's assertion (`body`: {"credential"}) and count the person's Approve with it (the
        decide step: `ok` decided, or `vote` counted towards a quorum). Raises `StepUpError` when it does not."""
        self._relying_party()
        credential, credential_id = passkey_answer(body)
        found = await self._token(token)
        approval = await self._waiting(found)
        await self._ours(found.user, approval, surface=found.vote.surface)
        try:
            assurance, passkey = await self._verified(found, approval, credential_id, credential)
        except StepUpError as exc:  # audited once per link and refusal: a replay adds nothing
            await self._store.audit.append("refused", by=found.user, approval=approval.id, outcome="approved",
                                           reason=f"step-up: {exc.message}"[:300], **_on(found.vote.surface))
            self._counted("refused")
            raise
        # the surface of the click this link answers, as the link kept it (never the page's request's)
        decisions = self._approvals.decisions
        surface = decisions.surface_said(found.user, found.vote.surface)  # (none kept: the person's own)
        result = await decisions.decide(found.user, surface, "approve", approval_id=approval.id, assurance=assurance)
        if not decisions.redraw_after(result, surface=surface):
            raise StepUpError(409, refusal_text(result, writing=await self._page_writing(result.approval)))
        await self._store.passkeys.voted(found, passkey)
        self._counted("confirmed")
        return result

    async def _verified(self, found: StepUpToken, approval: ApprovalRecord, credential_id: str,
                        credential: dict[str, Any]) -> tuple[Assurance, Passkey]:
        """The assurance of an assertion that confirms this vote with one of the person's own passkeys, and that
        passkey with its new sign count."""
        return await asserted(self._store, self._relying_party(), found.user, credential_id, credential,
                              challenge=challenge_for(approval.id, "approve", approval.digest, found.vote.nonce),
                              cooloff=self.cooloff, what="approved")

    async def _ours(self, user: str, approval: ApprovalRecord, *, surface: str = "") -> None:
        """A 403 (audited `refused`, reason `outsider: ...`) when `user` may no longer act here: deactivated, made a
        guest, of another organization since their click; a 503 when Slack cannot say now."""
        refused = await self.people(user)
        if refused is None:
            return
        why, text = refused
        await self._store.audit.append("refused", by=user, approval=approval.id, outcome="approved",
                                       reason=f"outsider: {why}"[:300], **_on(surface))
        raise StepUpError(503 if text == CANNOT_CHECK else 403, text)

    async def _page_writing(self, approval: ApprovalRecord | None) -> PlainWriting:
        """The page's words in plain text (its template escapes them), people by their Slack names."""
        ids = {*approval.approvers, approval.decided_by} - {""} if approval is not None else set()
        names = {user: name for user in ids if (name := await self._directory.name_of(user))}
        return PlainWriting(names)

    def _relying_party(self) -> RelyingParty:
        return required(self.rp)

    async def _token(self, token: str) -> StepUpToken:
        return await usable(self._store, token, VOTE, GONE)

    async def _waiting(self, found: StepUpToken) -> ApprovalRecord:
        """The link's approval while it still waits for a vote, with the arguments the link was made for."""
        approval = await self._store.approvals.get(found.approval)
        if approval is None or not approval.pending:
            said = refusal_text(DecideResult("already" if approval else "missing", approval),
                                writing=await self._page_writing(approval))
            raise StepUpError(409, said)
        if approval.digest != found.vote.digest:
            raise StepUpError(409, "The call's arguments changed since this link was made, so nothing was approved."
                              " Look at the card again.")
        return approval

    def _amounts(self, approval: ApprovalRecord) -> tuple[tuple[str, int], ...]:
        """The summed argument of each policy window this call counts in, with its value."""
        if approval.kind != "tool_call":
            return ()
        try:
            args = json.loads(approval.arguments or "{}")
        except ValueError:
            return ()
        found: dict[str, int] = {}
        for spec in self._policies.bundle.windows:
            amount = spec.amount(approval.tool_name, args) if spec.sum else None
            if amount is not None:
                found[spec.sum] = amount
        return tuple(found.items())


async def asserted(store: Store, rp: RelyingParty, user: str, credential_id: str, credential: dict[str, Any], *,
                   challenge: bytes, cooloff: float, what: str) -> tuple[Assurance, Passkey]:
    """The assurance of a WebAuthn assertion made for `challenge` with one of `user`'s own passkeys, added at least
    `cooloff` seconds ago, and that passkey with its new sign count; `StepUpError` otherwise, saying that nothing was
    `what` (approved, shown)."""
    passkey = next((p for p in await store.passkeys.of(user) if p.credential_id == credential_id), None)
    if passkey is None:
        raise StepUpError(400, f"This passkey is not one of yours (your Home lists yours), so nothing was {what}.")
    age = time.time() - passkey.created_at
    if age < cooloff:
        ready = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(passkey.created_at + cooloff))
        raise StepUpError(403, f"This passkey was added {format_duration(age)} ago: on this bot, a new passkey"
                          f" confirms votes only {format_duration(cooloff)} after it was added, so nothing"
                          f" was {what}. Use another of your passkeys, or wait until {ready}.")
    try:
        verified = verify_authentication_response(
            credential=credential, expected_rp_id=rp.id, expected_origin=rp.origin, expected_challenge=challenge,
            credential_public_key=base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count, require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        said = NOT_THIS.replace("approved", what)
        raise StepUpError(400, f"{said} ({str(exc)[:200] or type(exc).__name__})") from None
    assurance = Assurance(by=user, passkey=credential_digest(credential_id), at=time.time())
    return assurance, replace(passkey, sign_count=verified.new_sign_count)


def _on(surface: str) -> dict[str, str]:
    """An audit entry's `surface` field: where the person clicked when not Slack (none for Slack)."""
    return {"surface": surface} if surface else {}


async def _unchecked(user: str, *, said_team: str = "") -> tuple[str, str] | None:
    """No check of people was set (no HTTP server mounted the pages): refused, never counted unchecked."""
    return "not checked: no workspace to check against", CANNOT_CHECK


def _shown(approval: ApprovalRecord) -> str:
    if approval.kind != "tool_call":
        return approval.proposal
    try:
        return json.dumps(json.loads(approval.arguments or "{}"), indent=2, ensure_ascii=False)
    except ValueError:
        return approval.arguments

