"""Registering a passkey through a one-time link (WebAuthn by the `webauthn` package), and removing passkeys.

    link(user)             -> the URL of a new one-time link for `user` (the App Home's "Set up a passkey")
    person(token)          -> whose link it is (the page greets them)
    options(token)         -> the registration options; their random challenge is kept with the link
    finish(token, body)    -> the browser's answer verified; the passkey stored and the link taken in one step
    remove / revoke        -> a person removes their own; an admin revokes someone's (audited by the caller's words)

Every refusal is a `StepUpError` with the HTTP status and the words the page shows (400 for bad input, 410 for a link
that is unknown, expired or used, 503 when step-up has no relying party), never a 500."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from webauthn import generate_registration_options, options_to_json, verify_registration_response
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, generate_challenge
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from bot.core.passkeys import TRANSPORTS, Passkey, RelyingParty, credential_digest, passkey_name
from bot.slack.directory import Directory
from bot.store import Store
from bot.store.passkeys import ENROL, StepUpToken

MAX_PASSKEYS = 10  # a person's passkeys at most
GONE = "This link is unknown, expired or already used. Ask for a new one: “Set up a passkey” in the app's Home."
NOT_SET_UP = ("Passkeys are not available on this bot yet: its operator sets STEP_UP_URL (or PUBLIC_URL) to its https"
              " address.")


class StepUpError(Exception):
    """A refusal: `status` (400, 410, 503) and what the person is told."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Enrolment:
    """Passkeys registered through one-time links, for one relying party (None: step-up is off)."""

    def __init__(
        self, store: Store, directory: Directory, rp: RelyingParty | None, *,
        changed: Callable[[str], Awaitable[object]],
    ) -> None:
        self._store = store
        self._directory = directory
        self.rp = rp
        self._changed = changed  # a person's passkeys changed: their Home is due a redraw

    async def link(self, user: str) -> str:
        """The URL of a new one-time link for `user` to register a passkey (valid 10 minutes)."""
        rp = self._relying_party()
        token = await self._store.passkeys.issue_token(user, purpose=ENROL)
        return f"{rp.origin}/step-up/enrol/{token}"

    async def person(self, token: str) -> tuple[str, str]:
        """(user id, name) of the link's person; `StepUpError` when the link cannot be used."""
        found = await self._token(token)
        return found.user, await self._directory.name_of(found.user) or found.user

    async def options(self, token: str) -> dict[str, Any]:
        """The registration options for the browser (JSON form); their challenge is kept with the link."""
        rp = self._relying_party()
        found = await self._token(token)
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
            raise StepUpError(400, f"You have {MAX_PASSKEYS} passkeys already: remove one in the app's Home first.")
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
        if not await self._store.passkeys.enrol(found, passkey):
            raise StepUpError(410, GONE)
        await self._store.audit.append(
            "passkey_enrolled", by=found.user, passkey=credential_digest(credential_id), name=name,
        )
        await self._changed(found.user)
        return passkey

    async def remove(self, user: str, credential_id: str) -> Passkey | None:
        """`user` removes one of their passkeys (audited `passkey_removed`); None when they have none by that id."""
        removed = await self._store.passkeys.remove(user, credential_id)
        if removed is not None:
            await self._store.audit.append(
                "passkey_removed", by=user, person=user, passkey=credential_digest(credential_id), name=removed.name
            )
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
        if not removed:
            await self._store.audit.append("passkey_revoked", by=by, person=person, origin_channel=channel, count=0)
        await self._changed(person)
        return removed

    def _relying_party(self) -> RelyingParty:
        return required(self.rp)

    async def _token(self, token: str) -> StepUpToken:
        return await usable(self._store, token, ENROL, GONE)


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
