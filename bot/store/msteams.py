"""Microsoft Teams in Redis (issue 81): the conversations the app was added to, each person's personal chat, and
each approval's cards posted in Teams (updated in place on every decision, on any worker).

    {p}:teams:conversations     hash  conversation id -> JSON `TeamsConversation` (kept when the app is added)
    {p}:teams:people            hash  person id -> JSON {conversation, user_id, object_id, tenant_id, name}: their
                                      personal chat with the bot, their Teams ids and the name the bot shows them
                                      by (a Teams-only person's on the Slack surfaces too: `names`)
    {p}:teams:cards:{<id>}      hash  conversation id -> activity id: approval <id>'s cards in Teams (expires
                                      with the approval's decided record); "claimed:<until>" while one worker
                                      posts it (`claim_copy`, lua/teams_claim_copy.lua)
    {p}:teams:due               zset  approval ids whose Teams copies are due a drawing (a post or an update Teams
                                      could not take for now, or one a worker is drawing), by when: `Store.teams_due`
                                      (bot/store/surface_due.py), drained by every worker's loop of Teams' due work
                                      (the `teams` due kind), apart from the Slack outbox: neither surface's outage
                                      holds the other
    {p}:teams:decider:<oid>     string  the person a Teams object id decides as (bot/msteams/people.py), kept a while
                                      so every worker maps a click alike
    {p}:teams:emails            hash  email -> object id of a Teams person the Teams file lists by email only (as
                                      Teams named them), for the pages' sign-in by email
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast

from bot.core.msteams import TeamsConversation, TeamsCopy, is_teams_person
from bot.store.connection import aw
from bot.store.shared import Repository

CARDS_RETENTION = 30 * 86400  # as a decided approval's record (DECIDED_RETENTION)
CLAIMED = "claimed:"  # a card being posted (`claim_copy`), not a card yet
Claim = Literal["claimed", "posted", "busy"]


@dataclass(frozen=True, slots=True)
class TeamsAccount:
    """A person's Teams side: their personal chat with the bot (`conversation`, "" until the app is added there),
    their Teams user id (`29:…`), Azure AD object id and tenant, and their name (the Teams file's, else as Teams gave
    it)."""

    conversation: str
    user_id: str
    object_id: str
    tenant_id: str
    name: str = ""


class TeamsStore(Repository):
    def _key(self, name: str) -> str:
        return self._s.keys.teams(name)

    # conversations ---------------------------------------------------------------------
    async def keep_conversation(self, conversation: TeamsConversation) -> None:
        """Keep (or refresh) a conversation the app was added to."""
        await aw(self._s.redis.hset(self._key("conversations"), conversation.id, conversation.to_json()))

    async def conversation(self, conversation_id: str) -> TeamsConversation | None:
        raw = await aw(self._s.redis.hget(self._key("conversations"), conversation_id))
        return None if raw is None else TeamsConversation.from_json(raw)

    async def forget_conversation(self, conversation_id: str) -> None:
        """The app was removed from it: no card goes there any more."""
        await aw(self._s.redis.hdel(self._key("conversations"), conversation_id))

    # people --------------------------------------------------------------------------------
    async def keep_account(self, person: str, account: TeamsAccount) -> None:
        await aw(self._s.redis.hset(self._key("people"), person, json.dumps(_account(account))))

    async def account(self, person: str) -> TeamsAccount | None:
        raw = await aw(self._s.redis.hget(self._key("people"), person))
        if raw is None:
            return None
        data = json.loads(raw)
        return TeamsAccount(str(data.get("conversation", "")), str(data["user_id"]), str(data["object_id"]),
                            str(data["tenant_id"]), str(data.get("name", "")))

    async def names(self, people: Iterable[str]) -> dict[str, str]:
        """The names kept for these Teams-only people (`teams:<object id>`; others left out, as are those with none
        kept), in one read: what every Slack surface shows them by."""
        wanted = [p for p in dict.fromkeys(people) if is_teams_person(p)]
        if not wanted:
            return {}
        found = await aw(self._s.redis.hmget(self._key("people"), wanted))
        names = {person: str(json.loads(raw).get("name") or "") for person, raw in zip(wanted, found, strict=True)
                 if raw is not None}
        return {person: name for person, name in names.items() if name.strip()}

    # who a Teams object id decides as -------------------------------------------------------
    async def keep_decider(self, object_id: str, person: str, *, seconds: int) -> None:
        """`object_id` decides as `person` for the next `seconds` (then asked again: a Slack account made or
        deactivated, the Teams file changed)."""
        await aw(self._s.redis.set(self._key(f"decider:{object_id}"), person, ex=seconds))

    async def decider(self, object_id: str) -> str | None:
        raw = await aw(self._s.redis.get(self._key(f"decider:{object_id}")))
        return None if raw is None else _text(raw)

    async def forget_decider(self, object_id: str) -> None:
        await aw(self._s.redis.delete(self._key(f"decider:{object_id}")))

    async def keep_email(self, email: str, object_id: str) -> None:
        """Teams named `object_id` with `email` (a Teams person the Teams file lists by email only)."""
        await aw(self._s.redis.hset(self._key("emails"), email, object_id))

    async def object_id_of(self, email: str) -> str | None:
        raw = await aw(self._s.redis.hget(self._key("emails"), email))
        return None if raw is None else _text(raw)

    # an approval's cards in Teams ---------------------------------------------------------
    def _cards(self, approval_id: str) -> str:
        return self._key(f"cards:{{{approval_id}}}")

    async def copies(self, approval_id: str) -> list[TeamsCopy]:
        """Every card of `approval_id` posted in Teams, by conversation id (not those being posted)."""
        raw = await aw(self._s.redis.hgetall(self._cards(approval_id)))
        found = (TeamsCopy(_text(c), _text(a)) for c, a in raw.items())
        return sorted((c for c in found if not c.activity_id.startswith(CLAIMED)), key=lambda c: c.conversation_id)

    async def shown_in(self, approval_id: str, conversation_id: str) -> str | None:
        """The activity id of `approval_id`'s card in `conversation_id` (a click's card checked against it; bot/msteams/
        invokes.py), `CLAIMED…` while it is being posted, None when it has no card there."""
        raw = await aw(self._s.redis.hget(self._cards(approval_id), conversation_id))
        return None if raw is None else _text(raw)

    async def claim_copy(self, approval_id: str, conversation_id: str, *, lease: float) -> Claim:
        """Claim posting `approval_id`'s card in `conversation_id` for `lease` seconds: "claimed" (post it, then
        `note_copy`, or `release_copy`), "posted" (a card is there) or "busy" (another worker's live claim: try again
        later) (lua/teams_claim_copy.lua)."""
        now = time.time()
        said = await self._s.script("teams_claim_copy")(
            keys={"cards": self._cards(approval_id)},
            args={"conversation": conversation_id, "now": repr(now), "till": repr(now + lease),
                  "ttl": str(CARDS_RETENTION)},
        )
        claim = _text(said)
        assert claim in ("claimed", "posted", "busy"), claim
        return cast(Claim, claim)

    async def note_copy(self, approval_id: str, copy: TeamsCopy) -> None:
        """The card claimed in its conversation is posted: note its activity id (updated in place from now on)."""
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._cards(approval_id), copy.conversation_id, copy.activity_id)
            pipe.expire(self._cards(approval_id), CARDS_RETENTION)
            await pipe.execute()

    async def release_copy(self, approval_id: str, conversation_id: str) -> None:
        """Teams refused the claimed card: another try (any worker's) may claim it again at once (a card noted there
        stays: lua/teams_release_copy.lua)."""
        await self._s.script("teams_release_copy")(keys={"cards": self._cards(approval_id)},
                                                   args={"conversation": conversation_id})


def _account(account: TeamsAccount) -> dict[str, str]:
    return {"conversation": account.conversation, "user_id": account.user_id, "object_id": account.object_id,
            "tenant_id": account.tenant_id, "name": account.name}


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
