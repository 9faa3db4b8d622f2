"""Registering a passkey through a one-time link (WebAuthn by the `webauthn` package), and removing passkeys.

    link(user)             -> the URL of a new one-time link for `user` (the App Home's "Set up a passkey")
    person(token)          -> whose link it is (the page greets them), and whether a passkey of theirs must confirm
                              it first
    confirm_options(token) -> for a person who has a passkey: the authentication options one of theirs answers
    confirm(token, body)   -> that assertion verified: the link may now register another passkey (`vouched`)
    options(token)         -> the registration options; their random challenge is kept with the link
    finish(token, body)    -> the browser's answer verified; the passkey stored and the link taken in one step
    remove / revoke        -> a person removes their own; an admin revokes someone's (audited by the caller's words)

A Slack session alone sets up a person's first passkey; once they have one, another is stored only through a link one
of theirs confirmed on the page (checked in the step that stores it, `bot.store.passkeys`). A person who lost every
device asks an admin, whose `/agent passkeys revoke` (audited) lets them set up a first one again. Every passkey
added or removed is told to its person at once, by direct message (`tell`).

Every refusal is a `StepUpError` with the HTTP status and the words the page shows (400 for bad input, 403 for a
passkey that must confirm first, 410 for a link that is unknown, expired or used, 503 when step-up has no relying
party), never a 500."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, generate_challenge
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from bot.core.passkeys import CREDENTIAL_ID, TRANSPORTS, Passkey, RelyingParty, credential_digest, passkey_name
from bot.slack.blocks.passkeys import passkey_added_text, passkey_removed_text
from bot.slack.directory import Directory
from bot.store import Store
from bot.store.passkeys import ENROL, Enrolled, StepUpToken

MAX_PASSKEYS = 10  # a person's passkeys at most
GONE = "This link is unknown, expired or already used. Ask for a new one: “Set up a passkey” in the app's Home."
CONFIRM_FIRST = ("You have a passkey already: confirm with it first (this page asks for it), so that nobody with only"
                 " your Slack session adds one. Lost every device? Ask an admin to revoke your passkeys"
                 " (/agent passkeys revoke), then set up a new one.")
FULL = f"You have {MAX_PASSKEYS} passkeys already: remove one in the app's Home first."
NOT_SET_UP = ("Passkeys are not available on this bot yet: its operator sets STEP_UP_URL (or PUBLIC_URL) to its https"
              " address.")


class StepUpError(Exception):
    """A refusal: `status` (400, 403, 409, 410, 503) and what the person is told."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Enrolment:
    """Passkeys registered through one-time links, for one relying party (None: step-up is off)."""

    def __init__(
        self, store: Store, directory: Directory, rp: RelyingParty | None, *,
        changed: Callable[[str], Awaitable[object]], tell: Callable[[str, str], Awaitable[object]],
        cooloff: int = 0,
    ) -> None:
        self._store = store
        self._directory = directory
        self.rp = rp
        self._changed = changed  # a person's passkeys changed: their Home is due a redraw
        self._tell = tell  # (person, text): a direct message to them
        self.cooloff = cooloff  # seconds a new passkey waits before it may confirm a vote (said in the message)

    async def link(self, user: str) -> str:
        """The URL of a new one-time link for `user` to register a passkey (valid 10 minutes)."""
        rp = self._relying_party()
        token = await self._store.passkeys.issue_token(user, purpose=ENROL)
        return f"{rp.origin}/step-up/enrol/{token}"

    async def usable(self, token: str) -> StepUpToken:
        """The link (whose it is); `StepUpError` when it cannot be used."""
        return await self._token(token)

    async def person(self, token: str) -> tuple[str, str, bool]:
        """(user id, name, whether one of their passkeys must confirm the link first) of the link's person;
        `StepUpError` when the link cannot be used."""
        found = await self._token(token)
        name = await self._directory.name_of(found.user) or found.user
        return found.user, name, bool(await self._unconfirmed(found))

    async def confirm_options(self, token: str) -> dict[str, Any]:
        """The authentication options one of the person's passkeys answers to confirm this link (JSON form); their
        random challenge is kept with the link. A 400 when the link needs no confirming."""
        rp = self._relying_party()
        found = await self._token(token)
        passkeys = await self._unconfirmed(found)
        if not passkeys:
            raise StepUpError(400, "Nothing to confirm: set up the passkey (this link needs no other one's word).")
        challenge = generate_challenge()
        if await self._store.passkeys.set_confirm(found, bytes_to_base64url(challenge)) is None:
            raise StepUpError(410, GONE)
        return options_for(rp, passkeys, challenge)

    async def confirm(self, token: str, body: object) -> str:
        """Verify the assertion (`body`: {"credential"}) of one of the person's own passkeys to the link's confirm
        challenge: the link may then register another passkey. Audited `passkey_confirmed` (or `refused`); the
        name of the passkey that confirmed."""
        rp = self._relying_party()
        credential, credential_id = passkey_answer(body)
        found = await self._token(token)
        if not found.vouching.confirm:
            raise StepUpError(400, "Ask for the options first (this page does): the link has no challenge to confirm.")
        passkey = next((p for p in await self._store.passkeys.of(found.user) if p.credential_id == credential_id),
                       None)
        try:
            if passkey is None:
                raise StepUpError(400, "This passkey is not one of yours (your Home lists yours): nothing was added.")
            try:
                verify_authentication_response(
                    credential=credential, expected_rp_id=rp.id, expected_origin=rp.origin,
                    expected_challenge=base64url_to_bytes(found.vouching.confirm),
                    credential_public_key=base64url_to_bytes(passkey.public_key),
                    credential_current_sign_count=passkey.sign_count, require_user_verification=True,
                )
            except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
                raise StepUpError(400, f"The passkey's answer was not accepted, so nothing was added"
                                  f" ({str(exc)[:200] or type(exc).__name__}).") from None
        except StepUpError as exc:
            await self._store.audit.append("refused", by=found.user, action="passkey enrolment",
                                           reason=f"confirm: {exc.message}"[:300])
            raise
        if await self._store.passkeys.vouch(found, credential_digest(credential_id)) is None:
            raise StepUpError(410, GONE)
        await self._store.audit.append("passkey_confirmed", by=found.user, passkey=credential_digest(credential_id),
                                       name=passkey.name)
        return passkey.name

    async def options(self, token: str) -> dict[str, Any]:
        """The registration options for the browser (JSON form); their challenge is kept with the link. A 403 while
        one of the person's passkeys must confirm the link first."""
        rp = self._relying_party()
        found = await self._token(token)
        if await self._unconfirmed(found):
            raise StepUpError(403, CONFIRM_FIRST)
        name = await self._directory.name_of(found.user) or found.user
        challenge = generate_challenge()
        existing = await self._store.passkeys.of(found.user)
        options = generate_registration_options(
            rp_id=rp.id, rp_name=rp.name, user_id=found.user.encode(), user_name=found.user, user_display_name=name,
            challenge=challenge, timeout=120_000,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.REQUIRED
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in existing
            ],
        )
        if await self._store.passkeys.set_challenge(found, bytes_to_base64url(challenge)) is None:
            raise StepUpError(410, GONE)
        said: dict[str, Any] = json.loads(options_to_json(options))
        return said

    async def finish(self, token: str, body: object) -> Passkey:
        """Verify the browser's registration (`body`: {"name", "credential"}), store the passkey and take the link
        in one step, audit `passkey_enrolled` (the credential id's SHA-256, never a key)."""
        rp = self._relying_party()
        if not isinstance(body, dict):
            raise StepUpError(400, "Send a JSON object: {\"name\": ..., \"credential\": ...}.")
        name = passkey_name(body.get("name"))
        if name is None:
            raise StepUpError(400, "Name the passkey: 1 to 40 characters, e.g. “laptop”.")
        credential = body.get("credential")
        if not isinstance(credential, dict):
            raise StepUpError(400, "No passkey was sent: “credential” must be the browser's answer, an object.")
        transports = _transports(credential)
        found = await self._token(token)
        if not found.challenge:
            raise StepUpError(400, "Ask for the options first (this page does): the link has no challenge yet.")
        existing = await self._store.passkeys.of(found.user)
        if len(existing) >= MAX_PASSKEYS:
            raise StepUpError(400, FULL)
        try:
            verified = verify_registration_response(
                credential=credential, expected_challenge=base64url_to_bytes(found.challenge),
                expected_origin=rp.origin, expected_rp_id=rp.id, require_user_verification=True,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise StepUpError(400, f"The passkey was not accepted: {str(exc)[:200] or type(exc).__name__}.") from None
        credential_id = bytes_to_base64url(verified.credential_id)
        if any(p.credential_id == credential_id for p in existing):
            raise StepUpError(400, "This passkey is registered already.")
        passkey = Passkey(
            credential_id=credential_id, public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count, name=name, created_at=time.time(), transports=transports,
        )
        await self._stored(found, passkey, await self._store.passkeys.enrol(found, passkey, most=MAX_PASSKEYS))
        await self._store.audit.append(
            "passkey_enrolled", by=found.user, passkey=credential_digest(credential_id), name=name,
            **({"confirmed_by": found.vouching.vouched} if found.vouching.vouched else {}),
        )
        await self._tell(found.user, passkey_added_text(passkey, usable_at=passkey.created_at + self.cooloff))
        await self._changed(found.user)
        return passkey

    async def _stored(self, found: StepUpToken, passkey: Passkey, enrolled: Enrolled) -> None:
        """Nothing, when the step that stores passkeys stored `passkey`; else the refusal (audited when the person
        was over their count or had no passkey's word)."""
        if enrolled == "stored":
            return
        if enrolled == "gone":
            raise StepUpError(410, GONE)
        refusal = StepUpError(400, FULL) if enrolled == "full" else StepUpError(403, CONFIRM_FIRST)
        await self._store.audit.append("refused", by=found.user, action="passkey enrolment", reason=enrolled,
                                       passkey=credential_digest(passkey.credential_id))
        raise refusal

    async def _unconfirmed(self, found: StepUpToken) -> list[Passkey]:
        """The person's passkeys when one must confirm the link before it registers another; [] when none must
        (they have none yet, or one did)."""
        return [] if found.vouching.vouched else await self._store.passkeys.of(found.user)

    async def remove(self, user: str, credential_id: str) -> Passkey | None:
        """`user` removes one of their passkeys (audited `passkey_removed`); None when they have none by that id."""
        removed = await self._store.passkeys.remove(user, credential_id)
        if removed is not None:
            await self._store.audit.append(
                "passkey_removed", by=user, person=user, passkey=credential_digest(credential_id), name=removed.name
            )
            await self._tell(user, passkey_removed_text([removed], by=user, person=user))
            await self._changed(user)
        return removed

    async def revoke(self, person: str, *, by: str, channel: str) -> list[Passkey]:
        """An admin (`by`, whose right the caller checked) revokes every passkey of `person` (a lost device): audited
        `passkey_revoked`, one entry per passkey (none: one entry saying so)."""
        removed = await self._store.passkeys.remove_all(person)
        for passkey in removed:
            await self._store.audit.append(
                "passkey_revoked", by=by, person=person, origin_channel=channel,
                passkey=credential_digest(passkey.credential_id), name=passkey.name,
            )
        if removed:
            await self._tell(person, passkey_removed_text(removed, by=by, person=person))
        else:
            await self._store.audit.append("passkey_revoked", by=by, person=person, origin_channel=channel, count=0)
        await self._changed(person)
        return removed

    def _relying_party(self) -> RelyingParty:
        return required(self.rp)

    async def _token(self, token: str) -> StepUpToken:
        return await usable(self._store, token, ENROL, GONE)


def passkey_answer(body: object) -> tuple[dict[str, Any], str]:
    """The browser's passkey answer in a request's `body` ({"credential"}) and its credential id; a 400 saying what
    is missing otherwise."""
    credential = body.get("credential") if isinstance(body, dict) else None
    if not isinstance(credential, dict):
        raise StepUpError(400, "No passkey answer was sent: “credential” must be the browser's answer, an object.")
    credential_id = credential.get("id")
    if not isinstance(credential_id, str) or not CREDENTIAL_ID.fullmatch(credential_id):
        raise StepUpError(400, "The passkey answer has no valid “id”.")
    return credential, credential_id


def required(rp: RelyingParty | None) -> RelyingParty:
    """The relying party, or a 503 saying step-up is not set up on this bot."""
    if rp is None:
        raise StepUpError(503, NOT_SET_UP)
    return rp


async def usable(store: Store, token: str, purpose: str, gone: str) -> StepUpToken:
    """The one-time link `token` names, for `purpose`; a 410 saying `gone` when it is unknown, expired or used."""
    found = await store.passkeys.token(token)
    if found is None or found.purpose != purpose:
        raise StepUpError(410, gone)
    return found


def _transports(credential: dict[str, Any]) -> tuple[str, ...]:
    """The transports the browser said (only known words kept), for `allowCredentials` hints later; a 400 when
    `response.transports` is there but not a list of words."""
    response = credential.get("response")
    said = response.get("transports") if isinstance(response, dict) else None
    if said is None:
        return ()
    if not isinstance(said, list) or not all(isinstance(t, str) for t in said):
        raise StepUpError(400, "The passkey was not accepted: “response.transports” must be a list of words, e.g."
                          " [\"internal\"].")
    known = {t.value for t in AuthenticatorTransport} & TRANSPORTS
    return tuple(sorted({t for t in said if t in known}))


def options_for(rp: RelyingParty, passkeys: list[Passkey], challenge: bytes) -> dict[str, Any]:
    """The authentication options for the browser (JSON form): `passkeys`, user verification required."""
    options = generate_authentication_options(
        rp_id=rp.id, challenge=challenge, timeout=120_000, user_verification=UserVerificationRequirement.REQUIRED,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id),
                                          transports=[AuthenticatorTransport(t) for t in p.transports])
            for p in passkeys
        ],
    )
    said: dict[str, Any] = json.loads(options_to_json(options))
    return said
