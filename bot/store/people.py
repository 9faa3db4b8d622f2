"""Who a Slack user is, as a worker last asked Slack (`users.info`: their team, organisation, whether a guest;
bot/slack/directory.py), kept an hour for every worker: a click on a worker that never saw its person is checked
without asking Slack again (`bot/slackapp/members.py`). Read with the time it has left, so a worker's own copy
ends with it, never an hour after a late copy."""

from __future__ import annotations

from bot.store.shared import Shared


class People:
    def __init__(self, shared: Shared) -> None:
        self._s = shared

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
