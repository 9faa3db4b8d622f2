"""Passkeys (step-up, bot/stepup/): each person's registered passkeys, and the one-time links that register them
or confirm a vote with them.

A link's token (`{p}:stepup-token:<token>`) is bound to one Slack user and one purpose. An "enrol" link lives
`TOKEN_SECONDS`, carries the challenge its page was given, and is taken in the step that stores the passkey
(`lua/passkey_enrol.lua`), so a link registers one passkey, once. That step also holds a person to `most` passkeys
and, once they have one, stores another only through a link one of theirs confirmed (`vouched`: the SHA-256 of the
credential id whose assertion answered the link's `confirm` challenge), counted and checked in the same step, so
that concurrent enrolments cannot pass either check together. A "vote" link lives `VOTE_SECONDS`, is bound to
one approval and the digest of the arguments its page shows, carries its own random nonce (the vote's challenge is
derived from them: `bot.core.passkeys.challenge_for`), keeps the surface whose click it answers (`teams`; none for
Slack), so that the vote its page confirms names it as the click would have, never as the browser says, and is taken
once the vote it confirmed counted (`lua/stepup_used.lua`, with the passkey's new sign count)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Literal

from bot.core.passkeys import STEPUP_TOKEN, Passkey
from bot.store.connection import aw
from bot.store.shared import Repository

TOKEN_SECONDS = 600
VOTE_SECONDS = 300
ENROL = "enrol"
VOTE = "vote"
Enrolled = Literal["stored", "gone", "full", "unconfirmed"]
_ENROLLED: dict[int, Enrolled] = {1: "stored", 0: "gone", -1: "full", -2: "unconfirmed"}


@dataclass(frozen=True, slots=True)
class VoteBinding:
    """What a vote's link is bound to beside its approval: the digest of the arguments its page shows, its own random
    nonce (the vote's challenge is derived from the three: `bot.core.passkeys.challenge_for`) and the surface whose
    click it answers (`teams`, "" for Slack). Empty on another link."""

    digest: str = ""
    nonce: str = ""
    surface: str = ""


@dataclass(frozen=True, slots=True)
class Vouching:
    """An enrolment link's confirmation by a passkey its person has already: the challenge that passkey is to answer
    (`confirm`, "" until asked or once answered) and which one did (`vouched`: its credential id's SHA-256). Empty on
    another link."""

    confirm: str = ""
    vouched: str = ""


@dataclass(frozen=True, slots=True)
class StepUpToken:
    """What a one-time link is for: whose it is, its purpose, the challenge its page was given (base64url; "" until
    the page asked for its options), and its stored form (`raw`, what taking it compares); a vote's or a reveal's link
    also names its approval; a vote's, what else it is bound to (`vote`); an enrolment's, its confirmation by an
    existing passkey (`vouching`)."""

    token: str
    user: str
    purpose: str
    challenge: str
    raw: str
    approval: str = ""
    vote: VoteBinding = VoteBinding()
    vouching: Vouching = Vouching()


class Passkeys(Repository):
    async def issue_token(self, user: str, *, purpose: str = ENROL, seconds: int = TOKEN_SECONDS,
                          approval: str = "") -> str:
        """A new one-time link's token for `user`, valid `seconds` (about `approval`, when given: a reveal's)."""
        token = secrets.token_urlsafe(32)
        fields = {"user": user, "purpose": purpose, "challenge": "", **({"approval": approval} if approval else {}),
                  **self._tenant()}
        record = json.dumps(fields, separators=(",", ":"))
        await self._s.redis.set(self._s.keys.stepup_token(token), record, ex=max(1, seconds))
        return token

    def _tenant(self) -> dict[str, str]:
        """What a link says of its tenant: nothing for home (links as before), else `tenant` (links are global: the
        page serves the link with its tenant's parts)."""
        return {"tenant": self._s.keys.tenant} if self._s.keys.tenant else {}

    async def tenant_of(self, token: str) -> str:
        """The tenant whose link `token` is ("" for home, or a token that names no link)."""
        found = await self.token(token)
        if found is None:
            return ""
        tenant = json.loads(found.raw).get("tenant")
        return tenant if isinstance(tenant, str) else ""

    async def token(self, token: str) -> StepUpToken | None:
        """The link `token` names, or None: not a token, unknown, expired or used."""
        if not STEPUP_TOKEN.fullmatch(token):
            return None
        found = await self._s.redis.get(self._s.keys.stepup_token(token))
        if found is None:
            return None
        return _link(token, found.decode() if isinstance(found, bytes) else str(found))

    async def take_token(self, token: str) -> bool:
        """Use up the link `token` (one step: of two takers, one gets True)."""
        return STEPUP_TOKEN.fullmatch(token) is not None and bool(
            await self._s.redis.delete(self._s.keys.stepup_token(token)))

    async def issue_vote_token(self, user: str, approval_id: str, digest: str, *, seconds: int = VOTE_SECONDS,
                               surface: str = "") -> str:
        """A new one-time link's token for `user` to confirm their Approve of `approval_id` (whose arguments have
        `digest`), valid `seconds`, with its own random nonce; `surface`: where they clicked, when not Slack."""
        token = secrets.token_urlsafe(32)
        record = json.dumps({"user": user, "purpose": VOTE, "challenge": "", "approval": approval_id,
                             "digest": digest, "nonce": secrets.token_urlsafe(16),
                             **({"surface": surface} if surface else {}), **self._tenant()},
                            separators=(",", ":"))
        await self._s.redis.set(self._s.keys.stepup_token(token), record, ex=max(1, seconds))
        return token

    async def voted(self, found: StepUpToken, passkey: Passkey) -> bool:
        """Take a vote's link once its vote counted, keeping `passkey`'s new sign count, in one step; False when the
        link was gone or changed meanwhile."""
        k = self._s.keys
        done = await self._s.script("stepup_used")(
            keys={"token": k.stepup_token(found.token), "passkeys": k.passkeys(found.user)},
            args={"expected": found.raw, "credential_id": passkey.credential_id, "record": passkey.to_json()},
        )
        return bool(done)

    async def set_challenge(self, found: StepUpToken, challenge: str) -> StepUpToken | None:
        """The link with the challenge its page was just given (its lifetime unchanged), or None when it is gone."""
        return await self._rewrite(found, challenge=challenge)

    async def set_confirm(self, found: StepUpToken, challenge: str) -> StepUpToken | None:
        """The enrolment link with the challenge an existing passkey of its person is to answer, or None (gone)."""
        return await self._rewrite(found, confirm=challenge)

    async def vouch(self, found: StepUpToken, digest: str) -> StepUpToken | None:
        """The enrolment link confirmed by the person's passkey whose credential id has SHA-256 `digest` (its
        `confirm` challenge spent), or None when it is gone."""
        return await self._rewrite(found, confirm="", vouched=digest)

    async def _rewrite(self, found: StepUpToken, **changes: str) -> StepUpToken | None:
        """The link `found` with `changes` (its lifetime unchanged), or None when it is gone."""
        record = json.dumps({**json.loads(found.raw), **changes}, separators=(",", ":"))
        done = await self._s.redis.set(self._s.keys.stepup_token(found.token), record, xx=True, keepttl=True)
        return _link(found.token, record) if done else None

    async def enrol(self, found: StepUpToken, passkey: Passkey, *, most: int) -> Enrolled:
        """Store `passkey` for the link's person and take the link, in one step: "stored"; "gone" when the link is no
        longer as `found` read it (used meanwhile, expired, or given a new challenge), "full" when the person has
        `most` passkeys already, "unconfirmed" when they have one and none of theirs confirmed this link (nothing
        changed in these three)."""
        k = self._s.keys
        done = await self._s.script("passkey_enrol")(
            keys={"token": k.stepup_token(found.token), "passkeys": k.passkeys(found.user)},
            args={"expected": found.raw, "credential_id": passkey.credential_id, "record": passkey.to_json(),
                  "most": most},
        )
        return _ENROLLED[int(done)]

    async def of(self, user: str) -> list[Passkey]:
        """`user`'s passkeys, the oldest first."""
        found = await aw(self._s.redis.hgetall(self._s.keys.passkeys(user)))
        return sorted((Passkey.from_json(raw) for raw in found.values()), key=lambda p: (p.created_at, p.name))

    async def remove(self, user: str, credential_id: str) -> Passkey | None:
        """Remove one of `user`'s passkeys; the one removed, or None when they have none by that id."""
        key = self._s.keys.passkeys(user)
        found = await aw(self._s.redis.hget(key, credential_id))
        if found is None or not await aw(self._s.redis.hdel(key, credential_id)):
            return None
        return Passkey.from_json(found)

    async def remove_all(self, user: str) -> list[Passkey]:
        """Remove every passkey of `user` (an admin's revocation: a lost device); those removed."""
        key = self._s.keys.passkeys(user)
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.delete(key)
            found, _ = await pipe.execute()
        return [Passkey.from_json(raw) for raw in found.values()]


def _link(token: str, raw: str) -> StepUpToken:
    """The link `token` names, from its stored JSON `raw`."""
    data = json.loads(raw)

    def text(name: str) -> str:
        return str(data.get(name) or "")

    return StepUpToken(token=token, user=str(data["user"]), purpose=str(data["purpose"]), challenge=text("challenge"),
                       raw=raw, approval=text("approval"),
                       vote=VoteBinding(digest=text("digest"), nonce=text("nonce"), surface=text("surface")),
                       vouching=Vouching(confirm=text("confirm"), vouched=text("vouched")))
