"""Who a Slack user is, as a worker last asked Slack (`users.info`: their team, organisation, whether a guest;
bot/slack/directory.py), kept an hour for every worker: a click on a worker that never saw its person is checked
without asking Slack again (`bot/slackapp/members.py`). Read with the time it has left, so a worker's own copy
ends with it, never an hour after a late copy.

And who a person is across surfaces (issue 88, bot/people/): the person id each verified email names (set once: the
first id known stays) and each person's record, their accounts (keys in bot/store/keys_people.py)."""

from __future__ import annotations

from bot.store.connection import aw
from bot.store.keys_people import people_email, person_record
from bot.store.shared import Repository


class People(Repository):
    async def get(self, user: str) -> tuple[str, float] | None:
        """The record kept for `user` (JSON) and the seconds it has left (read together, in one transaction), or
        None: a worker that copies it keeps its copy no longer than the record itself lives."""
        key = self._s.keys.person(user)
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            found, left = await pipe.execute()
        if found is None or not isinstance(left, int) or left <= 0:  # gone, or kept without an expiry (not ours)
            return None
        return (found.decode() if isinstance(found, bytes) else str(found)), left / 1000

    async def put(self, user: str, record: str, *, seconds: int) -> None:
        await self._s.redis.set(self._s.keys.person(user), record, ex=max(1, seconds))

    # the person records (issue 88): who a person is across surfaces, merged by verified email ----------------
    async def email_owner(self, email: str) -> str | None:
        """The person id a verified email names, None when none yet."""
        found = await aw(self._s.redis.hget(people_email(self._s.keys.prefix), email))
        return _text(found)

    async def claim_email(self, email: str, person: str) -> str:
        """`person` becomes the one `email` names unless another was first (HSETNX): the person id it names now."""
        key = people_email(self._s.keys.prefix)
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, email, person)
            pipe.hget(key, email)
            _, found = await pipe.execute()
        return _text(found) or person

    async def record(self, person: str) -> dict[str, str]:
        """A person's record as kept (name, email, accounts as JSON); empty when none is."""
        found = await aw(self._s.redis.hgetall(person_record(self._s.keys.prefix, person)))
        return {_text(k) or "": _text(v) or "" for k, v in found.items()}

    async def keep_record(self, person: str, fields: dict[str, str]) -> None:
        await aw(self._s.redis.hset(person_record(self._s.keys.prefix, person), mapping=fields))


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
